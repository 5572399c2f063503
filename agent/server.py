"""Extra routes for the LangGraph server (`http.app` in langgraph.json).

`GET /auth/callback` is where Auth0 sends the browser after the user answered a linking request. It
trusts nothing but the single-use `state`: that binds the user, the thread and the interrupt. It completes
the linking and resumes the paused thread itself, whatever the answer (authorized, declined, expired):

- as the thread's owner — the `sub` the pending request was made for — through the server's own API
  in-process, with that user set as the request's auth context, so the resumed run passes the same
  ownership rules as any client's and carries the same kind of auth user;
- with the credential envelope the pending request kept (sealed, `auth/envelope.py`), refreshed with the
  tokens the code exchange returned when there are any. So it needs no token from the browser, works
  after a server restart, and the run can execute in any worker process.

It shows a short page, never redirects anywhere (so it cannot be an open redirect), and escapes
everything it echoes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from agent.pages import page
from auth.envelope import Envelope, EnvelopeError
from auth.errors import AuthError, LinkingError, TransientError
from auth.linking import NAMESPACE, LinkResult
from auth.oidc import InvalidToken
from auth.server_auth import PERMISSIONS, oidc_provider, sealer, user_dict
from auth.settings import get_settings
from tools.authorization import resume_map
from tools.services import default_services

log = logging.getLogger(__name__)
GRAPH = "agent"
_client: Any = None


async def _server_store() -> Any:
    from langgraph_api.store import get_store  # the same store the graph's tools write to

    return await get_store()


def _internal_client() -> Any:
    """One in-process SDK client (ASGI, no network, no TLS) for the server's own API, reused."""
    global _client
    if _client is None:
        from langgraph_sdk import get_client

        _client = get_client()
    return _client


async def _envelope_for(result: LinkResult) -> str:
    """The sealed envelope the resumed run carries: fresh tokens from the code exchange when the
    answer brought valid ones, else what the pending request kept."""
    kept = str(result.extra.get("envelope") or "")
    creds = result.credentials
    if creds is None or not creds.access_token:
        return kept
    try:
        claims = await oidc_provider().validate(creds.access_token, audience=get_settings().auth0_audience)
    except InvalidToken:
        return kept
    my_account = ""
    if kept:
        try:
            my_account = sealer().open(kept, result.user_sub).my_account_token
        except EnvelopeError:
            pass
    return sealer().seal(Envelope(result.user_sub, creds.access_token, creds.id_token, my_account,
                                  float(claims["exp"])))


async def _resume(result: LinkResult) -> int:
    """Resume every interrupt of the thread that this answer is for, as its owner. Returns how many."""
    from langgraph_api.auth.custom import normalize_user
    from langgraph_api.utils import with_user

    owner = user_dict(result.user_sub, await _envelope_for(result))
    client = _internal_client()
    async with with_user(normalize_user(owner), list(PERMISSIONS)):
        await _settle(client, result.thread_id)
        thread_state = await client.threads.get_state(result.thread_id)
        values = resume_map(thread_state.get("interrupts", []), result.state, result.status)
        if values:
            await client.runs.create(result.thread_id, GRAPH, command={"resume": values})
    return len(values)


async def _settle(client: Any, thread_id: str, timeout: float = 60) -> None:
    """Wait for the thread's running resume (another answer of the same pause) to reach its next pause,
    so this answer's interrupt is read from the state it will be resumed in, not from a mid-run one."""
    try:
        async with asyncio.timeout(timeout):
            for status in ("running", "pending"):
                for run in await client.runs.list(thread_id, status=status):
                    await client.runs.join(thread_id, run["run_id"])
    except TimeoutError:
        log.warning("thread %s still busy after %.0f s; resuming anyway", thread_id, timeout)


def _connected_accounts_user(store_item: Any) -> Any:
    """`credentials_for` for connected_accounts mode: the user's My Account token from the pending
    request's envelope (the request itself holds no readable token)."""
    sealed = str(((store_item.value if store_item else {}) or {}).get("extra", {}).get("envelope") or "")

    def credentials_for(sub: str) -> Any:
        try:
            return sealer().open(sealed, sub).credentials() if sealed else None
        except EnvelopeError:
            return None

    return credentials_for


async def callback(request: Request) -> HTMLResponse:
    if len(str(request.url)) > 16384:
        return page("That did not work", "The request is too large.", 400)
    store = await _server_store()
    linker = default_services().linker(store)
    state = request.query_params.get("state", "")
    pending = await store.aget(NAMESPACE, state) if state and len(state) <= 4096 else None
    try:
        result = await linker.complete(str(request.url), _connected_accounts_user(pending))
    except TransientError as exc:  # Auth0 unreachable or failing: the linker keeps the state for a reload
        return page("Please try again", f"{exc} Reload this page in a moment.", 503)
    except LinkingError as exc:
        if getattr(exc, "retryable", False) or exc.code == "temporarily_unavailable":
            return page("Please try again", f"{exc} Reload this page in a moment.", 503)
        expired = getattr(exc, "expired", None)
        if isinstance(expired, LinkResult) and expired.thread_id:
            await _resume_or_log(expired)
            return page("This link has expired",
                         "The assistant will tell you it could not go ahead; ask it again for a new link.", 400)
        return page("That did not work", str(exc), 400)
    except AuthError as exc:  # e.g. Connected Accounts without a usable My Account token
        return page("That did not work", str(exc), 400)
    if not result.thread_id:
        return page("Connected", "You can close this tab.")
    resumed = await _resume_or_log(result)
    if resumed is None:
        return page("Answered, but not resumed",
                     "Your answer was recorded, but the conversation could not be resumed: go back to the app "
                     "and ask again.", 502)
    if result.status == "declined":
        return page("Access declined", "The assistant will tell you what it could not do. You can close this tab.")
    suffix = " The assistant carries on." if resumed else ""
    return page("Done — you can close this tab", f"Access granted.{suffix}")


async def _resume_or_log(result: LinkResult) -> int | None:
    try:
        return await _resume(result)
    except Exception as exc:  # the link is done; say what failed instead of a bare 500
        log.warning("could not resume thread %s: %s", result.thread_id, type(exc).__name__)
        return None


app = Starlette(routes=[Route("/auth/callback", callback)])
