"""Extra routes for the LangGraph server (`http.app` in langgraph.json): the link page and the callback.

A client sends only its bearer token, so a paused run's `authorize_url` is this server's own page,
`GET /link/{state}`. Opening it signs the user in at the tenant (`auth/linking/sign_in.py`: code + PKCE,
silent with a tenant session); another account than the thread's owner gets "Wrong account". Back on
`GET /auth/callback`, the sign-in's fresh credentials start the linking for real (a fresh
`id_token_hint`, or a My Account API token for Connected Accounts) and the browser goes on to the
tenant; after the user's answer, `/auth/callback` completes it (`AccountLinker.complete`) and resumes the
paused thread by itself — whatever the outcome, by the one resume policy
(`auth.linking.resume_status`):

- as the thread's owner — the `sub` the pending request was made for — with the run's credential
  envelope (sealed, `auth/envelope.py`), refreshed with the tokens the sign-in or the code exchange
  returned. So it needs no token from the browser, works after a restart, and the run can execute in
  any worker process;
- even when Auth0 cannot finish the code exchange after the user allowed (the page asks for a reload,
  the thread does not wait for it).

Each outcome's page comes from `agent/pages.py`'s one table. The only redirects go to the tenant's
`/authorize` URL this server built; everything echoed is escaped.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent.pages import outcome_page, page
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
from auth.run_credentials import PERMISSIONS, sealer, user_dict
from auth.server_auth import oidc_provider
from auth.settings import get_settings
from tools.authorization import resume_map
from tools.services import default_services

log = logging.getLogger(__name__)
GRAPH = "agent"
MAX_URL = 16384
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


async def _linking() -> tuple[AccountLinker, ClickSignIn]:
    services = default_services()
    store = await _server_store()
    linker = services.linker(store)
    settings = services.settings
    return linker, ClickSignIn(settings, store, services.http, oidc_provider(), audience=settings.auth0_audience)


# -- the thread's resume ------------------------------------------------------------------------------
async def resume_thread(owner: str, envelope: str, thread_id: str, state: str, status: str) -> int:
    """Resume every interrupt of `thread_id` waiting on `state` with `status`, as the thread's owner.
    Returns how many. The one place this server resumes a thread."""
    from langgraph_api.auth.custom import normalize_user
    from langgraph_api.utils import with_user

    client = _internal_client()
    async with with_user(normalize_user(user_dict(owner, envelope)), list(PERMISSIONS)):
        await _settle(client, thread_id)
        thread_state = await client.threads.get_state(thread_id)
        values = resume_map(thread_state.get("interrupts", []), state, status)  # type: ignore[arg-type]
        if values:
            await client.runs.create(thread_id, GRAPH, command={"resume": values})
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


async def _resume(outcome: LinkOutcome) -> int | None:
    """Apply the resume policy to `outcome`'s thread. None when resuming failed (the answer stands)."""
    status = resume_status(outcome)
    link = outcome.link
    if status is None or link is None or not link.thread_id:
        return 0
    credentials = outcome.credentials if isinstance(outcome, Authorized) else None
    try:
        envelope = await _fresh_envelope(link, credentials.access_token if credentials else None)
        return await resume_thread(link.user_sub, envelope, link.thread_id, link.state, status)
    except Exception as exc:  # the link is answered; say what failed instead of a bare 500
        log.warning("could not resume thread %s: %s", link.thread_id, type(exc).__name__)
        return None


def _credentials_for(link: PendingLink) -> Any:
    """Connected Accounts completion: the user's My Account token, from the envelope the link kept."""
    try:
        return sealer().open(link.envelope, link.user_sub).credentials() if link.envelope else None
    except EnvelopeError:
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


# -- routes ---------------------------------------------------------------------------------------------
async def link_page(request: Request) -> Response:
    """`GET /link/{state}`: sign the user in at the tenant, then on to the linking."""
    linker, sign_in = await _linking()
    link = await linker.pending.get(request.path_params["state"])
    if link is None or not link.sign_in_at_click:  # used, or never made here: as the MCP pages say it
        return _show(Expired(None), 0)
    if link.is_expired():
        return _show(Expired(link), 0)
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
        return _show(armed, await _resume(armed))
    outcome = await linker.complete(url, _credentials_for)
    return _show(outcome, await _resume(outcome))


app = Starlette(routes=[Route("/link/{state}", link_page), Route("/auth/callback", callback)])
