"""The interactive chat: streamed answers, a status line per tool call, and the authorization pause —
a panel with the URL, the browser opened, a countdown, and the run resumed by itself when the loopback
receiver gets the callback. Ctrl-C while waiting leaves the thread resumable."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
import webbrowser
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from typing import Any

from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from typing import TYPE_CHECKING

from .receiver import CallbackReceiver
from .runtime import Runtime, console

if TYPE_CHECKING:  # imported lazily at run time: they pull in LangGraph, which the prompt must not wait for
    from agent.session_runner import AgentSession, AuthorizationNeeded

PROVIDERS = {"google-oauth2": "Google Calendar", "github": "GitHub"}
SCOPE_WORDS = {
    "https://www.googleapis.com/auth/calendar.readonly": "read your calendar",
    "https://www.googleapis.com/auth/calendar.events": "create and change events",
    "https://www.googleapis.com/auth/calendar.freebusy": "see when you are free or busy",
    "repo": "read and write your repositories and issues",
    "public_repo": "your public repositories",
}
HELP = """Commands:
  /help                 this help
  /new                  start a new conversation
  /threads              list your conversations
  /resume THREAD        continue a paused conversation
  /connections          accounts linked to your profile
  /unlink PROVIDER      unlink google-oauth2 or github
  /quit                 leave (Ctrl-D works too)"""


class Chat:
    """The chat loop. `session` may be given later: `start_loading()` builds it in the background so the
    prompt shows while LangGraph and the clients are still being imported."""

    def __init__(self, runtime: Runtime, session: "AgentSession | None" = None, *, open_browser: bool = True) -> None:
        self.runtime = runtime
        self.session: AgentSession | None = session
        self._loading: asyncio.Task | None = None
        self.open_browser = open_browser
        self.thread_id = str(uuid.uuid4())
        self._callbacks: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.receiver = CallbackReceiver(runtime.callback_url, self._on_callback)

    def start_loading(self, make_session: Any) -> None:
        self._loading = asyncio.create_task(make_session())

    async def ready(self) -> "AgentSession":
        if self.session is None:
            if self._loading is None:
                raise RuntimeError("no agent session")
            if not self._loading.done():
                with console.status("[dim]Starting the agent…[/dim]", spinner="dots"):
                    self.session = await self._loading
            else:
                self.session = self._loading.result()
        return self.session

    # -- the loopback callback --------------------------------------------------------------------
    async def _on_callback(self, url: str) -> tuple[bool | str, str]:
        from auth.errors import LinkingError

        await self.ready()
        try:
            result, values = await self.session.complete(url)
        except LinkingError as exc:
            if exc.retryable and exc.unconfirmed is not None:  # the user allowed; Auth0 could not confirm it yet
                unconfirmed = exc.unconfirmed
                await self._callbacks.put((unconfirmed.thread_id or "", await self.session.resume_values(unconfirmed)))
                return "retry", f"{exc} vault-agent carries on meanwhile."
            return False, str(exc)
        await self._callbacks.put((result.thread_id or "", values))
        if result.status == "declined":
            return True, "Access was declined. vault-agent will tell the assistant."
        return True, f"{PROVIDERS.get(result.connection, result.connection)} is connected. Back to the terminal."

    # -- a turn -----------------------------------------------------------------------------------
    async def run_turn(self, events: AsyncIterator[Any]) -> bool:
        """Render one run; returns False when the user left a pause with Ctrl-C."""
        from agent.session_runner import AuthorizationNeeded, Final, Token, ToolStarted

        pending: list[AuthorizationNeeded] = []
        streamed = False
        status = console.status("[dim]Thinking…[/dim]", spinner="dots")
        status.start()
        try:
            async for event in events:
                if isinstance(event, Token):
                    if not streamed:
                        status.stop()
                        console.print("[bold cyan]agent ›[/bold cyan] ", end="")
                        streamed = True
                    console.print(event.text, end="", markup=False, highlight=False)
                elif isinstance(event, ToolStarted):
                    status.update(f"[dim]{event.status}[/dim]")
                    console.print(f"[dim]  ⋯ {event.status}[/dim]")
                elif isinstance(event, AuthorizationNeeded):
                    pending.append(event)
                elif isinstance(event, Final) and not streamed and event.text:
                    status.stop()
                    console.print("[bold cyan]agent ›[/bold cyan] ", end="")
                    console.print(event.text, markup=False, highlight=False)
        finally:
            status.stop()
        if streamed:
            console.print()
        if pending:
            return await self.authorize(pending)
        return True

    async def authorize(self, pending: "list[AuthorizationNeeded]") -> bool:
        with _ctrl_c_sets() as interrupted:  # from the first line on screen: no window for a stray Ctrl-C
            for item in pending:
                self._show_request(item)
                if self.open_browser:
                    webbrowser.open(item.payload["authorize_url"])
            wanted = {item.interrupt_id for item in pending}
            values: dict[str, Any] = {}
            expires = min(_parse_time(item.payload["expires_at"]) for item in pending)
            with Live(_countdown(expires), console=console, refresh_per_second=2, transient=True) as live:
                while not wanted <= set(values) and not interrupted.is_set():
                    try:
                        thread_id, got = await asyncio.wait_for(self._callbacks.get(), timeout=0.5)
                    except asyncio.TimeoutError:
                        live.update(_countdown(expires))
                        if datetime.now(timezone.utc) >= expires:
                            break
                        continue
                    if thread_id == self.thread_id:
                        values.update(got)
        if interrupted.is_set():
            self._paused_message()
            return False
        if not values:
            console.print("[yellow]The authorization link expired.[/yellow] Ask again to get a new one.")
            for item in pending:
                values[item.interrupt_id] = {"state": item.payload["state"], "status": "expired"}
        console.print("[green]✓ Authorized — carrying on.[/green]" if any(
            v.get("status") == "authorized" for v in values.values()) else "[yellow]Not authorized.[/yellow]")
        return await self.run_turn(self.session.resume(self.thread_id, values))

    def _show_request(self, item: "AuthorizationNeeded") -> None:
        p = item.payload
        provider = PROVIDERS.get(p["connection"], p["connection"])
        access = "\n".join(f"  • {SCOPE_WORDS.get(s, s)}" for s in p["scopes"])
        why = "needs more access to" if p.get("reason") == "insufficient_scope" else "needs access to"
        body = Text.assemble(
            (f"The assistant {why} your {provider} to run {p['tool']}.\n", "bold"),
            f"It asks to:\n{access}\n\n", "Open the link below to authorize (it expires in 10 minutes).\n",
            ("vault-agent carries on by itself once you have answered. "
             f"Ctrl-C to leave it for later (vault-agent resume {self.thread_id}).", "dim"))
        console.print(Panel(body, title=f"Authorization needed: {provider}", border_style="yellow"))
        # The URL unwrapped on a line of its own, so terminals make it clickable and scripts can read it.
        console.print(f"AUTHORIZE_URL {p['authorize_url']}", soft_wrap=True, markup=False, highlight=False)

    def _paused_message(self) -> None:
        """Leave the paused thread untouched (a new message there would abandon its pending tool calls):
        what the user types next starts a new conversation."""
        paused, self.thread_id = self.thread_id, str(uuid.uuid4())
        console.print(f"\n[yellow]Paused.[/yellow] The conversation is saved: `/resume {paused}` here, or "
                      f"`vault-agent resume {paused}` later, continues it. New messages start a new conversation.")

    # -- the loop ---------------------------------------------------------------------------------
    async def resume_thread(self, thread_id: str) -> bool:
        await self.ready()
        self.thread_id = thread_id
        if not await self.session.pending(thread_id):
            console.print(f"[dim]Nothing is waiting in {thread_id}.[/dim]")
            return True
        # reopen() re-issues a dead (expired or used) link, or finishes the run if the account is linked now.
        return await self.run_turn(self.session.reopen(thread_id))

    async def loop(self, prompt_session: Any) -> None:
        console.print("[bold]vault-agent[/bold] — ask about your calendar or GitHub. /help for commands.")
        while True:
            try:
                text = (await prompt_session.prompt_async("you › ")).strip()
            except KeyboardInterrupt:
                continue
            except EOFError:
                return
            if not text:
                continue
            try:
                if text.startswith("/"):
                    if await self.command(text) is False:
                        return
                    continue
                await self.ready()
                await self.run_turn(self.session.stream(self.thread_id, text))
            except asyncio.CancelledError:  # Ctrl-C while the agent works: stop this turn, keep the chat
                task = asyncio.current_task()
                if task is None or not task.cancelling():
                    raise
                task.uncancel()
                console.print("\n[yellow]Interrupted.[/yellow]")
            except Exception as exc:  # any failure of a turn is one line; the chat (and the thread) stay
                from rich.markup import escape

                from .runtime import explain

                console.print(f"\n[bold red]error:[/bold red] {escape(explain(exc))}", highlight=False)

    async def command(self, text: str) -> bool | None:
        name, _, arg = text.partition(" ")
        arg = arg.strip()
        if name in ("/quit", "/exit"):
            return False
        await self.ready()
        if name == "/help":
            console.print(HELP)
        elif name == "/new":
            self.thread_id = str(uuid.uuid4())
            console.print(f"[dim]New conversation {self.thread_id}[/dim]")
        elif name == "/threads":
            from .commands import print_threads

            print_threads(await self.session.threads())
        elif name == "/resume":
            if not arg:
                console.print("Usage: /resume THREAD (see /threads)")
            else:
                await self.resume_thread(arg)
        elif name == "/connections":
            from .commands import print_connections

            await print_connections(self.runtime, self.session.user)
        elif name == "/unlink":
            from .commands import unlink

            await unlink(self.runtime, self.session.user, arg)
            self.session.services.vault.invalidate(self.session.user, arg)
        else:
            console.print(f"Unknown command {name}. /help lists them.")
        return None


@contextlib.contextmanager
def _ctrl_c_sets() -> Iterator[asyncio.Event]:
    """While waiting for the browser, Ctrl-C sets an event instead of cancelling tasks — asyncio's own
    handler would cancel the chat, and a second Ctrl-C would kill whatever task it lands in (such as the
    callback receiver)."""
    loop = asyncio.get_running_loop()
    event = asyncio.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: loop.call_soon_threadsafe(event.set))
    try:
        yield event
    finally:
        signal.signal(signal.SIGINT, previous)


def _parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def _countdown(expires: datetime) -> Text:
    left = max(0, int((expires - datetime.now(timezone.utc)).total_seconds()))
    return Text(f"⏳ Waiting for your authorization… link expires in {left // 60}:{left % 60:02d}", style="yellow")
