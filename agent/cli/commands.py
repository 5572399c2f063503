"""The non-chat commands: login, logout, whoami, connections (list, connect, unlink), threads."""

from __future__ import annotations

import asyncio
import contextlib
import time
import webbrowser
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from rich.table import Table
from rich.text import Text

from auth.credentials import UserCredentials
from auth.management import ManagementClient
from auth.session import SessionClient, SessionStore, sandbox_session
from tools.providers import find, label

from .receiver import CallbackReceiver
from .runtime import CliError, CliRuntime, command_line, console, set_logged_out
from .terminal import looks_like_callback, plain, shown, typed_lines


async def _wait_for_callback(runtime: CliRuntime, url: str, open_browser: bool, label: str) -> str:
    """Serve the loopback callback, show (and open) `url`, return the callback URL the browser hit."""
    got: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def handle(callback: str) -> tuple[bool, str]:
        if not got.done():
            got.set_result(callback)
        return True, f"{label}: done. Back to the terminal."

    receiver = CallbackReceiver(runtime.callback_url, handle)
    await receiver.start()
    try:
        console.print(f"Open this link to {label.lower()}:")
        console.print(f"AUTHORIZE_URL {url}", soft_wrap=True, markup=False, highlight=False)
        if open_browser:
            webbrowser.open(url)
        console.print("[dim]Browser on another device? Paste the address it ends on here and press Enter.[/dim]")

        async def pasted(typed: asyncio.Queue[str]) -> None:  # a remote host: the browser cannot reach us
            while not got.done():
                line = await typed.get()
                if looks_like_callback(line) and not got.done():
                    got.set_result(line.strip())
                elif not got.done():
                    console.print("[dim]That is not the address of an answer (it has no state=…).[/dim]")

        with console.status("[yellow]Waiting for the browser…[/yellow]"), typed_lines() as typed:
            reader = asyncio.ensure_future(pasted(typed))
            try:
                return await got
            finally:
                reader.cancel()
    finally:
        await receiver.stop()


async def login(runtime: CliRuntime, open_browser: bool) -> None:
    settings = runtime.settings
    if settings.sandbox_control_url and runtime.sandbox is None and not open_browser:
        creds = await sandbox_session(settings)
    else:
        client = SessionClient(settings)
        try:
            async def open_and_wait(url: str) -> dict[str, str]:
                callback = await _wait_for_callback(runtime, url, open_browser, "Log in")
                return dict(parse_qsl(urlsplit(callback).query))

            creds = await client.login(runtime.callback_url, open_and_wait)
        finally:
            await client.aclose()
    SessionStore(settings).save(creds)
    set_logged_out(settings, False)
    console.print(f"[green]Logged in[/green] as {creds.sub}.")
    await suggest_links(runtime, creds)


async def suggest_links(runtime: CliRuntime, creds: UserCredentials, *, ask: bool = True) -> None:
    """Suggested account linking: other users with the same verified email, offered one by one."""
    from auth.errors import AuthError

    mgmt = ManagementClient(runtime.settings)
    try:
        try:
            others = await mgmt.suggested_links(creds.sub)
        except AuthError:  # suggestions are a courtesy; a missing Management grant must not break login
            return
        for other in others:
            how = ", ".join(i.get("connection", "?") for i in other.get("identities", []))
            console.print(f"Another account with your verified email {other.get('email')} exists: "
                          f"{other['user_id']} ({how}).")
            answer = await asyncio.to_thread(console.input, "Link it to your profile? \\[y/N] ") if ask else "n"
            if answer.strip().lower() in ("y", "yes"):
                await mgmt.link_user(creds.sub, other["user_id"])
                console.print(f"[green]Linked[/green] {other['user_id']} to your profile.")
    finally:
        await mgmt.aclose()


async def logout(runtime: CliRuntime) -> None:
    store = SessionStore(runtime.settings)
    creds = store.load()
    set_logged_out(runtime.settings, True)  # the sandbox makes no session up for you until `login`
    if creds is None:
        console.print("Not logged in.")
        return
    client = SessionClient(runtime.settings)
    try:
        await client.logout(creds)
    finally:
        await client.aclose()
    store.delete()
    console.print("Logged out.")


