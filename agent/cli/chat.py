"""The interactive chat: streamed answers, a status line per tool call, and the authorization pause —
a panel with the URL, the browser opened, a countdown, and the run resumed by itself when the loopback
receiver gets the callback.

Ctrl-C while waiting leaves the thread resumable: the receiver stays up while that link is live, so an
Allow clicked later is still picked up by this chat (it resumes the paused conversation and says so); a
later `vault-agent resume` (another terminal, or after quitting) gets the port handed over, and a link
that died with its sandbox or expired is replaced by a fresh one. In-chat commands never end the chat:
bad arguments and failures are one line."""

from __future__ import annotations

import asyncio
import uuid
import webbrowser
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

from tools.authorization import AuthorizationAnswer
from tools.providers import describe_scope, label

from .receiver import CallbackReceiver, ReceiverError
from .runtime import CliError, CliRuntime, command_line, console
from .terminal import (
    clip,
    countdown,
    ctrl_c_cancels,
    ctrl_c_sets,
    looks_like_callback,
    parse_time,
    plain,
    shown,
    typed_lines,
)

if TYPE_CHECKING:  # imported lazily at run time: they pull in LangGraph, which the prompt must not wait for
    from agent.session_runner import AgentSession, AuthorizationNeeded

HELP = """Commands:
  /help                 this help
  /new                  start a new conversation
  /threads              list your conversations
  /resume THREAD        continue a paused conversation (see /threads)
  /connections          accounts linked to your profile
  /unlink PROVIDER      unlink google (Google Calendar) or github
  /quit                 leave (Ctrl-D works too)"""
NO_ARGUMENT = {"/help", "/new", "/threads", "/connections", "/quit", "/exit"}
_WAKE = object()  # what the prompt returns when an answer from the browser needs the terminal


def acknowledgement(item: "AuthorizationNeeded", value: dict[str, Any]) -> str:
    """One pause's answer as the user reads it: ✓ GitHub allowed · ✗ Google Calendar declined."""
    provider = label(item.request.connection)
    status = value.get("status")
    return {"authorized": f"✓ {provider} allowed", "declined": f"✗ {provider} declined",
            "reissue": f"↻ {provider}: Auth0 refused the link, asking again"}.get(
        status, f"✗ {provider} not answered (link expired)")


def common_command(name: str, arg: str) -> bool | None:
    """What the local and the `--remote` chat answer alike: a stray argument (CliError), /quit and /exit
    (False), /help (True, printed). None: not one of these."""
    if name in NO_ARGUMENT and arg:
        raise CliError(f"{name} takes no argument. /help lists the commands.")
    if name in ("/quit", "/exit"):
        return False
    if name == "/help":
        console.print(HELP)
        return True
    return None


class NotStarted(CliError):
    """Ctrl-C while the agent was still starting: the chat goes on, the start-up too."""


RETRY_KEY = "retry:"  # in `_left`: a callback whose page asked for a reload (the receiver must stay up)


