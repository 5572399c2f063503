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
Everything here lives in this process's memory and holds no token: the login's ID token is used for
`id_token_hint` and dropped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from html import escape
from urllib.parse import urlencode

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from mcp.server.session import ServerSession
from mcp.shared.exceptions import UrlElicitationRequiredError
from mcp.types import ElicitRequestURLParams
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from auth.credentials import UserCredentials
from auth.errors import AuthError, AuthorizationRequired, LinkingError
from auth.oidc import InvalidToken, OIDCProvider
from auth.token_endpoint import token_request
from tools.providers import Provider
from tools.services import Services

log = logging.getLogger(__name__)

TTL_SECONDS = 600
PAGE = ("<!doctype html><html><head><meta charset='utf-8'><title>vault-agent</title></head>"
        "<body style='font-family:system-ui;max-width:32rem;margin:4rem auto'><h1>{title}</h1><p>{body}</p>"
        "</body></html>")


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=escape(title), body=escape(body)), status,
                        headers={"cache-control": "no-store", "referrer-policy": "no-referrer"})


@dataclass
class Elicitation:
    """One pending authorization of a user for a connection."""

    id: str
    sub: str
    connection: Provider
    scopes: list[str]
    expires_at: float
    status: str = "pending"  # pending | declined (authorized ones are forgotten: the token is there)
    session: ServerSession | None = field(default=None, repr=False)  # whom to notify


@dataclass(frozen=True)
class _Login:
    elicitation_id: str
    nonce: str
    verifier: str
    expires_at: float