async def whoami(runtime: CliRuntime, creds: UserCredentials) -> None:
    client = SessionClient(runtime.settings)
    try:
        info = await client.userinfo(creds)
    finally:
        await client.aclose()
    console.print(f"{info.get('name', '')} <{info.get('email', '')}> ({creds.sub}) on {runtime.settings.auth0_domain}")


async def print_connections(runtime: CliRuntime, creds: UserCredentials) -> None:
    mgmt = ManagementClient(runtime.settings)
    try:
        linked = await mgmt.linked_connections(creds.sub)
    finally:
        await mgmt.aclose()
    if not linked:
        console.print(f"No linked accounts yet. `{command_line('connections connect google')}` links one.")
        return
    table = Table("connection", "account", title="Linked accounts")
    for identity in linked:
        profile = identity.get("profileData", {})
        table.add_row(Text(plain(str(identity["connection"]))),
                      Text(plain(str(profile.get("nickname") or profile.get("email") or identity["user_id"]))))
    console.print(table)


def resolve_provider(name: str, usage: str) -> str:
    """The Auth0 connection for what the user typed (`google`, `calendar`, `gh`, …), or a CliError that
    says what to type instead."""
    if not name.strip():
        raise CliError(f"Usage: {usage} — PROVIDER is google (Google Calendar) or github.")
    provider = find(name)
    if provider is None:
        raise CliError(f"Unknown provider {shown(name.strip())}: use google (Google Calendar) or github.")
    return provider.name


async def unlink(runtime: CliRuntime, creds: UserCredentials, connection: str) -> str:
    """Unlink the provider; returns its connection name (so callers can drop cached tokens for it)."""
    connection = resolve_provider(connection, "unlink PROVIDER")
    mgmt = ManagementClient(runtime.settings)
    try:
        removed = await mgmt.unlink_connection(creds.sub, connection)
    finally:
        await mgmt.aclose()
    console.print(f"Unlinked {label(connection)}." if removed else f"{label(connection)} was not linked.")
    return connection


async def connect(runtime: CliRuntime, creds: UserCredentials, connection: str, open_browser: bool) -> None:
    """User-initiated linking: the same link_account request, without an agent run."""
    from agent.persistence import open_persistence
    from auth.linking import AccountLinker, Authorized, Declined

    connection = resolve_provider(connection, "connections connect PROVIDER")
    async with open_persistence(runtime.settings) as persistence:
        linker = AccountLinker(runtime.settings, persistence.store)
        request = await linker.start(creds, connection, find(connection).scopes("read"),
                                     redirect_uri=runtime.callback_url)
        callback = await _wait_for_callback(runtime, request.authorize_url, open_browser,
                                            f"Connect {label(connection)}")
        outcome = await linker.complete(callback, lambda link: creds if link.user_sub == creds.sub else None)
    if isinstance(outcome, Authorized):
        console.print(f"[green]Connected {label(connection)}.[/green]")
    elif isinstance(outcome, Declined):
        console.print(f"[yellow]Not connected:[/yellow] {outcome.description or 'declined'}")
    else:
        console.print(f"[yellow]Not connected:[/yellow] {_why(outcome)}")


def _why(outcome: Any) -> str:
    """One sentence for an outcome other than Allow or Deny."""
    from auth.linking import Expired, RetryLater, TenantRefused, WrongAccount

    if isinstance(outcome, Expired):
        return "the link expired; try again."
    if isinstance(outcome, RetryLater):
        return "Auth0 could not finish it right now; try again shortly."
    if isinstance(outcome, TenantRefused):
        return f"Auth0 refused the request ({outcome.description}); try again."
    if isinstance(outcome, WrongAccount):
        return "another account answered; try again with yours."
    return getattr(outcome, "message", "") or "it did not complete."


