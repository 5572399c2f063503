"""Account linking, start to finish (docs/protocols.md §2, §3): `start()` a request, `complete()` it from
the callback URL into a typed `LinkOutcome`.

Two ways to fill Token Vault, chosen by `AUTH0_LINK_MODE`:
- link_account (client-initiated account linking, the post-login Action): an `/authorize` URL with
  `link_account`, `requested_connection`, `requested_connection_scope`, a fresh `id_token_hint` and PKCE;
  completed by the code exchange (ID token checked: signature, issuer, audience, nonce, same `sub`);
- connected_accounts (My Account API): `connect` answers a `connect_uri` + ticket; completed with
  `auth_session`, `connect_code`, `redirect_uri` and the PKCE verifier.

Where the credentials for the request come from: a caller that holds the user's refresh token (CLI,
notebooks) mints them at `start()`. A caller that holds only an access token (the LangGraph server)
starts a request with `sign_in_at_click=True`: the URL it hands out is its own link page, which signs
the user in when they open it (`ClickSignIn`) and then calls `arm()` with credentials minted right then —
so the link works however late it is clicked.

The pending request lives in a LangGraph `BaseStore`, so a run paused on one worker can be completed on
another. `state` is the only thing a callback is trusted for: single use, bounded life, and it binds the
user, the thread and what the caller needs to resume. A transient failure of the code exchange or the
JWKS fetch is retried with backoff; when it still fails the request is kept (`RetryLater`), and is
deleted only once completing succeeded, under a per-state lock — the code is single use at the tenant,
so two concurrent completions of one state cannot both succeed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from langgraph.store.base import BaseStore

from ..authorize_url import Secrets, authorize_url
from ..credentials import UserCredentials
from ..error_body import error_field
from ..errors import AuthError, LinkingError, Misconfigured, SessionExpired, TransientError
from ..oidc import InvalidToken, OIDCProvider
from ..settings import LinkMode, Settings
from ..token_endpoint import token_request
from .outcomes import (
    RETRYABLE_ERRORS,
    Authorized,
    Declined,
    Expired,
    Failed,
    LinkOutcome,
    RetryLater,
    TenantRefused,
    WrongAccount,
    refused_by_tenant,
)
from .pending import PendingLink, PendingLinks

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 600
#: A link page signs the user in when opened, so it needs no fresh token at pause time and may wait long.
PAGE_TTL_SECONDS = 24 * 3600
MY_ACCOUNT_SCOPES = "create:me:connected_accounts read:me:connected_accounts delete:me:connected_accounts"
MAX_PARAM_LENGTH = 4096
LINK_SCOPE = "openid profile offline_access link_account"
LINK_PAGE_PATH = "/link/"


def link_page_url(redirect_uri: str, link_id: str) -> str:
    """A server's own link page, next to its callback: `http://HOST:PORT/link/{id}`."""
    parts = urlsplit(redirect_uri)
    return f"{parts.scheme}://{parts.netloc}{LINK_PAGE_PATH}{link_id}"


