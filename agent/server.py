"""Extra routes for the LangGraph server (`http.app` in langgraph.json): the link page and the callback.

A client sends only its bearer token, so a paused run's `authorize_url` is this server's own page,
`GET /link/{state}`. Opening it signs the user in at the tenant (`auth/linking/sign_in.py`: code + PKCE,
silent with a tenant session); another account than the thread's owner gets "Wrong account". Back on
`GET /auth/callback`, the sign-in's fresh credentials start the linking for real (a fresh
`id_token_hint`, or a My Account API token for Connected Accounts) and the browser goes on to the
tenant; after the user's answer, `/auth/callback` completes it (`AccountLinker.complete`) and resumes the
paused thread by itself — whatever the outcome, by the one resume policy
(`auth.linking.resume_status`):

- as the thread's owner — the `sub` the pending request was made for — through the server's own HTTP API
  with a single-use resume credential (`agent/engine_resume.py`), so the resumed run passes the same
  ownership rules as any client's and no engine internals are used;
- with the run's credential envelope (sealed, `auth/envelope.py`), refreshed with the tokens the
  sign-in or the code exchange returned. So it needs no token from the browser, works after a restart,
  and the run can execute in any worker process;
- even when Auth0 cannot finish the code exchange after the user allowed (the page asks for a reload,
  the thread does not wait for it).

Pending links are read from the server's own store (`auth/server_store.py`, `VAULT_AGENT_DB_URL`), where
the runs' tools keep them, so any process of the server can complete any link. Each outcome's page comes
from `agent/pages.py`'s one table. The only redirects go to the tenant's
`/authorize` URL this server built; everything echoed is escaped.
"""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from agent.auth_guard import require_auth_module
from agent.engine_resume import own_url, resume_thread
from agent.pages import outcome_page, page
from auth import langgraph_auth  # noqa: F401 - fail closed at start-up on every engine (see that module)
from auth.envelope import Envelope, EnvelopeError
from auth.linking import (
    AccountLinker,
    Authorized,
    ClickSignIn,
    Expired,
    Failed,
    LinkOutcome,
    PendingLink,
    SignedIn,
    resume_status,
)
from auth.oidc import InvalidToken
from auth.run_credentials import kept_credentials, sealer
from auth.server_auth import oidc_provider
from auth.server_store import server_store
from auth.settings import get_settings
from tools.services import default_services

log = logging.getLogger(__name__)
MAX_URL = 16384


async def _linking() -> tuple[AccountLinker, ClickSignIn]:
    services = default_services()
    store = server_store()
    linker = services.linker(store)
    settings = services.settings
    return linker, ClickSignIn(settings, store, services.http, oidc_provider(), audience=settings.auth0_audience)


async def _fresh_envelope(link: PendingLink, access_token: str | None, my_account_token: str = "") -> str:
    """The envelope the resumed run carries: the kept one, with a fresh access token when one came back
    valid for the API (sign-in or code exchange) and the click-time My Account token when there is one."""
    kept: Envelope | None = None
    if link.envelope:
        try:
            kept = sealer().open(link.envelope, link.user_sub)
        except EnvelopeError:
            kept = None
    token, expires_at = (kept.access_token, kept.expires_at) if kept else ("", 0.0)
    if access_token:
        try:
            claims = await oidc_provider().validate(access_token, audience=get_settings().auth0_audience)
            token, expires_at = access_token, float(claims["exp"])
        except InvalidToken:
            pass
    if not token:
        return link.envelope
    my_account = my_account_token or (kept.my_account_token if kept else "")
    return sealer().seal(Envelope(link.user_sub, token, "", my_account, expires_at))


async def _resume(request: Request, outcome: LinkOutcome) -> int | None:
    """Apply the resume policy to `outcome`'s thread. None when resuming failed (the answer stands)."""
    status = resume_status(outcome)
    link = outcome.link
    if status is None or link is None or not link.thread_id:
        return 0
    credentials = outcome.credentials if isinstance(outcome, Authorized) else None
    try:
        envelope = await _fresh_envelope(link, credentials.access_token if credentials else None)
        return await resume_thread(own_url(request.scope), outcome, envelope)
    except Exception as exc:  # the link is answered; say what failed instead of a bare 500
        log.warning("could not resume thread %s: %s", link.thread_id, type(exc).__name__)
        return None


def _show(outcome: LinkOutcome, resumed: int | None) -> Response:
    settings = get_settings()
    if resumed is None:
        return page("Answered, but not resumed", "Your answer was recorded, but the conversation could not be "
                    "resumed: go back to the app and ask again.", 502)
    next_step = ""
    if resumed and outcome.status == "authorized":
        next_step = "The assistant carries on."
    elif resumed and outcome.status == "reissue":
        next_step = "The assistant offers a fresh link."
    return outcome_page(outcome, next_step=next_step, app_url=settings.vault_agent_app_url)


_swept_at = 0.0


async def _sweep() -> None:
    """Now and then (every five minutes at most per process), delete what expired from the server store:
    sign-ins never finished, links never answered, used resume credentials."""
    global _swept_at
    if time.monotonic() - _swept_at > 300:
        _swept_at = time.monotonic()
        await server_store().sweep()


# -- routes ---------------------------------------------------------------------------------------------
async def link_page(request: Request) -> Response:
    """`GET /link/{state}`: sign the user in at the tenant, then on to the linking."""
    linker, sign_in = await _linking()
    link = await linker.pending.get(request.path_params["state"])
    if link is None or not link.sign_in_at_click:  # used, or never made here: as the MCP pages say it
        return _show(Expired(None), 0)
    if link.is_expired():
        return _show(Expired(link), 0)
    await _sweep()
    target = await sign_in.begin(link.state, link.user_sub, link.redirect_uri)
    return RedirectResponse(target, 302, headers={"cache-control": "no-store", "referrer-policy": "no-referrer"})


async def callback(request: Request) -> Response:
    """`GET /auth/callback`: the answer to a sign-in (go on to the linking) or to the linking (complete, resume)."""
    url = str(request.url)
    if len(url) > MAX_URL:
        return _show(Failed(None, "bad_request", "The request is too large."), 0)
    linker, sign_in = await _linking()
    if await sign_in.is_sign_in(url):
        signed = await sign_in.finish(url)
        if not isinstance(signed, SignedIn):
            return _show(signed, 0)
        link = await linker.pending.get(signed.link_id)
        creds = signed.credentials
        envelope = await _fresh_envelope(link, creds.access_token, creds.my_account_token or "") if link else None
        armed = await linker.arm(signed.link_id, creds, envelope=envelope)
        if isinstance(armed, str):
            return RedirectResponse(armed, 302, headers={"cache-control": "no-store",
                                                         "referrer-policy": "no-referrer"})
        return _show(armed, await _resume(request, armed))
    outcome = await linker.complete(url, kept_credentials())
    return _show(outcome, await _resume(request, outcome))


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
app.add_api_route("/link/{state}", link_page, methods=["GET"], include_in_schema=False)
app.add_api_route("/auth/callback", callback, methods=["GET"], include_in_schema=False)
app.add_middleware(RefuseInternalRoutes)
