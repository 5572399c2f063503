"""`vault-agent chat --remote URL`: the same conversation against a LangGraph server (`langgraph dev` or a
deployment) through langgraph-sdk. The server's own `/auth/callback` completes the linking and resumes
the thread; the CLI shows the pause, then waits for the thread to finish and prints the answer."""

from __future__ import annotations

import asyncio
import webbrowser
from datetime import datetime, timezone
from typing import Any

from rich.live import Live

from auth.credentials import UserCredentials
from auth.session import SessionClient

from .chat import PROVIDERS, _countdown, _ctrl_c_sets, _parse_time
from .runtime import CliError, Runtime, console


async def _server_credentials(runtime: Runtime, user: UserCredentials) -> UserCredentials:
    """An access token for the server's API audience (the refresh grant can ask for it)."""
    if not runtime.settings.auth0_audience:
        raise CliError("--remote needs AUTH0_AUDIENCE: the API the LangGraph server accepts tokens for.")
    client = SessionClient(runtime.settings)
    try:
        return await client.refresh(user)
    finally:
        await client.aclose()


def _last_answer(state: dict[str, Any]) -> str:
    messages = (state.get("values") or {}).get("messages") or []
    return str(messages[-1].get("content", "")) if messages else ""


async def _wait_until_done(client: Any, thread_id: str, pauses: list[dict[str, Any]],
                           interrupted: asyncio.Event) -> bool | None:
    """True when the server finished the thread, False when the link expired, None on Ctrl-C."""
    expires = min(_parse_time(p["value"]["expires_at"]) for p in pauses)
    with Live(_countdown(expires), console=console, refresh_per_second=2, transient=True) as live:
        while datetime.now(timezone.utc) < expires:
            if interrupted.is_set():
                return None
            thread = await client.threads.get(thread_id)
            state = await client.threads.get_state(thread_id)
            still = {i["id"] for i in state.get("interrupts", [])}
            if thread["status"] != "busy" and not still & {p["id"] for p in pauses}:
                return True
            live.update(_countdown(expires))
            await asyncio.sleep(0.5)
    return False


async def run_remote(runtime: Runtime, user: UserCredentials, url: str, *, open_browser: bool = True) -> None:
    import httpx
    from langgraph_sdk import get_client

    creds = await _server_credentials(runtime, user)
    client = get_client(url=url.rstrip("/"), headers={"Authorization": f"Bearer {creds.access_token}",
                                                      "X-Id-Token": creds.id_token})
    try:
        thread = await client.threads.create()
    except httpx.HTTPError as exc:
        raise CliError(f"The LangGraph server at {url} could not be reached ({type(exc).__name__}).") from exc
    from .main import _prompt_session

    prompt = _prompt_session(runtime)
    console.print(f"[bold]vault-agent[/bold] on {url} — thread {thread['thread_id']}. /quit to leave.")
    while True:
        try:
            text = (await prompt.prompt_async("you › ")).strip()
        except (EOFError, KeyboardInterrupt):
            return
        if not text:
            continue
        if text in ("/quit", "/exit"):
            return
        pauses: list[dict[str, Any]] = []
        with console.status("[dim]Thinking…[/dim]"):
            async for part in client.runs.stream(thread["thread_id"], "agent", stream_mode="updates",
                                                 input={"messages": [{"role": "user", "content": text}]}):
                data = part.data if isinstance(part.data, dict) else {}
                for call in ((data.get("call_model") or {}).get("messages") or [{}])[-1].get("tool_calls") or []:
                    console.print(f"[dim]  ⋯ running {call['name']}…[/dim]")
                pauses += data.get("__interrupt__") or []
        if pauses:
            for pause in pauses:
                value = pause["value"]
                console.print(f"[yellow]Authorization needed: {PROVIDERS.get(value['connection'], value['connection'])}"
                              f"[/yellow] — {value['message']}")
                console.print(f"AUTHORIZE_URL {value['authorize_url']}", soft_wrap=True, markup=False,
                              highlight=False)
                if open_browser:
                    webbrowser.open(value["authorize_url"])
            with _ctrl_c_sets() as interrupted:
                finished = await _wait_until_done(client, thread["thread_id"], pauses, interrupted)
            if finished is None:
                console.print(f"\n[yellow]Paused.[/yellow] The server keeps thread {thread['thread_id']}; "
                              "authorizing later still resumes it there.")
                thread = await client.threads.create()
                continue
            if not finished:
                console.print("[yellow]The authorization link expired.[/yellow] Ask again.")
                continue
            console.print("[green]✓ Authorized — the server carried on.[/green]")
        answer = _last_answer(await client.threads.get_state(thread["thread_id"]))
        console.print("[bold cyan]agent ›[/bold cyan] ", end="")
        console.print(answer, markup=False, highlight=False)