def print_threads(rows: list[dict[str, Any]]) -> None:
    """Ids are printed whole at any width (they are what `resume` takes): a table when the terminal is wide
    enough for every column, else one conversation per block with the id on its own line."""
    if not rows:
        console.print("No conversations yet.")
        return

    def when(row: dict[str, Any]) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(row.get("updated", 0)))

    if console.width >= 110:
        table = Table(title="Conversations")
        table.add_column("thread", no_wrap=True, min_width=36)
        table.add_column("status", no_wrap=True)
        table.add_column("updated", no_wrap=True)
        table.add_column("first message", overflow="ellipsis", no_wrap=True)
        for row in rows:
            table.add_row(Text(plain(str(row["thread_id"]))), Text(plain(str(row.get("status", "")))), when(row),
                          Text(plain(str(row.get("title", "")))))
        console.print(table)
        return
    console.print("[bold]Conversations[/bold]")
    for row in rows:
        console.print(plain(str(row["thread_id"])), soft_wrap=True, markup=False, highlight=False)
        detail = " · ".join(plain(str(x)) for x in (row.get("status", ""), when(row), row.get("title", "")) if x)
        console.print(Text("  " + detail, style="dim"), overflow="ellipsis", no_wrap=True)


# The words a thread's status is shown with, the same for the local store and a LangGraph server.
ENGINE_STATUS = {"idle": "done", "busy": "running", "interrupted": "waiting for authorization", "error": "failed"}


def resolve_thread(given: str, rows: list[dict[str, Any]]) -> str:
    """The full id of the conversation `given` names: itself, or the one id it is a prefix of. An ambiguous
    prefix is a CliError listing the candidates; no match returns `given` (the caller says it is unknown)."""
    ids = [row["thread_id"] for row in rows]
    if given in ids:
        return given
    matches = [i for i in ids if i.startswith(given)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise CliError(f"{shown(given)} is the start of {len(matches)} conversations ({', '.join(matches)}): "
                       "type more of the id.")
    return given


THREADS_NAMESPACE = "vault_agent_threads"  # the namespace agent.session_runner writes conversations under


def has_local_threads(runtime: CliRuntime) -> bool:
    """False only when the default SQLite file does not exist yet (no conversation was ever saved)."""
    from pathlib import Path

    from agent.persistence import resolve_url

    url = resolve_url(runtime.settings)
    return not url.startswith("sqlite:///") or Path(url.removeprefix("sqlite:///")).exists()


async def list_threads(runtime: CliRuntime, creds: UserCredentials) -> list[dict[str, Any]]:
    """The user's conversations straight from the store: no graph, no model client, no checkpointer —
    `vault-agent threads` should answer in well under a second. For the default SQLite file it reads the
    store's table with the standard library (importing LangGraph's store costs ~1 s); anything unexpected
    there, and Postgres, go through LangGraph's own store."""
    import json
    import sqlite3
    from pathlib import Path

    from agent.persistence import resolve_url

    url = resolve_url(runtime.settings)
    namespace = (THREADS_NAMESPACE, creds.sub)
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            return []
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                rows = db.execute("SELECT key, value FROM store WHERE prefix = ?", (".".join(namespace),)).fetchall()
            return await _with_status(url, [{"thread_id": key, **json.loads(value)} for key, value in rows])
        except (sqlite3.Error, ValueError, TypeError):
            pass
    if url.startswith(("postgresql://", "postgres://")):
        from langgraph.store.postgres.aio import AsyncPostgresStore as Store
    else:
        from langgraph.store.sqlite.aio import AsyncSqliteStore as Store

        url = url.removeprefix("sqlite:///")
    async with Store.from_conn_string(url) as store:
        await store.setup()
        items = await store.asearch(namespace, limit=100)
    return await _with_status(resolve_url(runtime.settings), [{"thread_id": i.key, **i.value} for i in items])


async def _with_status(url: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sorted, and a conversation cut off mid-run (recorded "running", run by no live process) shown as
    resumable."""
    from agent.persistence import interrupted_status

    return [{**row, "status": await interrupted_status(url, row["thread_id"], row.get("status", ""))}
            for row in _sorted(rows)]


def _sorted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: r.get("updated", 0), reverse=True)[:100]