class Chat:
    """The chat loop. `session` may be given later: `start_loading()` builds it in the background so the
    prompt shows while LangGraph and the clients are still being imported."""

    def __init__(self, runtime: CliRuntime, session: "AgentSession | None" = None, *, open_browser: bool = True) -> None:
        self.runtime = runtime
        self.session: AgentSession | None = session
        self._loading: asyncio.Task | None = None
        self.open_browser = open_browser
        self.thread_id = str(uuid.uuid4())
        self._callbacks: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._foreground: str | None = None  # the thread authorize() is waiting for
        self._left: dict[str, datetime] = {}  # threads left with Ctrl-C → when their links expire
        self._later: list[tuple[str, str, dict[str, Any]]] = []  # (thread, connection, resume values)
        self._prompt: Any = None
        self._typed = ""  # what was on the prompt line when an answer from the browser woke it
        self.receiver = CallbackReceiver(runtime.callback_url, self._on_callback, self._may_release)

    def start_loading(self, make_session: Any) -> None:
        self._loading = asyncio.create_task(make_session())
        # A start-up failure (not logged in, bad configuration) must end the chat with its one line, not
        # wait for the next message: wake the prompt so the loop re-raises it.
        self._loading.add_done_callback(lambda task: task.cancelled() or task.exception() is None
                                        or self._wake_prompt())

    def _startup_failed(self) -> None:
        if self.session is None and self._loading is not None and self._loading.done():
            self.session = self._loading.result()  # raises what the loader raised

    async def ready(self) -> "AgentSession":
        if self.session is None:
            if self._loading is None:
                raise RuntimeError("no agent session")
            if not self._loading.done():
                with console.status("[dim]Starting the agent…[/dim]", spinner="dots"):
                    try:  # shielded: Ctrl-C stops the waiting, not the start-up
                        self.session = await asyncio.shield(self._loading)
                    except asyncio.CancelledError:
                        task = asyncio.current_task()
                        if task is None or not task.cancelling():
                            raise
                        task.uncancel()
                        raise NotStarted("Interrupted while the agent was starting: nothing was sent. "
                                         "Type your message again (or /quit).") from None
            else:
                self.session = self._loading.result()
        return self.session

    # -- the loopback callback --------------------------------------------------------------------
    async def _on_callback(self, url: str) -> tuple[Any, str]:
        from auth.errors import AuthError
        from auth.linking import Authorized, RetryLater, TenantRefused

        await self.ready()
        try:
            outcome, values = await self.session.complete(url)
        except AuthError as exc:
            return False, str(exc)
        except Exception as exc:  # noqa: BLE001 - the browser gets a sentence, the chat goes on
            from .runtime import explain

            return False, f"vault-agent could not finish this: {explain(exc)}"
        if isinstance(outcome, RetryLater):
            # The page asks to try again, which must find this receiver: keep it while the state lives.
            self._left[RETRY_KEY + outcome.state] = datetime.now(timezone.utc) + timedelta(minutes=10)
        else:
            self._left.pop(RETRY_KEY + outcome.state, None)
        thread_id = outcome.thread_id
        if thread_id and values and thread_id == self._foreground:
            await self._callbacks.put((thread_id, values))
            then = "Back to the terminal: vault-agent carries on by itself."
        elif thread_id and values:
            self._later.append((thread_id, outcome.connection, values))
            self._wake_prompt()
            then = "The vault-agent chat in your terminal picks the paused conversation up and carries on."
        elif thread_id and isinstance(outcome, Authorized):
            then = "Its conversation was already continued; nothing else to do."
        else:
            then = ""
        if isinstance(outcome, RetryLater) and values:
            then = "vault-agent carries on meanwhile."
        if isinstance(outcome, TenantRefused) and values:
            then = "vault-agent shows a fresh link in the terminal."
        return outcome, then

    def _may_release(self) -> str | None:
        """Another vault-agent (say `vault-agent resume` in a second terminal) wants the port."""
        if self._foreground is not None:
            return ("Another vault-agent chat is waiting for an authorization right now: answer it there, "
                    "or press Ctrl-C in it, then try again.")
        self._left.clear()  # answers for those threads now reach the other process, which can resume them
        return None

    def _wake_prompt(self) -> None:
        app = getattr(self._prompt, "app", None)
        if app is not None and app.is_running:
            self._typed = self._prompt.default_buffer.text
            app.exit(result=_WAKE)

    async def _ensure_receiver(self) -> str | None:
        """Serve the callback address; None when served, else why not (then no link can complete here)."""
        try:
            await self.receiver.start()
        except ReceiverError as exc:
            return str(exc)
        return None

    async def _release_if_idle(self) -> None:
        now = datetime.now(timezone.utc)
        self._left = {t: exp for t, exp in self._left.items() if exp > now}
        if not self._left and self._foreground is None and self.receiver.running:
            await self.receiver.stop()

    # -- a turn -----------------------------------------------------------------------------------
    async def run_turn(self, events: AsyncIterator[Any]) -> bool:
        """Render one run; returns False when the user left a pause with Ctrl-C."""
        from agent.session_runner import AuthorizationNeeded, Final, TextChunk, ToolStarted

        paused = False
        streamed = False
        answer = None  # the message being streamed: a second answer in one run starts on a new line
        status = console.status("[dim]Thinking…[/dim]", spinner="dots")
        status.start()
        try:
            async for event in events:
                if isinstance(event, TextChunk):
                    if not streamed:
                        status.stop()
                        console.print("[bold cyan]agent ›[/bold cyan] ", end="")
                        streamed = True
                    elif event.message_id != answer:
                        console.print("\n")
                    answer = event.message_id
                    console.print(plain(event.text), end="", markup=False, highlight=False)
                elif isinstance(event, ToolStarted):
                    if streamed:  # an answer came first (a settled call's question): this is the next one
                        console.print()
                        streamed, answer = False, None
                        status.start()
                    status.update(f"[dim]{event.status}[/dim]")
                    console.print(f"[dim]  ⋯ {event.status}[/dim]")
                elif isinstance(event, AuthorizationNeeded):
                    paused = True
                elif isinstance(event, Final) and not streamed and event.text:
                    status.stop()
                    console.print("[bold cyan]agent ›[/bold cyan] ", end="")
                    console.print(plain(event.text), markup=False, highlight=False)
        finally:
            status.stop()
        if streamed:
            console.print()
        if paused:  # every pause the thread holds now, not only those this stream announced
            pending = await self.session.pending(self.thread_id)
            if pending:
                return await self.authorize(pending)
        return True

    async def authorize(self, pending: "list[AuthorizationNeeded]") -> bool:
        by_id = {item.interrupt_id: item for item in pending}
        values: dict[str, Any] = {}
        for entry in [e for e in self._later if e[0] == self.thread_id]:  # answered before we asked
            self._later.remove(entry)
            values.update({k: v for k, v in entry[2].items() if k in by_id})
        if (busy := await self._ensure_receiver()) is not None:
            # A link whose answer would reach another process cannot complete here: do not show it.
            paused, self.thread_id = self.thread_id, str(uuid.uuid4())
            console.print(f"[yellow]This chat cannot receive the authorization now:[/yellow] {escape(busy)} "
                          f"The conversation is saved: `/resume {paused}` here once that is done. New messages "
                          "start a new conversation.", soft_wrap=True)
            return False
        self._foreground = self.thread_id
        expires = min(parse_time(item.request.expires_at) for item in pending)
        pasting: asyncio.Task | None = None
        try:
            with ctrl_c_sets() as interrupted:  # from the first line on screen: no window for a stray Ctrl-C
                for item in pending:
                    if item.interrupt_id in values:
                        continue
                    self._show_request(item)
                    if self.open_browser:
                        webbrowser.open(item.request.authorize_url)
                with (Live(countdown(expires), console=console, refresh_per_second=2, transient=True) as live,
                      typed_lines() as typed):
                    pasting = asyncio.create_task(self._take_pasted(typed))
                    while not by_id.keys() <= values.keys() and not interrupted.is_set():
                        try:
                            thread_id, got = await asyncio.wait_for(self._callbacks.get(), timeout=0.5)
                        except asyncio.TimeoutError:
                            live.update(countdown(expires))
                            if datetime.now(timezone.utc) >= expires:
                                break
                            continue
                        if thread_id != self.thread_id:
                            continue
                        for key, value in got.items():
                            if key in by_id and key not in values:
                                values[key] = value
                                if len(by_id) > 1 and len(values) < len(by_id):
                                    console.print(acknowledgement(by_id[key], value)
                                                  + f" [dim](waiting for {len(by_id) - len(values)} more)[/dim]")
        finally:
            self._foreground = None
            if pasting is not None:
                pasting.cancel()
        if interrupted.is_set():
            self._left[self.thread_id] = expires
            self._paused_message()
            return False
        if not values:
            console.print("[yellow]The authorization link expired.[/yellow] Ask again to get a new one.")
        for key, item in by_id.items():
            values.setdefault(key, AuthorizationAnswer(item.request.state, "expired").to_json())
        marks = " · ".join(acknowledgement(by_id[key], values[key]) for key in by_id)
        colour = "green" if all(v.get("status") == "authorized" for v in values.values()) else "yellow"
        console.print(f"[{colour}]{marks} — carrying on.[/{colour}]")
        await self._release_if_idle()
        return await self.run_turn(self.session.resume(self.thread_id, values))

    async def _take_pasted(self, typed: "asyncio.Queue[str]") -> None:
        """Addresses pasted while a link waits: each completes its link as if the browser had reached us."""
        while True:
            await self.pasted(await typed.get())

    async def pasted(self, text: str) -> None:
        """The address the browser ended on, pasted into the chat (the browser runs on another device and
        cannot reach this loopback receiver): completed like a callback — the same single-use `state`."""
        if not looks_like_callback(text):
            console.print("[dim]That is not the address of an authorization answer (it has no state=…); "
                          "paste the whole address from the browser's address bar.[/dim]")
            return
        await self.ready()  # the loader's imports first (see _command)
        from agent.pages import outcome_words
        from auth.linking import Failed, LinkOutcome, WrongAccount

        what, message = await self._on_callback(text.strip())
        if isinstance(what, LinkOutcome):  # the same words the browser's page would have shown
            title, words = outcome_words(what)
            if isinstance(what, (Failed, WrongAccount)) or what.status is None:
                console.print(f"[yellow]{escape(title)}: {escape(words)}[/yellow]")
            elif self._foreground is None:
                console.print(f"[dim]{escape(words)} {escape(message)}[/dim]")
        elif what is not True:
            console.print(f"[yellow]{escape(message)}[/yellow]")

    def _show_request(self, item: "AuthorizationNeeded") -> None:
        r = item.request
        provider = label(r.connection)
        access = "\n".join(f"  • {describe_scope(s)}" for s in r.scopes) or "  • see what is public (no other access)"
        why = "needs more access to" if r.reason == "insufficient_scope" else "needs access to"
        body = Text.assemble(
            (f"The assistant {why} your {provider} to run {r.tool}.\n", "bold"),
            f"It asks to:\n{access}\n\n", "Open the link below to authorize (it expires in 10 minutes).\n",
            ("vault-agent carries on by itself once you have answered; Ctrl-C leaves it for later. "
             "Browser on another device? Paste the address it ends on here and press Enter.", "dim"))
        console.print(Panel(body, title=f"Authorization needed: {provider}", border_style="yellow"))
        # Outside the panel and unwrapped by us, so it copies whole at any width.
        console.print(f"Resume later with: {command_line('resume ' + self.thread_id)}", soft_wrap=True,
                      markup=False, highlight=False)
        # The URL unwrapped on a line of its own, so terminals make it clickable and scripts can read it.
        console.print(f"AUTHORIZE_URL {r.authorize_url}", soft_wrap=True, markup=False, highlight=False)

    def _paused_message(self) -> None:
        """Leave the paused thread untouched (a new message there would wait behind its pause): what the
        user types next starts a new conversation."""
        paused, self.thread_id = self.thread_id, str(uuid.uuid4())
        console.print(f"\n[yellow]Paused.[/yellow] The conversation is saved. Allowing in the browser while this "
                      f"chat is open carries on here by itself; `/resume {paused}` here, or "
                      f"`{escape(command_line('resume ' + paused))}` later, continues it. New messages start a "
                      "new conversation.", soft_wrap=True)

    def _stale(self, item: "AuthorizationNeeded") -> bool:
        """A link nobody can use any more: expired, or minted by another tenant (an in-process sandbox that
        has stopped since)."""
        if parse_time(item.request.expires_at) <= datetime.now(timezone.utc):
            return True
        return urlsplit(item.request.authorize_url).netloc != urlsplit(self.runtime.settings.auth0_base_url).netloc

    # -- resuming ---------------------------------------------------------------------------------
    async def known_thread(self, thread_id: str) -> bool:
        """One of this user's conversations (the store records each under the user's id). A checkpoint alone
        is not enough: in a shared database it may be another user's thread."""
        from agent.session_runner import THREADS_NAMESPACE

        session = await self.ready()
        return await session.persistence.store.aget((THREADS_NAMESPACE, session.user.sub), thread_id) is not None

    async def resume_thread(self, thread_id: str) -> bool | None:
        """Continue `thread_id`: None when it is not one of the user's conversations (nothing switched),
        False when the user left its pause again with Ctrl-C."""
        from .commands import resolve_thread

        session = await self.ready()
        thread_id = resolve_thread(thread_id, await session.threads())  # a unique prefix is enough
        if not await self.known_thread(thread_id):
            return None
        self.thread_id = thread_id
        self._left.pop(thread_id, None)
        from agent.persistence import thread_busy

        if await thread_busy(session.persistence.url, thread_id):
            console.print(f"[dim]Conversation {thread_id} is running in another vault-agent right now: waiting "
                          "for it to finish first (Ctrl-C to stop waiting).[/dim]")
            async with session.persistence.thread_lock(thread_id):
                pass
        pending = await session.pending(thread_id)
        if not pending and await session.unfinished(thread_id):  # cut off mid-run (killed, Ctrl-C): finish it
            console.print(f"[dim]Now in conversation {thread_id}: finishing what was interrupted there (a write "
                          "that already happened is not repeated).[/dim]")
            return await self.run_turn(session.reopen(thread_id, stale=self._stale))
        if not pending:  # show how it ended (as `--remote` does for a thread the server finished meanwhile)
            await session.settle_status(thread_id)
            from langchain_core.messages import AIMessage

            state = await session.graph.aget_state(session.config(thread_id))
            last = (state.values.get("messages") or [None])[-1]
            answer = last.content if isinstance(last, AIMessage) and isinstance(last.content, str) else ""
            console.print(f"[dim]Now in conversation {thread_id}; nothing is waiting there"
                          f"{' — its last answer:' if answer else '.'}[/dim]")
            if answer:
                console.print("[bold cyan]agent ›[/bold cyan] ", end="")
                console.print(plain(answer), markup=False, highlight=False)
            return True
        if any(self._stale(item) for item in pending):
            console.print("[dim]The earlier authorization link can no longer be used (it expired, or the "
                          "sandbox that made it has stopped): getting a fresh one.[/dim]")
        # reopen() re-issues every dead link (expired, used, or stale as above) — or finishes the run when the
        # account is linked by now — and yields the pauses that remain, each with a live link.
        return await self.run_turn(session.reopen(thread_id, stale=self._stale))

    async def _pick_up_answers(self) -> None:
        """Answers given in the browser after Ctrl-C: resume those conversations, saying so."""
        while self._later:
            thread_id, connection, values = self._later.pop(0)
            self._left.pop(thread_id, None)
            provider = label(connection)
            done = next(iter(values.values())).get("status") == "authorized"
            console.print(f"[{'green' if done else 'yellow'}]{'✓' if done else '✗'} {provider} "
                          f"{'allowed' if done else 'declined'} — carrying on with the conversation you paused "
                          f"({thread_id}); you are in it now.[/]")
            self.thread_id = thread_id
            await self._turn(self.session.resume(thread_id, values))
        await self._release_if_idle()

    # -- the loop ---------------------------------------------------------------------------------
    async def _turn(self, events: AsyncIterator[Any]) -> None:
        """One turn that never ends the chat: Ctrl-C stops it, an error becomes one line."""
        from .runtime import explain

        try:
            await self.run_turn(events)
        except asyncio.CancelledError:  # Ctrl-C while the agent works: stop this turn, keep the chat
            task = asyncio.current_task()
            if task is None or not task.cancelling():
                raise
            task.uncancel()
            console.print(f"\n[yellow]Interrupted.[/yellow] What was under way is kept: your next message here "
                          f"finishes it first (a write happens once), or `/resume {self.thread_id}`.")
        except Exception as exc:  # noqa: BLE001 - the chat goes on; the thread keeps what it had
            console.print(f"\n[bold red]error:[/bold red] {escape(plain(explain(exc)))}", highlight=False)

    async def loop(self, prompt_session: Any) -> None:
        with ctrl_c_cancels():
            await self._loop(prompt_session)

    async def _loop(self, prompt_session: Any) -> None:
        self._prompt = prompt_session
        console.print("[bold]vault-agent[/bold] — ask about your calendar or GitHub. /help for commands.")
        while True:
            self._startup_failed()
            if self._later:
                await self._pick_up_answers()
            try:
                typed, self._typed = self._typed, ""
                text = await prompt_session.prompt_async("you › ", default=typed)
            except KeyboardInterrupt:
                continue
            except EOFError:
                return
            if text is _WAKE:
                continue
            text = text.strip()
            if not text:
                continue
            if text.startswith("/"):
                if await self.command(text) is False:
                    return
                continue
            if looks_like_callback(text):  # pasted after Ctrl-C: pick the conversation up
                await self.pasted(text)
                continue
            try:
                await self.ready()
            except NotStarted as exc:
                console.print(f"\n[yellow]{exc}[/yellow]")
                continue
            await self._turn(self.session.stream(self.thread_id, text))

    async def command(self, text: str) -> bool | None:
        """An in-chat command. Returns False only for /quit; anything else that goes wrong is one line."""
        from .runtime import explain

        name, _, arg = text.partition(" ")
        name, arg = name.lower(), arg.strip()
        try:
            return await self._command(name, arg)
        except CliError as exc:
            console.print(str(exc), markup=False)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or not task.cancelling():
                raise
            task.uncancel()
            console.print("\n[yellow]Interrupted.[/yellow]")
        except Exception as exc:  # noqa: BLE001 - a failing command must never close the chat
            console.print(f"[bold red]error:[/bold red] {escape(plain(explain(exc)))}", highlight=False)
        return None

    async def _command(self, name: str, arg: str) -> bool | None:
        if (shared := common_command(name, arg)) is not None:
            return None if shared else False
        if name == "/new":
            self.thread_id = str(uuid.uuid4())
            console.print(f"[dim]New conversation {self.thread_id}[/dim]")
            return None
        if name == "/resume" and (not arg or " " in arg):
            raise CliError("Usage: /resume THREAD — /threads lists your conversations.")
        if name not in ("/threads", "/resume", "/connections", "/unlink"):
            raise CliError(f"Unknown command {clip(name)} — /help lists the commands.")
        # The agent finishes loading before a command imports what it needs: the loader imports in a thread,
        # and two threads importing one library at once can break its circular imports (authlib's did).
        session = await self.ready()
        from .commands import print_connections, print_threads, resolve_provider, unlink

        if name == "/threads":
            print_threads(await session.threads())
        elif name == "/resume":
            if await self.resume_thread(arg) is None:
                raise CliError(f"No conversation {shown(arg)}: /threads lists yours. (Still in {self.thread_id}.)")
        elif name == "/connections":
            await print_connections(self.runtime, session.user)
        else:
            resolve_provider(arg, "/unlink PROVIDER")
            connection = await unlink(self.runtime, session.user, arg)
            session.services.vault.invalidate(session.user, connection)
        return None
