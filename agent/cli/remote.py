"""`vault-agent chat --remote URL`: the same conversation against a LangGraph server (`langgraph dev` or a
deployment) through langgraph-sdk. The server's own `/auth/callback` completes the linking and resumes
the thread; the CLI shows the pause, then waits for the thread to finish and prints the answer.

The in-chat commands are the local chat's: /threads and /resume ask the server (which only shows your own
threads), /connections and /unlink ask Auth0 directly, as locally."""

from __future__ import annotations

import asyncio
import webbrowser
from datetime import datetime, timedelta, timezone
from typing import Any

from rich.live import Live
from rich.markup import escape

from auth.credentials import UserCredentials
from auth.session import SessionClient
from tools.authorization import REISSUE, AuthorizationAnswer, AuthorizationRequest
from tools.providers import label

from .chat import common_command
from .runtime import CliError, CliRuntime, console
from .terminal import (
    clip,
    countdown,
    ctrl_c_cancels,
    ctrl_c_sets,
    parse_time,
    plain,
    prompt_session,
    shown,
    stop_cancelled_turn,
)


async def _server_credentials(runtime: CliRuntime, user: UserCredentials) -> UserCredentials:
    """An access token for the server's API audience (the refresh grant can ask for it)."""
    if not runtime.settings.auth0_audience:
        raise CliError("--remote needs AUTH0_AUDIENCE: the API the LangGraph server accepts tokens for.")
    client = SessionClient(runtime.settings)
    try:
        return await client.refresh(user)
    finally:
        await client.aclose()


def _last_answer(state: dict[str, Any]) -> str:
    """The agent's last reply ("" when the thread does not end with one)."""
    messages = (state.get("values") or {}).get("messages") or []
    if not messages or messages[-1].get("type") not in ("ai", "AIMessageChunk"):
        return ""
    return str(messages[-1].get("content", ""))


def _acknowledgement(pause: dict[str, Any], state: dict[str, Any]) -> str:
    """What the user answered to one pause, in the local chat's words (✓ GitHub allowed · ✗ … declined).
    The server's callback resumed the run, so the answer is read from what the paused tool replied: a tool
    that was not authorized says so in its reply (tools/vault.py: "the user declined access to …")."""
    request = AuthorizationRequest.from_json(pause["value"])
    provider = label(request.connection)
    for message in reversed((state.get("values") or {}).get("messages") or []):
        if message.get("type") != "tool" or message.get("name") != request.tool:
            continue
        text = str(message.get("content", ""))
        if f"declined access to {provider}" in text:
            return f"✗ {provider} declined"
        if f"did not complete access to {provider}" in text:
            return f"✗ {provider} not answered (link expired)"
        break
    return f"✓ {provider} allowed"


async def _wait_until_done(client: Any, thread_id: str, pauses: list[dict[str, Any]],
                           interrupted: asyncio.Event) -> bool | None:
    """True when the server finished the thread, False when the link expired, None on Ctrl-C."""
    expires = min(parse_time(AuthorizationRequest.from_json(p["value"]).expires_at) for p in pauses)
    with Live(countdown(expires), console=console, refresh_per_second=2, transient=True) as live:
        while datetime.now(timezone.utc) < expires:
            if interrupted.is_set():
                return None
            thread = await client.threads.get(thread_id)
            state = await client.threads.get_state(thread_id)
            still = {i["id"] for i in state.get("interrupts", [])}
            if thread["status"] != "busy" and not still & {p["id"] for p in pauses}:
                return True
            live.update(countdown(expires))
            await asyncio.sleep(0.5)
    return False


def server_error(url: str, exc: Exception, runtime: CliRuntime | None = None) -> str:
    """One sentence naming why a request to the LangGraph server failed: it refused the token, answered
    with an error, or could not be reached — three different fixes."""
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        code = exc.response.status_code
        if code in (401, 403):
            settings = runtime.settings if runtime is not None else None
            whose = (f" (tokens from {settings.auth0_domain} for {settings.auth0_audience})"
                     if settings is not None else "")
            return (f"The LangGraph server at {url} refused your token ({code}): start it with the same Auth0 "
                    f"configuration as this CLI{whose} — on the sandbox, export `vault-agent sandbox`'s lines "
                    "in both shells.")
        return f"The LangGraph server at {url} answered {code}: {exc.response.text[:200].strip()}"
    return f"The LangGraph server at {url} could not be reached ({type(exc).__name__}): is it running there?"