class AccountLinker:
    #: Attempts at a call to the tenant while starting or completing, and the first pause between them
    #: (doubled each time): enough to ride out a blip, short enough for a browser waiting on the page.
    attempts = 3
    backoff_seconds = 0.25

    def __init__(self, settings: Settings, store: BaseStore, *, http: httpx.AsyncClient | None = None,
                 oidc: OIDCProvider | None = None, ttl_seconds: float = DEFAULT_TTL_SECONDS,
                 page_ttl_seconds: float | None = None) -> None:
        self.settings = settings
        self.store = store
        self.pending = PendingLinks(store)
        self._http = http or httpx.AsyncClient(timeout=settings.http_timeout_seconds)
        self.oidc = oidc or OIDCProvider(settings, self._http)
        self.ttl_seconds = ttl_seconds
        self.page_ttl_seconds = page_ttl_seconds or settings.vault_agent_link_page_ttl_seconds or PAGE_TTL_SECONDS
        self._state_locks: dict[str, list[Any]] = {}  # state → [lock, number of completions using it]
        # Tokens from a code exchange whose ID token could not be checked yet (JWKS unreachable), by
        # state, in this process's memory only: the code is spent, so a reload re-checks these instead.
        self._exchanged: dict[str, tuple[dict[str, Any], float]] = {}  # state → (tokens, expires_at)

    @property
    def mode(self) -> LinkMode:
        return self.settings.auth0_link_mode

    # -- start ------------------------------------------------------------------------------------
    async def start(self, user: UserCredentials, connection: str, scopes: Sequence[str], *,
                    redirect_uri: str | None = None, thread_id: str | None = None,
                    tool_call_id: str | None = None, tool: str | None = None,
                    elicitation_id: str | None = None, envelope: str = "",
                    request_key: str | None = None, sign_in_at_click: bool = False) -> PendingLink:
        """A pending request for linking `connection` with `scopes`; its `authorize_url` is what the user opens.

        `request_key` makes the call idempotent: a tool replayed by LangGraph after a resume gets the
        same pending request back instead of minting a new state. `sign_in_at_click`: the URL is the
        link page next to `redirect_uri`, and the tenant URL is built when the user opens it (`arm`)."""
        if request_key:
            existing = await self._by_key(request_key, redirect_uri)
            if existing is not None:
                return existing
        redirect_uri = redirect_uri or self.settings.auth0_callback_url
        if not redirect_uri:
            raise Misconfigured("No callback URL: set AUTH0_CALLBACK_URL.")
        secrets = Secrets.new()
        ttl = self.page_ttl_seconds if sign_in_at_click else self.ttl_seconds
        link = PendingLink(secrets.state, user.sub, connection, list(scopes), redirect_uri, time.time() + ttl,
                           nonce=secrets.nonce, code_verifier=secrets.code_verifier,
                           sign_in_at_click=sign_in_at_click, thread_id=thread_id, tool_call_id=tool_call_id,
                           tool=tool, elicitation_id=elicitation_id, envelope=envelope)
        if sign_in_at_click:
            link = link.but(authorize_url=link_page_url(redirect_uri, link.state))
        else:
            link = await self._tenant_url(link, user)
        # The tenant URL carries the ID token (`id_token_hint`): kept only for a caller that may ask again.
        await self.pending.put(link if request_key or sign_in_at_click else link.but(authorize_url=""))
        if request_key:
            await self.pending.put_key(request_key, link)
        return link

    async def arm(self, state: str, user: UserCredentials, *, envelope: str | None = None) -> str | LinkOutcome:
        """The link page was opened and `user` signed in just now: the tenant URL for request `state`,
        built with their fresh credentials (`envelope` replaces the kept one when given). An outcome
        instead when the request cannot go on (expired, unknown, another user)."""
        link = await self._live(state)
        if not isinstance(link, PendingLink):
            return link
        if user.sub != link.user_sub:
            return WrongAccount(link)
        try:
            armed = await self._tenant_url(link.but(envelope=envelope if envelope is not None else link.envelope),
                                           user)
        except TransientError as exc:
            return RetryLater(link, f"Auth0 could not be reached ({exc}). Open the link again in a moment.")
        except AuthError as exc:  # e.g. the My Account API refused the connect request
            return Failed(link, "exchange_failed", f"The authorization could not be started: {exc}")
        await self.pending.put(armed.but(authorize_url=link.authorize_url))  # the page URL stays the one kept
        return armed.authorize_url

    async def _tenant_url(self, link: PendingLink, user: UserCredentials) -> PendingLink:
        """The request's URL at the tenant, with credentials minted now."""
        secrets = Secrets(link.state, link.nonce, link.code_verifier)
        if self.mode is LinkMode.connected_accounts:
            answer = await self._my_account(user, "connect", {
                "connection": link.connection, "redirect_uri": link.redirect_uri, "state": link.state,
                "scopes": list(link.scopes), "code_challenge": create_s256_code_challenge(link.code_verifier),
                "code_challenge_method": "S256"})
            url = answer["connect_uri"] + "?" + urlencode(answer.get("connect_params", {}))
            return link.but(authorize_url=url, auth_session=answer["auth_session"])
        url = authorize_url(self.settings, redirect_uri=link.redirect_uri, scope=LINK_SCOPE, secrets=secrets,
                            requested_connection=link.connection,
                            # The Action passes this on as the provider's connection_scope, split on commas.
                            requested_connection_scope=",".join(link.scopes),
                            id_token_hint=await self._fresh_id_token(user),
                            audience=self.settings.auth0_audience)
        return link.but(authorize_url=url)

    async def _by_key(self, request_key: str, redirect_uri: str | None) -> PendingLink | None:
        pointer = await self.pending.by_key(request_key)
        if pointer is None:
            return None
        link = await self.pending.get(pointer["state"])
        if link is None:
            # Answered already (the state is single use): this is LangGraph replaying the tool on resume, and
            # `interrupt()` will return the answer — so hand back the same request (its URL is spent and not
            # kept) rather than minting a new state and refreshing the ID token for nothing.
            if "connection" not in pointer:
                return None
            return PendingLink(pointer["state"], "", pointer["connection"], pointer["scopes"], redirect_uri or "",
                               float(pointer["expires_at"]))
        if link.is_expired():
            return None
        return link

    async def is_live(self, state: str, *, margin_seconds: float = 30.0) -> bool:
        """Whether a callback for `state` could still complete: pending and not about to expire. A
        paused thread whose link is not live must be offered a fresh one."""
        link = await self.pending.get(state)
        return link is not None and not link.is_expired(margin_seconds)

    # -- credentials for the tenant ---------------------------------------------------------------
    async def _fresh_id_token(self, user: UserCredentials) -> str:
        """The Action refuses an id_token_hint older than ten minutes: refresh one when we can."""
        if not user.refresh_token:
            if not user.id_token:
                raise SessionExpired("no ID token to send as id_token_hint: log in again.")
            return user.id_token
        body = await self._with_retries(lambda: self._token_request({
            "grant_type": "refresh_token", "refresh_token": user.refresh_token, "scope": "openid profile email"}))
        return body.get("id_token") or user.id_token

    async def _my_account_token(self, user: UserCredentials | None) -> str:
        if user is not None and user.my_account_token:  # minted at click time by the link page's sign-in
            return user.my_account_token
        if user is None or not user.refresh_token:
            raise Misconfigured("AUTH0_LINK_MODE=connected_accounts needs a My Account API token, and none "
                                "is at hand: open the authorization link again.")
        body = await self._with_retries(lambda: self._token_request({
            "grant_type": "refresh_token", "refresh_token": user.refresh_token,
            "audience": self.settings.auth0_base_url + "/me/", "scope": MY_ACCOUNT_SCOPES}))
        return body["access_token"]

    async def _my_account(self, user: UserCredentials | None, path: str, body: dict[str, Any]) -> dict[str, Any]:
        token = await self._my_account_token(user)
        try:
            response = await self._http.post(self.settings.auth0_base_url + "/me/v1/connected-accounts/" + path,
                                             json=body, headers={"Authorization": f"Bearer {token}"})
        except httpx.TransportError as exc:
            raise TransientError(f"Auth0 could not be reached ({type(exc).__name__}).") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(f"the My Account API answered {response.status_code}.")
        if response.status_code != 201:
            detail = error_field(response, "detail")
            raise LinkingError("exchange_failed", f"My Account API answered {response.status_code}: {detail}".strip())
        return response.json()

    async def _with_retries(self, call: Callable[[], Any]) -> Any:
        """`call()` again after a `TransientError`, with backoff; the last error if every attempt failed."""
        delay = self.backoff_seconds
        for attempt in range(self.attempts):
            try:
                return await call()
            except TransientError:
                if attempt + 1 >= self.attempts:
                    raise
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    # -- complete ---------------------------------------------------------------------------------
    async def complete(self, callback_url: str,
                       credentials_for: Callable[[PendingLink], UserCredentials | None] | None = None) -> LinkOutcome:
        """The outcome of the callback the browser was sent back to (never raises for what a browser brings).

        `credentials_for(link)` is needed only in connected_accounts mode, where completing is a call to
        the user's My Account API (the pending request holds no readable token to make it)."""
        if len(callback_url) > 4 * MAX_PARAM_LENGTH:
            return Failed(None, "bad_request", "The callback URL is too long.")
        query = dict(parse_qsl(urlsplit(callback_url).query, keep_blank_values=True))
        if any(len(v) > MAX_PARAM_LENGTH for v in query.values()):
            return Failed(None, "bad_request", "A callback parameter is too long.")
        state = query.get("state", "")
        if not state:
            return Failed(None, "bad_request", "The callback carries no state.")
        entry = self._state_locks.setdefault(state, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:  # one completion of a state at a time in this process
                return await self._complete_locked(callback_url, query, state, credentials_for)
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._state_locks.pop(state, None)

    async def _complete_locked(self, callback_url: str, query: dict[str, str], state: str,
                               credentials_for: Callable[[PendingLink], UserCredentials | None] | None
                               ) -> LinkOutcome:
        link = await self._live(state)
        if not isinstance(link, PendingLink):
            return link
        if _base(callback_url) != _base(link.redirect_uri):
            return Failed(None, "bad_request", "The callback arrived on an unexpected redirect URI.")
        if "error" in query:
            error, description = query["error"], query.get("error_description", "")
            if error in RETRYABLE_ERRORS:  # the tenant's trouble, not an answer: the request stays
                return RetryLater(link, f"Auth0 could not answer just now ({error}). Open the authorization "
                                        "link again in a moment.")
            await self._consume(state)
            if refused_by_tenant(error, description):
                return TenantRefused(link, description)
            if error == "access_denied":
                return Declined(link, description)
            return TenantRefused(link, f"{error}: {description}".strip(": "))
        try:
            if link.auth_session:
                return await self._complete_connect(link, query, credentials_for)
            return await self._complete_code(link, query)
        except _Retry as exc:
            return RetryLater(link, exc.message, allowed=True)
        except LinkingError as exc:
            if exc.code == "user_mismatch":
                return WrongAccount(link)
            return Failed(link, exc.code, str(exc))

    async def _complete_connect(self, link: PendingLink, query: dict[str, str],
                                credentials_for: Callable[[PendingLink], UserCredentials | None] | None
                                ) -> LinkOutcome:
        user = credentials_for(link) if credentials_for else None
        await self._retrying(lambda: self._my_account(user, "complete", {
            "auth_session": link.auth_session, "connect_code": query.get("connect_code", ""),
            "redirect_uri": link.redirect_uri, "code_verifier": link.code_verifier}))
        await self._consume(link.state)
        return Authorized(link)

    async def _complete_code(self, link: PendingLink, query: dict[str, str]) -> LinkOutcome:
        code = query.get("code", "")
        if not code:
            return Failed(link, "bad_request", "The callback carries neither a code nor an error.")
        now = time.time()
        for stale in [s for s, (_, until) in self._exchanged.items() if until <= now]:
            del self._exchanged[stale]
        tokens = self._exchanged[link.state][0] if link.state in self._exchanged else None
        if tokens is None:
            tokens = await self._exchange(code, link)
            if tokens is None:  # our own earlier attempt spent the code and its answer was lost
                await self._consume(link.state)
                return Authorized(link, confirmed=False)
            self._exchanged[link.state] = (tokens, link.expires_at)
        claims = await self._retrying(lambda: self._validate(tokens, link.nonce))
        self._exchanged.pop(link.state, None)
        await self._consume(link.state)
        if claims.get("sub") != link.user_sub:
            return WrongAccount(link)
        credentials = UserCredentials(claims["sub"], tokens.get("id_token", ""), tokens.get("refresh_token"),
                                      tokens.get("access_token"))
        return Authorized(link, credentials=credentials)

    async def _exchange(self, code: str, link: PendingLink) -> dict[str, Any] | None:
        """The code exchange, retried on transient failures. None when the code turns out spent after an
        attempt whose answer never arrived — in this call or an earlier one (the tenant did the
        exchange: the link is done)."""
        lost_answer = link.exchange_attempted

        async def once() -> dict[str, Any]:
            nonlocal lost_answer
            try:
                return await self._token_request({"grant_type": "authorization_code", "code": code,
                                                  "redirect_uri": link.redirect_uri,
                                                  "code_verifier": link.code_verifier})
            except TransientError:
                if not lost_answer:  # remembered, so a reload that finds the code spent knows why
                    lost_answer = True
                    await self.pending.put(link.but(exchange_attempted=True))
                raise

        try:
            return await self._retrying(once)
        except LinkingError as exc:
            if lost_answer and isinstance(exc.__cause__, SessionExpired):
                log.warning("linking code already spent after a lost answer; carrying on unconfirmed")
                return None
            raise

    async def _validate(self, tokens: dict[str, Any], nonce: str) -> dict[str, Any]:
        try:
            return await self.oidc.validate(tokens.get("id_token", ""), audience=self.settings.auth0_client_id,
                                            nonce=nonce)
        except InvalidToken as exc:
            if isinstance(exc.__cause__, httpx.HTTPError):  # the JWKS could not be fetched: not the token's fault
                raise TransientError("Auth0's signing keys could not be fetched.") from exc
            raise

    async def _retrying(self, call: Callable[[], Any]) -> Any:
        """`call()` with retries, every failure mapped: a transient one that outlasts the retries is
        `_Retry` (the request stays for a reload), the rest a `LinkingError`."""
        try:
            return await self._with_retries(call)
        except TransientError as exc:
            raise _Retry(f"Auth0 could not finish the authorization right now ({exc}) "
                         "Reload this page to try again.") from exc
        except (SessionExpired, Misconfigured) as exc:
            raise LinkingError("exchange_failed", f"The authorization could not be finished: {exc}") from exc
        except InvalidToken as exc:
            raise LinkingError("invalid_id_token", f"The ID token from Auth0 is not valid: {exc}") from exc

    async def _live(self, state: str) -> PendingLink | LinkOutcome:
        """The pending request for `state`, or the outcome when there is none to act on: unknown (or already
        used), or expired — an expired one is consumed, since nothing can complete it any more."""
        link = await self.pending.get(state)
        if link is None:
            return Failed(None, "unknown_state", "This authorization link is unknown or was already used.")
        if link.is_expired():
            await self._consume(state)
            return Expired(link)
        return link

    async def _consume(self, state: str) -> None:
        """Single use: forget the pending request once it has been answered for good."""
        self._exchanged.pop(state, None)
        await self.pending.delete(state)

    async def _token_request(self, form: dict[str, str]) -> dict[str, Any]:
        return await token_request(self._http, self.settings, form)


class _Retry(AuthError):
    """Internal: Auth0 could not finish in time; the pending request stays."""

    retryable = True

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def _base(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc, parts.path
