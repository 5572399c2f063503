"""Authorization by URL-mode elicitation (MCP 2025-11-25): the MCP counterpart of the agent's interrupt.

A tool call that needs a connection Auth0 holds no token set for fails with JSON-RPC error -32042
(`UrlElicitationRequiredError`) carrying one URL on this server, `/link/{elicitation_id}`. Opening it:

1. signs the user in at the tenant (a plain OpenID login, silent with an Auth0 session). The MCP client
   only gave us an access token, but the tenant's linking Action wants a fresh ID token of the same
   user as `id_token_hint` — and the login proves that whoever opened the URL is the user who asked
   (a URL forwarded to someone else fails here);
2. sends the browser on to the link_account (or Connected Accounts) URL that `AccountLinker.start`
   builds, with this server's `/auth/callback` as redirect URI;
3. back on `/auth/callback`, `AccountLinker.complete` finishes the linking, and the MCP session that
   asked gets `notifications/elicitation/complete`, so the client retries the call.

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
from urllib.parse import urlencode

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from langgraph.store.base import BaseStore
from mcp.server.session import ServerSession
from mcp.shared.exceptions import UrlElicitationRequiredError
from mcp.types import ElicitRequestURLParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from agent.pages import page
from auth.credentials import UserCredentials
from auth.errors import AuthError, AuthorizationRequired, LinkingError
from auth.oidc import InvalidToken, OIDCProvider
from auth.token_endpoint import token_request
from tools.providers import Provider, find
from tools.services import Services

log = logging.getLogger(__name__)

TTL_SECONDS = 600


ELICITATIONS = ("vault_agent", "mcp_elicitations")  # by id: the pending (or declined) request
CURRENT = ("vault_agent", "mcp_elicitation_current")  # by user and connection: the id of the current one
LOGINS = ("vault_agent", "mcp_logins")  # by the sign-in's state: what its callback needs
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
    status: str = "pending"  # pending | declined (authorized ones are forgotten: the token is there)

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


@dataclass(frozen=True)
class _Login:
    elicitation_id: str
    nonce: str
    verifier: str
    expires_at: float


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
        for namespace, limit in ((ELICITATIONS, cutoff), (CURRENT, cutoff), (LOGINS, now)):
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

    async def _pop_login(self, state: str) -> _Login | None:
        """The sign-in's record, single use."""
        item = await self.store.aget(LOGINS, state) if state else None
        if item is None:
            return None
        await self.store.adelete(LOGINS, state)
        v = item.value
        return _Login(v["elicitation_id"], v["nonce"], v["verifier"], float(v["expires_at"]))

    # -- the browser side -----------------------------------------------------------------------
    async def open_link(self, request: Request) -> Response:
        """`GET /link/{id}`: step 1, sign the user in at the tenant."""
        elicitation = await self._get(request.path_params["elicitation_id"])
        if elicitation is None or elicitation.status != "pending" or elicitation.expires_at <= time.time():
            return page("This link has expired", "Ask the assistant again for a new one.", 404)
        settings = self.services.settings
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        await self.store.aput(LOGINS, state, {"elicitation_id": elicitation.id, "nonce": nonce, "verifier": verifier,
                                              "expires_at": time.time() + self.ttl_seconds})
        params = {"response_type": "code", "client_id": settings.auth0_client_id,
                  "redirect_uri": self.callback_url, "scope": "openid", "state": state, "nonce": nonce,
                  "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"}
        return RedirectResponse(settings.auth0_base_url + "/authorize?" + urlencode(params), 302,
                                headers={"cache-control": "no-store", "referrer-policy": "no-referrer"})

    async def callback(self, request: Request) -> Response:
        """`GET /auth/callback`: after the login (step 2) or after the linking (step 3)."""
        if len(str(request.url)) > 16384:
            return page("That did not work", "The request is too large.", 400)
        login = await self._pop_login(request.query_params.get("state", ""))
        if login is not None:
            return await self._after_login(request, login)
        return await self._after_linking(request)

    async def _after_login(self, request: Request, login: _Login) -> Response:
        elicitation = await self._get(login.elicitation_id)
        if elicitation is None or login.expires_at <= time.time():
            return page("This link has expired", "Ask the assistant again for a new one.", 400)
        if "error" in request.query_params:
            return page("Sign-in did not complete", request.query_params.get("error_description", "")
                         or request.query_params["error"], 400)
        settings = self.services.settings
        try:
            tokens = await token_request(self.services.http, settings, {
                "grant_type": "authorization_code", "code": request.query_params.get("code", ""),
                "redirect_uri": self.callback_url, "code_verifier": login.verifier})
            claims = await self.oidc.validate(tokens.get("id_token", ""), audience=settings.auth0_client_id,
                                              nonce=login.nonce)
        except (AuthError, InvalidToken) as exc:
            return page("Sign-in did not complete", str(exc), 400)
        if claims.get("sub") != elicitation.sub:
            return page("Wrong account", "You signed in as another user than the one the assistant works "
                         "for. Sign in with that account and open the link again.", 403)
        user = UserCredentials(elicitation.sub, tokens["id_token"])
        try:
            link = await self.services.linker().start(
                user, elicitation.connection.name, elicitation.scopes, redirect_uri=self.callback_url,
                extra={"elicitation_id": elicitation.id})
        except AuthError as exc:
            return page("Could not start the authorization", str(exc), 502)
        return RedirectResponse(link.authorize_url, 302,
                                headers={"cache-control": "no-store", "referrer-policy": "no-referrer"})

    async def _after_linking(self, request: Request) -> Response:
        try:
            result = await self.services.linker().complete(str(request.url))
        except LinkingError as exc:
            return page("That did not work", str(exc), 400)
        elicitation = await self._get(str(result.extra.get("elicitation_id", "")))
        if result.status == "authorized":
            self.services.vault.invalidate(UserCredentials(result.user_sub), result.connection)
        if elicitation is None:
            return page("Connected", "You can close this tab.")
        session = self._sessions.pop(elicitation.id, None)
        if result.status == "authorized":
            await self._forget(elicitation)
        else:
            elicitation.status = "declined"
            await self.store.aput(ELICITATIONS, elicitation.id, elicitation.record())
        await self._notify(elicitation.id, session)
        if result.status == "declined":
            return page("Access declined", "The assistant will tell you what it could not do. "
                         "You can close this tab.")
        return page("Done — you can close this tab", f"Access to {elicitation.connection.label} granted. "
                     "The assistant carries on.")

    async def _notify(self, eid: str, session: ServerSession | None) -> None:
        """`notifications/elicitation/complete` to the session that asked, if it is connected to this
        process and still there; otherwise the client retries on its own (or when the user says so)."""
        if session is None:
            return
        try:
            await session.send_elicit_complete(eid)
        except Exception as exc:  # the client left: it will retry when it comes back
            log.info("could not notify elicitation %s: %s", eid, type(exc).__name__)