class RemoteChat:
    def __init__(self, runtime: CliRuntime, user: UserCredentials, client: Any, url: str, open_browser: bool) -> None:
        self.runtime, self.user, self.client, self.url = runtime, user, client, url
        self.open_browser = open_browser
        self.thread_id = ""

    async def new_thread(self) -> str:
        self.thread_id = (await self.client.threads.create())["thread_id"]
        return self.thread_id

    async def send(self, text: str) -> None:
        pauses: list[dict[str, Any]] = []
        with console.status("[dim]Thinking…[/dim]"):
            async for part in self.client.runs.stream(self.thread_id, "agent", stream_mode="updates",
                                                      input={"messages": [{"role": "user", "content": text}]}):
                data = part.data if isinstance(part.data, dict) else {}
                for call in ((data.get("call_model") or {}).get("messages") or [{}])[-1].get("tool_calls") or []:
                    console.print(f"[dim]  ⋯ running {escape(plain(str(call.get('name'))))}…[/dim]")
                pauses += [i for i in data.get("__interrupt__") or []  # ours only: a client checks the type
                           if AuthorizationRequest.is_authorization(i.get("value"))]
        await self.after_run(pauses)

    async def after_run(self, pauses: list[dict[str, Any]]) -> None:
        if pauses:
            with ctrl_c_sets() as interrupted:  # from the first line on screen: no window for a stray Ctrl-C
                for pause in pauses:
                    request = AuthorizationRequest.from_json(pause["value"])
                    console.print(f"[yellow]Authorization needed: {label(request.connection)}"
                                  f"[/yellow] — {escape(plain(request.message))}")
                    console.print(f"AUTHORIZE_URL {request.authorize_url}", soft_wrap=True, markup=False,
                                  highlight=False)
                    if self.open_browser:
                        webbrowser.open(request.authorize_url)
                finished = await _wait_until_done(self.client, self.thread_id, pauses, interrupted)
            if finished is None:
                paused = self.thread_id
                await self.new_thread()
                console.print(f"\n[yellow]Paused.[/yellow] The server keeps thread {paused}; authorizing later "
                              f"still resumes it there (`/resume {paused}` shows it). New messages start a new "
                              "conversation.")
                return
            if not finished:
                console.print("[yellow]The authorization link expired.[/yellow] Ask again.")
                return
            state = await self.client.threads.get_state(self.thread_id)
            marks = [_acknowledgement(pause, state) for pause in pauses]
            colour = "green" if all(m.startswith("✓") for m in marks) else "yellow"
            console.print(f"[{colour}]{' · '.join(marks)} — the server carried on.[/{colour}]")
        self._print_answer(await self.client.threads.get_state(self.thread_id))

    @staticmethod
    def _print_answer(state: dict[str, Any]) -> None:
        answer = _last_answer(state)
        if answer:
            console.print("[bold cyan]agent ›[/bold cyan] ", end="")
            console.print(plain(answer), markup=False, highlight=False)

    async def command(self, text: str) -> bool | None:
        """The local chat's commands, against the server. Returns False only for /quit."""
        from .runtime import explain

        name, _, arg = text.partition(" ")
        name, arg = name.lower(), arg.strip()
        try:
            if (shared := common_command(name, arg)) is not None:
                return None if shared else False
            if name == "/new":
                console.print(f"[dim]New conversation {await self.new_thread()}[/dim]")
            elif name == "/threads":
                from .commands import print_threads

                print_threads(await self.threads())
            elif name == "/resume":
                await self.resume(arg)
            elif name == "/connections":
                from .commands import print_connections

                await print_connections(self.runtime, self.user)
            elif name == "/unlink":
                from .commands import resolve_provider, unlink

                resolve_provider(arg, "/unlink PROVIDER")
                await unlink(self.runtime, self.user, arg)
            else:
                raise CliError(f"Unknown command {clip(name)} — /help lists the commands.")
        except CliError as exc:
            console.print(str(exc), markup=False)
        except Exception as exc:  # noqa: BLE001 - a failing command never ends the chat
            import httpx

            why = server_error(self.url, exc, self.runtime) if isinstance(exc, httpx.HTTPError) else explain(exc)
            console.print(f"[bold red]error:[/bold red] {escape(plain(why))}", highlight=False)
        return None

    async def threads(self) -> list[dict[str, Any]]:
        """The user's threads on the server, in the local store's shape and words."""
        from .commands import ENGINE_STATUS

        rows = []
        for t in await self.client.threads.search(limit=100):
            first = ((t.get("values") or {}).get("messages") or [{}])[0].get("content", "")
            updated = datetime.fromisoformat(str(t.get("updated_at")).replace("Z", "+00:00"))
            status = str(t.get("status", ""))
            rows.append({"thread_id": t["thread_id"], "status": ENGINE_STATUS.get(status, status),
                         "updated": updated.timestamp(), "title": str(first)[:80]})
        return sorted(rows, key=lambda r: r["updated"], reverse=True)

    async def resume(self, thread_id: str) -> None:
        import httpx

        from .commands import resolve_thread

        if not thread_id or " " in thread_id:
            raise CliError("Usage: /resume THREAD — /threads lists your conversations.")
        thread_id = resolve_thread(thread_id, await self.threads())  # a unique prefix is enough
        try:
            state = await self.client.threads.get_state(thread_id)
        except httpx.HTTPStatusError as exc:  # another user's thread is a 404 too
            if exc.response.status_code in (404, 422):
                raise CliError(f"No conversation {shown(thread_id)} on the server: /threads lists yours. "
                               f"(Still in {self.thread_id}.)") from None
            raise
        self.thread_id = thread_id
        pauses = [{"id": i["id"], "value": i["value"]} for i in state.get("interrupts", [])
                  if AuthorizationRequest.is_authorization(i.get("value"))]
        if not pauses:  # finished meanwhile (the server's callback resumed it): show how it ended
            answer = _last_answer(state)
            console.print(f"[dim]Now in conversation {thread_id}; nothing is waiting there"
                          f"{' — its last answer:' if answer else '.'}[/dim]")
            self._print_answer(state)
            return
        soon = datetime.now(timezone.utc) + timedelta(seconds=30)
        dead = {p["id"]: AuthorizationAnswer(AuthorizationRequest.from_json(p["value"]).state, REISSUE).to_json()
                for p in pauses if parse_time(AuthorizationRequest.from_json(p["value"]).expires_at) <= soon}
        if dead:  # never offer a dead link: the tool tries its token again, else pauses with a fresh one
            console.print("[dim]The earlier authorization link has expired: getting a fresh one.[/dim]")
            with console.status("[dim]Thinking…[/dim]"):
                await self.client.runs.wait(thread_id, "agent", command={"resume": dead})
            state = await self.client.threads.get_state(thread_id)
            pauses = [{"id": i["id"], "value": i["value"]} for i in state.get("interrupts", [])
                      if AuthorizationRequest.is_authorization(i.get("value"))]
        await self.after_run(pauses)


