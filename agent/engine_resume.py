"""Resume a paused thread as its owner, through the engine's public API — on any engine.

The callback (`agent/server.py`) has completed a linking answer and must now resume the thread it was
for, as the thread's owner, with nobody's token in hand. It does what a client does: it talks to the
server's own HTTP API with the LangGraph SDK — `langgraph dev` and Aegra serve the same API — carrying a
resume credential (`auth/resume_credential.py`: sealed with the server key, bound to thread, owner and
linking request, two minutes, one run) as its bearer. The auth handler turns that into the owner, with
the run's sealed credential envelope, for exactly that thread: the same ownership rules as any client's
request, no engine internals, and whichever process of the server takes the request (one of several
behind one port) reaches the same thread.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
from langgraph_sdk.client import LangGraphClient

from auth import resume_credential
from auth.linking import LinkOutcome, resume_status
from auth.server_auth import sealer
from tools.authorization import resume_map

log = logging.getLogger(__name__)
GRAPH = "agent"


def own_url(scope: dict[str, Any]) -> str:
    """The base URL of this server as seen from itself: the address the callback's request arrived on
    (a public callback URL behind a proxy would send the resume out and back in)."""
    host, port = (scope.get("server") or ("127.0.0.1", 80))[:2]
    host = "127.0.0.1" if host in ("0.0.0.0", "", None) else ("::1" if host == "::" else str(host))
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


async def resume_thread(server_url: str, result: LinkOutcome, envelope: str) -> int:
    """Resume every interrupt of `result`'s thread that this answer is for, as its owner, with `envelope`
    as the resumed run's credentials. Returns how many interrupts it answered."""
    credential = resume_credential.issue(sealer().jwe, result.user_sub, str(result.thread_id), result.state,
                                         envelope)
    client, headers = _client(server_url), {"Authorization": f"Bearer {credential}"}
    await _settle(client, str(result.thread_id), headers)
    thread_state = await client.threads.get_state(str(result.thread_id), headers=headers)
    values = resume_map(thread_state.get("interrupts", []), result.state, resume_status(result))  # type: ignore[arg-type]
    if values:
        await client.runs.create(str(result.thread_id), GRAPH, command={"resume": values}, headers=headers)
    return len(values)


_clients: dict[tuple[int, str], Any] = {}


def _client(server_url: str) -> Any:
    """One SDK client per event loop and address, kept: a new one per callback built a new TLS context (CA
    bundle loaded) each time, about a tenth of the server's CPU under load. The credential goes per request.
    Idle connections are dropped after a second, well before a server closes them (uvicorn: 5 s), so a
    request never goes out on a connection the server is closing."""
    key = (id(asyncio.get_running_loop()), server_url)
    if key not in _clients:
        transport = httpx.AsyncHTTPTransport(retries=5, limits=httpx.Limits(keepalive_expiry=1.0))
        _clients[key] = LangGraphClient(httpx.AsyncClient(
            base_url=server_url, transport=transport, timeout=httpx.Timeout(connect=5, read=300, write=300, pool=5)))
    return _clients[key]


ACTIVE = ("running", "pending")


async def _settle(client: Any, thread_id: str, headers: dict[str, str], timeout: float = 60) -> None:
    """Wait for the thread's running resume (another answer of the same pause) to reach its next pause,
    so this answer's interrupt is read from the state it will be resumed in, not from a mid-run one.

    One listing of the thread's newest runs (newest first on both engines) finds the active ones, both
    running and pending: a run created after an active one is itself active or refused, so the active
    ones are the newest. They are joined oldest first, and the thread listed again until none is left
    (in the common case, nothing runs: one request)."""
    try:
        async with asyncio.timeout(timeout):
            while active := [run["run_id"] for run in await client.runs.list(thread_id, headers=headers)
                             if run.get("status") in ACTIVE]:
                for run_id in reversed(active):
                    await client.runs.join(thread_id, run_id, headers=headers)
    except TimeoutError:
        log.warning("thread %s still busy after %.0f s; resuming anyway", thread_id, timeout)
