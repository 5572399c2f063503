"""Authorization by URL-mode elicitation (MCP 2025-11-25): the MCP counterpart of the agent's interrupt.

A tool call that needs a connection Auth0 holds no token set for fails with JSON-RPC error -32042
(`UrlElicitationRequiredError`) carrying one URL on this server, `/link/{elicitation_id}`. Opening it:

1. signs the user in at the tenant (`auth.linking.ClickSignIn`, the click-time sign-in the LangGraph
   server uses too). The MCP client only gave us an access token, but the tenant's linking Action wants
   a fresh ID token of the same user as `id_token_hint` — and the login proves that whoever opened the
   URL is the user who asked (a URL forwarded to someone else fails here);
2. sends the browser on to the link_account URL that `AccountLinker.start` builds, with this server's
   `/auth/callback` as redirect URI;
3. back on `/auth/callback`, `AccountLinker.complete` finishes the linking, and the MCP session that
   asked gets `notifications/elicitation/complete`, so the client retries the call. Every page is
   `agent/pages.py`'s page for the outcome, as on the other surfaces.

Declined, expired or failed requests are remembered per user and connection until the next call of a
tool on that connection, which then answers with the tool's own sentence instead of a new URL.

The records (pending elicitations, who has one for which connection, the sign-in's state) live in the
LangGraph store the account linker uses (`VAULT_AGENT_DB_URL`: SQLite by default, Postgres for several
processes), so a link survives a restart and the callback may land on another process than the tool
call. They hold no token: the login's ID token is used for `id_token_hint` and dropped; the sign-in's
PKCE verifier is kept like the linker's (worthless without the code the tenant sends to the browser).
Only the MCP session to notify stays in memory, because it is a live connection: a callback that lands
on another process still completes the linking, and the process holding the session sees the record
answered (it watches the store while sessions wait) and notifies it. After a restart the old sessions
are gone; the client's retry succeeds all the same (the Token Vault exchange then finds the token set).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from authlib.common.security import generate_token
from langgraph.store.base import BaseStore
from mcp.server.session import ServerSession
from mcp.shared.exceptions import UrlElicitationRequiredError
from mcp.types import ElicitRequestURLParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from agent.pages import outcome_page
from auth.credentials import UserCredentials
from auth.errors import AuthError, AuthorizationRequired
from auth.linking import (
    Authorized,
    ClickSignIn,
    Declined,
    Expired,
    Failed,
    LinkOutcome,
    RetryLater,
    SignedIn,
    TenantRefused,
)
from auth.linking.sign_in import SIGN_INS
from auth.oidc import OIDCProvider
from auth.run_credentials import keep_my_account_token, kept_credentials
from tools.providers import Provider, find
from tools.services import Services

log = logging.getLogger(__name__)

TTL_SECONDS = 600


ELICITATIONS = ("vault_agent", "mcp_elicitations")  # by id: the pending (or declined) request
CURRENT = ("vault_agent", "mcp_elicitation_current")  # by user and connection: the id of the current one
SWEEP_EVERY_SECONDS = 300
WATCH_EVERY_SECONDS = 2.0  # how often a process looks whether another one completed an elicitation it asked


@dataclass
class Elicitation:
    """One pending authorization of a user for a connection."""

    id: str
    sub: str
    connection: Provider
    scopes: list[str]
    expires_at: float
    status: str = "pending"  # pending | declined | expired (authorized ones are forgotten: the token is there)

    def record(self) -> dict[str, Any]:
        return {"sub": self.sub, "connection": self.connection.name, "scopes": self.scopes,
                "expires_at": self.expires_at, "status": self.status}

    @classmethod
    def from_record(cls, eid: str, value: dict[str, Any]) -> "Elicitation | None":
        connection = find(value.get("connection", ""))
        if connection is None:
            return None
        return cls(eid, value["sub"], connection, list(value["scopes"]), float(value["expires_at"]),
                   value.get("status", "pending"))


def _current_key(sub: str, connection: str) -> str:
    return f"{connection}/{sub}"


class Elicitations:
    """The elicitations of one MCP server process, kept in `services.store` (shared with the linker and
    with every other process on the same database); only the sessions to notify are this process's."""

    def __init__(self, services: Services, base_url: str, oidc: OIDCProvider,
                 ttl_seconds: float = TTL_SECONDS) -> None:
        self.services = services
        self.store: BaseStore = services.store
        self.ttl_seconds = ttl_seconds
        self.base_url = base_url.rstrip("/")
        self.callback_url = self.base_url + "/auth/callback"
        self.oidc = oidc
        self.sign_in = ClickSignIn(services.settings, self.store, services.http, oidc)
        self._sessions: dict[str, ServerSession] = {}  # whom to notify, for the elicitations asked here
        self._swept_at = 0.0
        self._watcher: asyncio.Task[None] | None = None

    # -- the tool side --------------------------------------------------------------------------
    async def ask(self, sub: str, session: ServerSession | None, tool: str, connection: Provider,
                  step_up: AuthorizationRequired) -> dict[str, str]:
        """The `ask_authorization` hook of `tools.vault.call_with_token`: answers like `interrupt()`
        would (a status the tool explains), or raises -32042 with the URL for the client to open."""
        await self._sweep()
        current = await self._current(sub, connection.name)
        if current is not None and current.status != "pending":
            await self._forget(current)
            return {"status": current.status}
        if current is not None and current.expires_at <= time.time():
            await self._forget(current)
            return {"status": "expired"}
        if current is None or not set(step_up.required_scopes) <= set(current.scopes):
            scopes = sorted(set(step_up.required_scopes) | set(current.scopes if current else []))
            if current is not None:
                await self._forget(current)
            current = Elicitation(generate_token(24), sub, connection, scopes, time.time() + self.ttl_seconds)
            await self.store.aput(ELICITATIONS, current.id, current.record())
            await self.store.aput(CURRENT, _current_key(sub, connection.name),
                                  {"id": current.id, "expires_at": current.expires_at})
        if session is not None:
            self._sessions[current.id] = session
            self._watch()
        why = "grant more access to" if step_up.reason == "insufficient_scope" else "allow access to"
        message = f"Please {why} {connection.label} so that {tool} can run, then try again."
        raise UrlElicitationRequiredError(
            [ElicitRequestURLParams(mode="url", message=message, url=f"{self.base_url}/link/{current.id}",
                                    elicitationId=current.id)],
            message=f"Authorization for {connection.label} is required.")

    async def _get(self, eid: str) -> Elicitation | None:
        item = await self.store.aget(ELICITATIONS, eid) if eid else None
        return Elicitation.from_record(eid, item.value) if item is not None else None

    async def _current(self, sub: str, connection: str) -> Elicitation | None:
        pointer = await self.store.aget(CURRENT, _current_key(sub, connection))
        return await self._get(pointer.value["id"]) if pointer is not None else None

    async def _forget(self, elicitation: Elicitation) -> None:
        self._sessions.pop(elicitation.id, None)
        await self.store.adelete(ELICITATIONS, elicitation.id)
        key = _current_key(elicitation.sub, elicitation.connection.name)
        pointer = await self.store.aget(CURRENT, key)
        if pointer is not None and pointer.value.get("id") == elicitation.id:
            await self.store.adelete(CURRENT, key)

    async def _sweep(self) -> None:
        """Now and then, drop what expired long ago (links never opened, sign-ins never finished), so
        the store does not grow; any process sharing it may do it."""
        now = time.time()
        if now - self._swept_at < SWEEP_EVERY_SECONDS:
            return
        self._swept_at = now
        cutoff = now - max(self.ttl_seconds, TTL_SECONDS)
        for namespace, limit in ((ELICITATIONS, cutoff), (CURRENT, cutoff), (SIGN_INS, now)):
            for item in await self.store.asearch(namespace, limit=1000):
                if float(item.value.get("expires_at", 0)) < limit:
                    await self.store.adelete(namespace, item.key)

    def _watch(self) -> None:
        """Start watching the store for the elicitations whose sessions this process holds, unless it does."""
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(self._watch_loop(), name="mcp-elicitations")

    async def _watch_loop(self) -> None:
        """The callback may land on another process (or this one after a restart): when an elicitation
        asked here was answered there (its record gone or declined), notify the session here. Ends when
        no session waits; a read that fails is tried again on the next round."""
        while self._sessions:
            await asyncio.sleep(WATCH_EVERY_SECONDS)
            for eid, session in list(self._sessions.items()):
                try:
                    item = await self.store.aget(ELICITATIONS, eid)
                except Exception as exc:  # the database is away for a moment
                    log.info("could not check elicitation %s: %s", eid, type(exc).__name__)
                    break
                if item is not None and item.value.get("status") == "pending":
                    if float(item.value.get("expires_at", 0)) <= time.time():
                        self._sessions.pop(eid, None)  # nobody will answer it: the next call says so
                    continue
                if self._sessions.pop(eid, None) is session:
                    await self._notify(eid, session)

    # -- the browser side -----------------------------------------------------------------------
    def _page(self, outcome: LinkOutcome, next_step: str = "") -> Response:
        return outcome_page(outcome, next_step=next_step, app_url=self.services.settings.vault_agent_app_url,
                            return_to="your assistant")

    async def open_link(self, request: Request) -> Response:
        """`GET /link/{id}`: step 1, sign the user in at the tenant."""
        elicitation = await self._get(request.path_params["elicitation_id"])
        if elicitation is None or elicitation.status != "pending" or elicitation.expires_at <= time.time():
            return self._page(Expired(None))
        target = await self.sign_in.begin(elicitation.id, elicitation.sub, self.callback_url)
        return RedirectResponse(target, 302, headers={"cache-control": "no-store", "referrer-policy": "no-referrer"})

    async def callback(self, request: Request) -> Response:
        """`GET /auth/callback`: after the sign-in (step 2) or after the linking (step 3)."""
        url = str(request.url)
        if len(url) > 16384:
            return self._page(Failed(None, "bad_request", "The request is too large."))
        if await self.sign_in.is_sign_in(url):
            return await self._after_sign_in(await self.sign_in.finish(url))
        return await self._after_linking(await self.services.linker().complete(url, kept_credentials(self.services.settings)))

    async def _after_sign_in(self, signed: SignedIn | LinkOutcome) -> Response:
        if not isinstance(signed, SignedIn):
            return self._page(signed)
        elicitation = await self._get(signed.link_id)
        if elicitation is None or elicitation.status != "pending" or elicitation.expires_at <= time.time():
            return self._page(Expired(None))
        try:
            link = await self.services.linker().start(
                signed.credentials, elicitation.connection.name, elicitation.scopes, redirect_uri=self.callback_url,
                elicitation_id=elicitation.id, envelope=self._kept(signed))
        except AuthError as exc:
            return self._page(RetryLater(None, f"The authorization could not be started: {exc}")
                              if exc.retryable else Failed(None, "exchange_failed",
                                                           f"The authorization could not be started: {exc}"))
        return RedirectResponse(link.authorize_url, 302,
                                headers={"cache-control": "no-store", "referrer-policy": "no-referrer"})

    def _kept(self, signed: SignedIn) -> str:
        """Connected Accounts: the completion is a call to the user's My Account API, one request later,
        maybe on another process — so the sign-in's My Account token is kept with the pending request,
        sealed (`VAULT_AGENT_ENCRYPTION_KEY`), until then. link_account keeps nothing."""
        token = signed.credentials.my_account_token
        return keep_my_account_token(self.services.settings, signed.credentials.sub, token,
                                     self.ttl_seconds) if token else ""

    async def _after_linking(self, outcome: LinkOutcome) -> Response:
        link = outcome.link
        allowed = isinstance(outcome, Authorized) or (isinstance(outcome, RetryLater) and outcome.allowed)
        if link is not None and allowed:
            self.services.vault.invalidate(UserCredentials(link.user_sub), link.connection)
        elicitation = await self._get(link.elicitation_id or "") if link is not None else None
        if elicitation is None:
            return self._page(outcome)
        next_step = ""
        if allowed or isinstance(outcome, (Declined, Expired)):
            session = self._sessions.pop(elicitation.id, None)
            if allowed:
                await self._forget(elicitation)
                next_step = "The assistant carries on."
            else:
                elicitation.status = "expired" if isinstance(outcome, Expired) else "declined"
                await self.store.aput(ELICITATIONS, elicitation.id, elicitation.record())
            await self._notify(elicitation.id, session)
        elif isinstance(outcome, TenantRefused):
            next_step = "Open the link from the assistant again."
        return self._page(outcome, next_step)

    async def _notify(self, eid: str, session: ServerSession | None) -> None:
        """`notifications/elicitation/complete` to the session that asked, if it is connected to this
        process and still there; otherwise the client retries on its own (or when the user says so)."""
        if session is None:
            return
        try:
            await session.send_elicit_complete(eid)
        except Exception as exc:  # the client left: it will retry when it comes back
            log.info("could not notify elicitation %s: %s", eid, type(exc).__name__)