async def run_remote(runtime: CliRuntime, user: UserCredentials, url: str, *, open_browser: bool = True) -> None:
    import httpx
    from langgraph_sdk import get_client

    creds = await _server_credentials(runtime, user)
    # The bearer token only: the server's link page signs the user in when a link is opened.
    client = get_client(url=url.rstrip("/"), headers={"Authorization": f"Bearer {creds.access_token}"})
    chat = RemoteChat(runtime, user, client, url, open_browser)
    try:
        await chat.new_thread()
    except httpx.HTTPError as exc:
        raise CliError(server_error(url, exc, runtime)) from exc

    prompt = prompt_session(runtime)
    console.print(f"[bold]vault-agent[/bold] on {url} — thread {chat.thread_id}. /help for commands.")
    with ctrl_c_cancels():
        await _loop(runtime, url, chat, prompt)


async def _loop(runtime: CliRuntime, url: str, chat: RemoteChat, prompt: Any) -> None:
    import httpx

    while True:
        try:
            text = (await prompt.prompt_async("you › ")).strip()
        except KeyboardInterrupt:
            continue
        except EOFError:
            return
        if not text:
            continue
        try:
            if text.startswith("/"):
                if await chat.command(text) is False:
                    return
                continue
            await chat.send(text)
        except asyncio.CancelledError:  # Ctrl-C: this turn stops waiting, the chat goes on
            if not stop_cancelled_turn():
                raise
            console.print(f"\n[yellow]Interrupted.[/yellow] `/resume {chat.thread_id}` shows where the server got to.")
        except Exception as exc:  # noqa: BLE001 - one line, the chat goes on
            from .runtime import explain

            why = server_error(url, exc, runtime) if isinstance(exc, httpx.HTTPError) else explain(exc)
            console.print(f"[bold red]error:[/bold red] {escape(plain(why))}", highlight=False)
