"""`vault-agent`: chat, resume, threads, login/logout/whoami, connections, mcp, sandbox.

Built on argparse (standard library) so that `vault-agent --help` answers in a few tens of milliseconds;
each command imports only what it needs, inside the command. Every error reaches the user as one line
with what to do; `--debug` adds the traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

DESCRIPTION = ("A LangGraph agent that acts on Google Calendar and GitHub with tokens from Auth0 Token Vault. "
               "With no configuration it runs on a local sandbox.")
_state: dict[str, Any] = {"debug": False}


def _run(work: Callable[..., Awaitable[Any]], *, needs_user: bool = True, quiet: bool = False,
         start_sandbox: bool = True, refresh: bool = True) -> None:
    import asyncio

    from .runtime import current_user, explain, fail, load_runtime

    runtime = None
    try:
        runtime = load_runtime(quiet=quiet, start_sandbox=start_sandbox)

        async def main() -> None:
            user = await current_user(runtime, refresh=refresh) if needs_user else None
            await (work(runtime, user) if needs_user else work(runtime))

        asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C outside a chat turn: say so rather than vanish
        from .runtime import err_console

        err_console.print("[yellow]Stopped.[/yellow]")
    except SystemExit:
        raise
    except Exception as exc:  # the top of a command: one line, never a traceback (unless --debug)
        fail(explain(exc), _state["debug"], exc)
    finally:
        if runtime is not None and runtime.sandbox is not None:
            runtime.sandbox.stop()


def chat(no_browser: bool = False, remote: str = "") -> None:
    """Chat with the agent (what `make chat` runs)."""
    from .terminal import own_terminal

    with own_terminal():
        _chat(no_browser, remote)


def _chat(no_browser: bool, remote: str) -> None:
    if remote:
        async def remote_work(runtime: Any, user: Any) -> None:
            from .remote import run_remote

            await run_remote(runtime, user, remote, open_browser=not no_browser)

        _run(remote_work)
        return

    async def work(runtime: Any) -> None:
        import asyncio
        import contextlib
        import importlib

        from .chat import Chat
        from .runtime import agent_session, current_user, ensure_sandbox
        from .terminal import prompt_session

        async with contextlib.AsyncExitStack() as stack:
            async def make_session() -> Any:
                # The agent warms up while the user types the first question, once the prompt is on screen:
                # the in-process sandbox, the session refresh, the heavy imports (LangGraph, OpenAI, Google)
                # off the event loop, then the model client, so the first question pays for its answer only.
                await asyncio.sleep(0.05)
                await asyncio.to_thread(ensure_sandbox, runtime)
                user = await current_user(runtime)
                await asyncio.to_thread(importlib.import_module, "agent.session_runner")
                session = await stack.enter_async_context(agent_session(runtime, user))
                await asyncio.to_thread(_warm_model, session)
                return session

            chat_ = Chat(runtime, open_browser=not no_browser)
            prompt = prompt_session(runtime)
            chat_.start_loading(make_session)
            try:
                await chat_.loop(prompt)
            finally:
                await chat_.receiver.stop()
                with contextlib.suppress(Exception):
                    await chat_.ready()  # let the loader finish so the stack closes what it opened

    _run(work, needs_user=False, start_sandbox=False)


def _warm_model(session: Any) -> None:
    """Build the chat model with its tools bound (what the first question would otherwise wait for)."""
    from agent.graph import TOOLS
    from agent.model import bound_model

    bound_model(session.services.settings, TOOLS)


def resume(thread: str, no_browser: bool = False) -> None:
    """Continue a conversation that paused for authorization, then keep chatting."""
    async def work(runtime: Any, user: Any) -> None:
        from .chat import Chat
        from .runtime import CliError, agent_session, command_line
        from .terminal import prompt_session, shown

        async with agent_session(runtime, user) as session:
            chat_ = Chat(runtime, session, open_browser=not no_browser)
            try:
                outcome = await chat_.resume_thread(thread)
                if outcome is None:
                    raise CliError(f"No conversation {shown(thread)}: `{command_line('threads')}` lists yours.")
                await chat_.loop(prompt_session(runtime))  # also after Ctrl-C: the "Paused" hint is true here too
            finally:
                await chat_.receiver.stop()

    _run(work)


def threads() -> None:
    """List your conversations (reads the store only: no agent, no model client)."""
    async def work(runtime: Any) -> None:
        import asyncio

        from .commands import has_local_threads, list_threads, print_threads
        from .runtime import current_user, ensure_sandbox, remembered_sandbox_user

        user = remembered_sandbox_user(runtime)  # nothing configured: no need to start a sandbox to know
        if user is None and runtime.wants_sandbox and not has_local_threads(runtime):
            print_threads([])  # a fresh state dir: nothing to list, nobody to ask
            return
        if user is None:
            await asyncio.to_thread(ensure_sandbox, runtime)
            user = await current_user(runtime, refresh=False)
        print_threads(await list_threads(runtime, user))

    _run(work, needs_user=False, start_sandbox=False)


def login(no_browser: bool = False) -> None:
    from .commands import login as do_login

    _run(lambda runtime: do_login(runtime, not no_browser), needs_user=False)


def logout() -> None:
    from .commands import logout as do_logout

    _run(do_logout, needs_user=False)


def whoami() -> None:
    from .commands import whoami as do_whoami

    _run(do_whoami)


def connections(action: str | None, provider: str, no_browser: bool = False) -> None:
    if action is None:
        from .commands import print_connections

        _run(print_connections)
    elif action == "connect":
        from .commands import connect

        _run(lambda runtime, user: connect(runtime, user, provider, not no_browser))
    else:
        from .commands import unlink

        _run(lambda runtime, user: unlink(runtime, user, provider))


def mcp(host: str, port: int, public_url: str, stdio: bool) -> None:
    """Serve the Calendar and GitHub tools to MCP clients (streamable HTTP at /mcp, Auth0-protected)."""
    from .mcp_command import main as mcp_main

    sys.exit(mcp_main(host, port, public_url or None, stdio))


def sandbox() -> None:
    from sandbox.runner import main as sandbox_main

    sys.exit(sandbox_main())


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="vault-agent", description=DESCRIPTION)
    top.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("chat", help="chat with the agent (the default; what `make chat` runs)")
    p.add_argument("--no-browser", action="store_true", help="do not open the browser for authorization")
    p.add_argument("--remote", default="", metavar="URL", help="talk to a LangGraph server at this URL instead")
    p = sub.add_parser("resume", help="continue a conversation that paused for authorization")
    p.add_argument("thread", help="the thread id (see `vault-agent threads`)")
    p.add_argument("--no-browser", action="store_true")
    sub.add_parser("threads", help="list your conversations")
    p = sub.add_parser("login", help="log in to Auth0 (authorization code + PKCE via a loopback redirect)")
    p.add_argument("--no-browser", action="store_true", help="print the URL instead of opening it")
    sub.add_parser("logout", help="revoke and forget the stored session")
    sub.add_parser("whoami", help="show who is logged in")
    p = sub.add_parser("connections", help="accounts linked to your profile (connect / unlink PROVIDER)")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    c = actions.add_parser("connect", help="link a provider account now, without asking the agent")
    c.add_argument("provider", help="google (Google Calendar) or github")
    c.add_argument("--no-browser", action="store_true")
    u = actions.add_parser("unlink", help="unlink a provider account (the agent asks again next time)")
    u.add_argument("provider", help="google (Google Calendar) or github")
    p = sub.add_parser("mcp", help="serve the Calendar and GitHub tools to MCP clients (streamable HTTP at /mcp)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8770)
    p.add_argument("--public-url", default="", help="how MCP clients reach it, if not http://HOST:PORT")
    p.add_argument("--stdio", action="store_true", help="MCP over stdin/stdout, as your logged-in user")
    sub.add_parser("sandbox", help="run the local stand-ins (Auth0, Google, GitHub, model) and print their env")
    return top


def run(argv: list[str] | None = None) -> None:
    import warnings

    # Library deprecation notices (google-api-core's grpcio notice, …) are for developers, not chat users.
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    args = parser().parse_args(argv)
    _state["debug"] = args.debug
    if args.debug:
        import logging

        logging.basicConfig(level=logging.DEBUG)
    command = args.command or "chat"
    if command == "chat":
        chat(getattr(args, "no_browser", False), getattr(args, "remote", ""))
    elif command == "resume":
        resume(args.thread, args.no_browser)
    elif command == "threads":
        threads()
    elif command == "login":
        login(args.no_browser)
    elif command in ("logout", "whoami"):
        {"logout": logout, "whoami": whoami}[command]()
    elif command == "connections":
        connections(args.action, getattr(args, "provider", ""), getattr(args, "no_browser", False))
    elif command == "mcp":
        mcp(args.host, args.port, args.public_url, args.stdio)
    elif command == "sandbox":
        sandbox()


# `python -m agent.cli.main` and the `vault-agent` console script.
app = run

if __name__ == "__main__":
    run()