class Elicitations:
    def __init__(self, services: Services, base_url: str, oidc: OIDCProvider,
                 ttl_seconds: float = TTL_SECONDS) -> None:
        self.services = services
        self.ttl_seconds = ttl_seconds
        self.base_url = base_url.rstrip("/")
        self.callback_url = self.base_url + "/auth/callback"
        self.oidc = oidc
        self._by_id: dict[str, Elicitation] = {}
        self._by_user: dict[tuple[str, str], str] = {}
        self._logins: dict[str, _Login] = {}

    # -- the tool side --------------------------------------------------------------------------
    async def ask(self, sub: str, session: ServerSession | None, tool: str, connection: Provider,
                  step_up: AuthorizationRequired) -> dict[str, str]:
        """The `ask_authorization` hook of `tools.vault.call_with_token`: answers like `interrupt()`
        would (a status the tool explains), or raises -32042 with the URL for the client to open."""
        self._sweep()
        current = self._current(sub, connection.name)
        if current is not None and current.status != "pending":
            self._forget(current)
            return {"status": current.status}
        if current is not None and current.expires_at <= time.time():
            self._forget(current)
            return {"status": "expired"}
        if current is None or not set(step_up.required_scopes) <= set(current.scopes):
            scopes = sorted(set(step_up.required_scopes) | set(current.scopes if current else []))
            if current is not None:
                self._forget(current)
            current = Elicitation(generate_token(24), sub, connection, scopes, time.time() + self.ttl_seconds)
            self._by_id[current.id] = current
            self._by_user[(sub, connection.name)] = current.id
        current.session = session
        why = "grant more access to" if step_up.reason == "insufficient_scope" else "allow access to"
        message = f"Please {why} {connection.label} so that {tool} can run, then try again."
        raise UrlElicitationRequiredError(
            [ElicitRequestURLParams(mode="url", message=message, url=f"{self.base_url}/link/{current.id}",
                                    elicitationId=current.id)],
            message=f"Authorization for {connection.label} is required.")

    def _current(self, sub: str, connection: str) -> Elicitation | None:
        eid = self._by_user.get((sub, connection))
        return self._by_id.get(eid) if eid else None

    def _forget(self, elicitation: Elicitation) -> None:
        self._by_id.pop(elicitation.id, None)
        if self._by_user.get((elicitation.sub, elicitation.connection.name)) == elicitation.id:
            del self._by_user[(elicitation.sub, elicitation.connection.name)]

    def _sweep(self) -> None:
        """Drop what expired long ago, so an idle server's memory does not grow."""
        cutoff = time.time() - max(self.ttl_seconds, TTL_SECONDS)
        for e in [e for e in self._by_id.values() if e.expires_at < cutoff]:
            self._forget(e)
        for state in [s for s, login in self._logins.items() if login.expires_at < time.time()]:
            del self._logins[state]

    # -- the browser side -----------------------------------------------------------------------
    async def open_link(self, request: Request) -> Response:
        """`GET /link/{id}`: step 1, sign the user in at the tenant."""
        elicitation = self._by_id.get(request.path_params["elicitation_id"])
        if elicitation is None or elicitation.status != "pending" or elicitation.expires_at <= time.time():
            return _page("This link has expired", "Ask the assistant again for a new one.", 404)
        settings = self.services.settings
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        self._logins[state] = _Login(elicitation.id, nonce, verifier, time.time() + self.ttl_seconds)
        params = {"response_type": "code", "client_id": settings.auth0_client_id,
                  "redirect_uri": self.callback_url, "scope": "openid", "state": state, "nonce": nonce,
                  "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"}
        return RedirectResponse(settings.auth0_base_url + "/authorize?" + urlencode(params), 302,
                                headers={"cache-control": "no-store", "referrer-policy": "no-referrer"})

    async def callback(self, request: Request) -> Response:
        """`GET /auth/callback`: after the login (step 2) or after the linking (step 3)."""
        if len(str(request.url)) > 16384:
            return _page("That did not work", "The request is too large.", 400)
        login = self._logins.pop(request.query_params.get("state", ""), None)
        if login is not None:
            return await self._after_login(request, login)
        return await self._after_linking(request)

    async def _after_login(self, request: Request, login: _Login) -> Response:
        elicitation = self._by_id.get(login.elicitation_id)
        if elicitation is None or login.expires_at <= time.time():
            return _page("This link has expired", "Ask the assistant again for a new one.", 400)
        if "error" in request.query_params:
            return _page("Sign-in did not complete", request.query_params.get("error_description", "")
                         or request.query_params["error"], 400)
        settings = self.services.settings
        try:
            tokens = await token_request(self.services.http, settings, {
                "grant_type": "authorization_code", "code": request.query_params.get("code", ""),
                "redirect_uri": self.callback_url, "code_verifier": login.verifier})
            claims = await self.oidc.validate(tokens.get("id_token", ""), audience=settings.auth0_client_id,
                                              nonce=login.nonce)
        except (AuthError, InvalidToken) as exc:
            return _page("Sign-in did not complete", str(exc), 400)
        if claims.get("sub") != elicitation.sub:
            return _page("Wrong account", "You signed in as another user than the one the assistant works "
                         "for. Sign in with that account and open the link again.", 403)
        user = UserCredentials(elicitation.sub, tokens["id_token"])
        try:
            link = await self.services.linker().start(
                user, elicitation.connection.name, elicitation.scopes, redirect_uri=self.callback_url,
                extra={"elicitation_id": elicitation.id})
        except AuthError as exc:
            return _page("Could not start the authorization", str(exc), 502)
        return RedirectResponse(link.authorize_url, 302,
                                headers={"cache-control": "no-store", "referrer-policy": "no-referrer"})

    async def _after_linking(self, request: Request) -> Response:
        try:
            result = await self.services.linker().complete(str(request.url))
        except LinkingError as exc:
            return _page("That did not work", str(exc), 400)
        elicitation = self._by_id.get(str(result.extra.get("elicitation_id", "")))
        if result.status == "authorized":
            self.services.vault.invalidate(UserCredentials(result.user_sub), result.connection)
        if elicitation is None:
            return _page("Connected", "You can close this tab.")
        if result.status == "authorized":
            self._forget(elicitation)
        else:
            elicitation.status = "declined"
        await self._notify(elicitation)
        if result.status == "declined":
            return _page("Access declined", "The assistant will tell you what it could not do. "
                         "You can close this tab.")
        return _page("Done — you can close this tab", f"Access to {elicitation.connection.label} granted. "
                     "The assistant carries on.")

    async def _notify(self, elicitation: Elicitation) -> None:
        """`notifications/elicitation/complete` to the session that asked, if it is still there."""
        if elicitation.session is None:
            return
        try:
            await elicitation.session.send_elicit_complete(elicitation.id)
        except Exception as exc:  # the client left: it will retry when it comes back
            log.info("could not notify elicitation %s: %s", elicitation.id, type(exc).__name__)

