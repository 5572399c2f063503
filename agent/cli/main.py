"""`vault-agent`: chat, resume, threads, login/logout/whoami, connections, mcp, sandbox.

Imports of LangGraph and the clients happen inside the commands, so `vault-agent --help` stays fast.
Every error reaches the user as one line with what to do; `--debug` adds the traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import typer

app = typer.Typer(add_completion=False, no_args_is_help=False, pretty_exceptions_enable=False,
                  help="A LangGraph agent that acts on Google Calendar and GitHub with tokens from Auth0 "
                       "Token Vault. With no configuration it runs on a local sandbox.")
connections_app = typer.Typer(help="Accounts linked to your profile.", invoke_without_command=True,
                              no_args_is_help=False)
app.add_typer(connections_app, name="connections")
_state: dict[str, Any] = {"debug": False}


@app.callback(invoke_without_command=True)
def _main(ctx: typer.Context,
          debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs.")) -> None:
    _state["debug"] = debug
    if debug:
        import logging

        logging.basicConfig(level=logging.DEBUG)
    if ctx.invoked_subcommand is None:
        chat()


def _run(work: Callable[..., Awaitable[Any]], *, needs_user: bool = True, quiet: bool = False) -> None:
    from .runtime import current_user, explain, fail, load_runtime

    runtime = None
    try:
        runtime = load_runtime(quiet=quiet)

        async def main() -> None:
            user = await current_user(runtime) if needs_user else None
            await (work(runtime, user) if needs_user else work(runtime))

        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except SystemExit:
        raise
    except Exception as exc:  # the top of a command: one line, never a traceback (unless --debug)
        fail(explain(exc), _state["debug"], exc)
    finally:
        if runtime is not None and runtime.sandbox is not None:
            runtime.sandbox.stop()


def _prompt_session(runtime: Any) -> Any:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    history = runtime.settings.vault_agent_state_dir / "history"
    history.parent.mkdir(parents=True, exist_ok=True)
    return PromptSession(history=FileHistory(str(history)))


@app.command()
def chat(no_browser: bool = typer.Option(False, "--no-browser", help="Do not open the browser for authorization."),
         remote: str = typer.Option("", "--remote", help="Talk to a LangGraph server at this URL instead.")) -> None:
    """Chat with the agent (what `make chat` runs)."""
    if remote:
        from .remote import run_remote

        _run(lambda runtime, user: run_remote(runtime, user, remote, open_browser=not no_browser))
        return

    async def work(runtime: Any, user: Any) -> None:
        import contextlib
        import importlib

        from .chat import Chat
        from .runtime import agent_session

        async with contextlib.AsyncExitStack() as stack:
            async def make_session() -> Any:
                # The heavy imports (LangGraph, OpenAI, Google) off the event loop, once the prompt is on
                # screen: started earlier, they would compete with it for the interpreter.
                await asyncio.sleep(0.05)
                await asyncio.to_thread(importlib.import_module, "agent.session_runner")
                return await stack.enter_async_context(agent_session(runtime, user))

            chat_ = Chat(runtime, open_browser=not no_browser)
            prompt = _prompt_session(runtime)
            await chat_.receiver.start()
            chat_.start_loading(make_session)
            try:
                await chat_.loop(prompt)
            finally:
                await chat_.receiver.stop()
                await chat_.ready()  # let the loader finish so the stack closes what it opened

    _run(work)


@app.command()
def resume(thread: str = typer.Argument(..., help="The thread id (see `vault-agent threads`)."),
           no_browser: bool = typer.Option(False, "--no-browser")) -> None:
    """Continue a conversation that paused for authorization, then keep chatting."""
    async def work(runtime: Any, user: Any) -> None:
        from .chat import Chat
        from .runtime import agent_session

        async with agent_session(runtime, user) as session:
            chat_ = Chat(runtime, session, open_browser=not no_browser)
            await chat_.receiver.start()
            try:
                if await chat_.resume_thread(thread):
                    await chat_.loop(_prompt_session(runtime))
            finally:
                await chat_.receiver.stop()

    _run(work)


@app.command()
def threads() -> None:
    """List your conversations."""
    async def work(runtime: Any, user: Any) -> None:
        from .commands import print_threads
        from .runtime import agent_session

        async with agent_session(runtime, user) as session:
            print_threads(await session.threads())

    _run(work)


@app.command()
def login(no_browser: bool = typer.Option(False, "--no-browser", help="Print the URL instead of opening it.")) -> None:
    """Log in to Auth0 (authorization code + PKCE through a loopback redirect)."""
    from .commands import login as do_login

    _run(lambda runtime: do_login(runtime, not no_browser), needs_user=False)


@app.command()
def logout() -> None:
    """Revoke and forget the stored session."""
    from .commands import logout as do_logout

    _run(do_logout, needs_user=False)


@app.command()
def whoami() -> None:
    """Show who is logged in."""
    from .commands import whoami as do_whoami

    _run(do_whoami)


@connections_app.callback()
def connections(ctx: typer.Context) -> None:
    """List linked accounts (subcommands: connect, unlink)."""
    if ctx.invoked_subcommand is None:
        from .commands import print_connections

        _run(print_connections)


@connections_app.command("connect")
def connections_connect(provider: str = typer.Argument(..., help="google-oauth2 or github"),
                        no_browser: bool = typer.Option(False, "--no-browser")) -> None:
    """Link a provider account now, without asking the agent anything."""
    from .commands import connect

    _run(lambda runtime, user: connect(runtime, user, provider, not no_browser))


@connections_app.command("unlink")
def connections_unlink(provider: str = typer.Argument(..., help="google-oauth2 or github")) -> None:
    """Unlink a provider account (the agent will ask again next time)."""
    from .commands import unlink

    _run(lambda runtime, user: unlink(runtime, user, provider))


@app.command()
def mcp(host: str = typer.Option("127.0.0.1", "--host"), port: int = typer.Option(8770, "--port"),
        public_url: str = typer.Option("", "--public-url", help="How MCP clients reach it, if not http://HOST:PORT."),
        stdio: bool = typer.Option(False, "--stdio", help="MCP over stdin/stdout, as your logged-in user.")) -> None:
    """Serve the Calendar and GitHub tools to MCP clients (streamable HTTP at /mcp, Auth0-protected)."""
    from agent.mcp_server.app import main as mcp_main

    raise typer.Exit(mcp_main(host, port, public_url or None, stdio))


@app.command()
def sandbox() -> None:
    """Run the local stand-ins (Auth0, Google Calendar, GitHub, model) and print their environment."""
    from sandbox.runner import main as sandbox_main

    raise typer.Exit(sandbox_main())


def run() -> None:
    import warnings

    # Library deprecation notices (google-api-core's grpcio notice, …) are for developers, not chat users.
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    app()
