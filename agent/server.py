"""Extra routes for the LangGraph server (`http.app` in langgraph.json).

`GET /auth/callback` is where Auth0 sends the browser after the user answered a linking request. It
trusts nothing but the single-use `state`: that binds the user, the thread and the interrupt. It completes
the linking and resumes the paused thread itself, whatever the answer (authorized, declined, expired):

- as the thread's owner — the `sub` the pending request was made for — through the server's own HTTP API
  with a single-use resume credential (`agent/engine_resume.py`), so the resumed run passes the same
  ownership rules as any client's, carries the same kind of auth user, and no engine internals are used;
- with the credential envelope the pending request kept (sealed, `auth/envelope.py`), refreshed with the
  tokens the code exchange returned when there are any. So it needs no token from the browser, works
  after a server restart, and the run can execute in any worker process.

Pending links are read from the server's own store (`auth/server_store.py`, `VAULT_AGENT_DB_URL`), where
the runs' tools keep them, so any process of the server can complete any link.

It shows a short page, never redirects anywhere (so it cannot be an open redirect), and escapes
everything it echoes.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from agent.auth_guard import require_auth_module
from agent.engine_resume import own_url, resume_thread
from agent.pages import page
from auth import langgraph_auth  # noqa: F401 - fail closed at start-up on every engine (see that module)
from auth.envelope import Envelope, EnvelopeError
from auth.errors import AuthError, LinkingError, TransientError
from auth.linking import NAMESPACE, LinkResult
from auth.oidc import InvalidToken
from auth.server_auth import oidc_provider, sealer
from auth.server_store import server_store
from auth.settings import get_settings
from tools.services import default_services

log = logging.getLogger(__name__)


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
    store = server_store()
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
            await _resume_or_log(request, expired)
            return page("This link has expired",
                         "The assistant will tell you it could not go ahead; ask it again for a new link.", 400)
        return page("That did not work", str(exc), 400)
    except AuthError as exc:  # e.g. Connected Accounts without a usable My Account token
        return page("That did not work", str(exc), 400)
    if not result.thread_id:
        return page("Connected", "You can close this tab.")
    resumed = await _resume_or_log(request, result)
    if resumed is None:
        return page("Answered, but not resumed",
                     "Your answer was recorded, but the conversation could not be resumed: go back to the app "
                     "and ask again.", 502)
    if result.status == "declined":
        return page("Access declined", "The assistant will tell you what it could not do. You can close this tab.")
    suffix = " The assistant carries on." if resumed else ""
    return page("Done — you can close this tab", f"Access granted.{suffix}")


async def _resume_or_log(request: Request, result: LinkResult) -> int | None:
    try:
        return await resume_thread(own_url(request.scope), result, await _envelope_for(result))
    except Exception as exc:  # the link is done; say what failed instead of a bare 500
        log.warning("could not resume thread %s: %s", result.thread_id, type(exc).__name__)
        return None


class RefuseInternalRoutes:
    """`langgraph dev` serves `/internal/*` (truncate every thread, read any thread's debug dump) without
    authentication, ahead of custom routes. A custom app's middleware runs first on both engines, so
    these requests stop here with a 404."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] in ("http", "websocket") else ""
        if path == "/internal" or path.startswith("/internal/"):
            if scope["type"] == "http":
                await JSONResponse({"detail": "Not Found"}, status_code=404)(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        await self.app(scope, receive, send)


require_auth_module()  # before any request: never served anonymously (agent/auth_guard.py)
app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)  # Aegra takes only FastAPI apps
app.add_api_route("/auth/callback", callback, methods=["GET"], include_in_schema=False)
app.add_middleware(RefuseInternalRoutes)
