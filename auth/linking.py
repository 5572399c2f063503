"""Client-initiated account linking (docs/protocols.md §2): build the `link_account` authorize URL, keep the
pending request by `state`, and complete it from the callback URL.

The pending request lives in a LangGraph `BaseStore` (in-memory, SQLite or Postgres — whichever the
agent uses), so a run paused on one worker can be completed on another. `state` is the only thing a
callback is trusted for: it is single use, expires after ten minutes, and binds the user, the thread and
whatever the caller needs to resume.

Completing survives a flaky tenant: a transient failure of the code exchange or of the JWKS fetch is
retried with backoff, and when it still fails the pending request is kept (a reload of the callback page
finishes it) and a retryable `LinkingError` says so. The request is deleted only once completing
succeeded, under a per-state lock, and the authorization code is single use at the tenant — so two
concurrent completions of one state cannot both succeed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from langgraph.store.base import BaseStore

from .credentials import UserCredentials
from .error_body import error_field
from .errors import LinkingError, Misconfigured, SessionExpired, TransientError
from .oidc import InvalidToken, OIDCProvider
from .settings import LinkMode, Settings
from .token_endpoint import token_request

log = logging.getLogger(__name__)

NAMESPACE = ("vault_agent", "link_requests")
KEYS_NAMESPACE = ("vault_agent", "link_request_keys")
DEFAULT_TTL_SECONDS = 600
MY_ACCOUNT_SCOPES = "create:me:connected_accounts read:me:connected_accounts delete:me:connected_accounts"
MAX_PARAM_LENGTH = 4096


@dataclass(frozen=True)
class LinkRequest:
    connection: str
    scopes: list[str]
    authorize_url: str
    state: str
    expires_at: datetime


@dataclass(frozen=True)
class LinkResult:
    state: str
    status: Literal["authorized", "declined", "expired"]
    user_sub: str
    connection: str
    scopes: list[str]
    thread_id: str | None
    extra: dict[str, Any]
    credentials: UserCredentials | None = field(default=None, repr=False, compare=False)
    #: False when the tenant redirected with a code (the user allowed, the account is linked) but the
    #: code exchange could not be finished: no credentials, the Token Vault exchange will tell.
    confirmed: bool = True


class AccountLinker:
    #: Attempts at a call to the tenant while starting or completing, and the first pause between them
    #: (doubled each time): enough to ride out a blip, short enough for a browser waiting on the page.
    attempts = 3
    backoff_seconds = 0.25

    def __init__(self, settings: Settings, store: BaseStore, *, http: httpx.AsyncClient | None = None,
                 oidc: OIDCProvider | None = None, ttl_seconds: float = DEFAULT_TTL_SECONDS) -> None:
        self.settings = settings
        self.store = store
        self._http = http or httpx.AsyncClient(timeout=settings.http_timeout_seconds)
        self.oidc = oidc or OIDCProvider(settings, self._http)
        self.ttl_seconds = ttl_seconds
        self._state_locks: dict[str, list[Any]] = {}  # state → [lock, number of completions using it]
        # Tokens from a code exchange whose ID token could not be checked yet (JWKS unreachable), by
        # state, in this process's memory only: the code is spent, so a reload re-checks these instead.
        self._exchanged: dict[str, tuple[dict[str, Any], float]] = {}  # state → (tokens, expires_at)

    # -- start ------------------------------------------------------------------------------------
    async def start(self, user: UserCredentials, connection: str, scopes: Sequence[str], *,
                    redirect_uri: str | None = None, thread_id: str | None = None,
                    extra: dict[str, Any] | None = None, request_key: str | None = None) -> LinkRequest:
        """A ready authorize URL for linking `connection` with `scopes`.

        `request_key` makes the call idempotent: a tool replayed by LangGraph after a resume gets the
        same pending request back instead of minting a new state.
        """
        if request_key:
            existing = await self._by_key(request_key)
            if existing is not None:
                return existing
        redirect_uri = redirect_uri or self.settings.auth0_callback_url
        if not redirect_uri:
            raise Misconfigured("No callback URL: set AUTH0_CALLBACK_URL.")
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        if self.settings.auth0_link_mode is LinkMode.connected_accounts:
            url, auth_session = await self._connect_request(user, connection, scopes, redirect_uri, state, verifier)
            return await self._remember(user, connection, scopes, url, state, nonce, verifier, redirect_uri,
                                        thread_id, extra, request_key, auth_session=auth_session)
        id_token = await self._fresh_id_token(user)
        params = {
            "response_type": "code", "client_id": self.settings.auth0_client_id,
            "redirect_uri": redirect_uri, "scope": "openid profile offline_access link_account",
            "state": state, "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256",
            "requested_connection": connection,
            # The Action passes this on as the provider's connection_scope, which Auth0 splits on commas.
            "requested_connection_scope": ",".join(scopes),
            "id_token_hint": id_token,
        }
        if self.settings.auth0_audience:
            params["audience"] = self.settings.auth0_audience
        url = self.settings.auth0_base_url + "/authorize?" + urlencode(params)
        return await self._remember(user, connection, scopes, url, state, nonce, verifier, redirect_uri,
                                    thread_id, extra, request_key)

    async def _remember(self, user: UserCredentials, connection: str, scopes: Sequence[str], url: str, state: str,
                        nonce: str, verifier: str, redirect_uri: str, thread_id: str | None,
                        extra: dict[str, Any] | None, request_key: str | None,
                        auth_session: str | None = None) -> LinkRequest:
        """Keep the pending request by state (only what completing it needs). The URL carries the ID token
        as `id_token_hint`, so it is kept only when a `request_key` caller may ask for it again."""
        expires_at = time.time() + self.ttl_seconds
        await self.store.aput(NAMESPACE, state, {
            "user_sub": user.sub, "connection": connection, "scopes": list(scopes), "nonce": nonce,
            "code_verifier": verifier, "redirect_uri": redirect_uri, "expires_at": expires_at,
            "thread_id": thread_id, "extra": extra or {}, "authorize_url": url if request_key else "",
            "auth_session": auth_session,
        })
        if request_key:
            await self.store.aput(KEYS_NAMESPACE, request_key, {"state": state, "connection": connection,
                                                                "scopes": list(scopes), "expires_at": expires_at})
        return LinkRequest(connection, list(scopes), url, state, _utc(expires_at))

    # -- Connected Accounts (My Account API) ------------------------------------------------------
    async def _my_account_token(self, user: UserCredentials | None) -> str:
        if user is not None and user.my_account_token:  # the LangGraph server: the client sent one
            return user.my_account_token
        if user is None or not user.refresh_token:
            raise Misconfigured("AUTH0_LINK_MODE=connected_accounts needs a My Account API token: the user's "
                                "refresh token (CLI, notebooks) or, on the LangGraph server, the client's "
                                "X-My-Account-Token header.")
        body = await self._token_request({"grant_type": "refresh_token", "refresh_token": user.refresh_token,
                                          "audience": self.settings.auth0_base_url + "/me/",
                                          "scope": MY_ACCOUNT_SCOPES})
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

    async def _connect_request(self, user: UserCredentials, connection: str, scopes: Sequence[str],
                               redirect_uri: str, state: str, verifier: str) -> tuple[str, str]:
        answer = await self._my_account(user, "connect", {
            "connection": connection, "redirect_uri": redirect_uri, "state": state, "scopes": list(scopes),
            "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"})
        url = answer["connect_uri"] + "?" + urlencode(answer.get("connect_params", {}))
        return url, answer["auth_session"]

    async def _by_key(self, request_key: str) -> LinkRequest | None:
        pointer = await self.store.aget(KEYS_NAMESPACE, request_key)
        if pointer is None:
            return None
        p = pointer.value
        item = await self.store.aget(NAMESPACE, p["state"])
        if item is None:
            # Answered already (the state is single use): this is LangGraph replaying the tool on resume, and
            # `interrupt()` will return the answer — so hand back the same request (its URL is spent and not
            # kept) rather than minting a new state and refreshing the ID token for nothing.
            if "connection" not in p:
                return None
            return LinkRequest(p["connection"], p["scopes"], "", p["state"], _utc(p["expires_at"]))
        if item.value["expires_at"] <= time.time():
            return None
        v = item.value
        return LinkRequest(v["connection"], v["scopes"], v["authorize_url"], p["state"], _utc(v["expires_at"]))

    async def is_live(self, state: str, *, margin_seconds: float = 30.0) -> bool:
        """Whether a callback for `state` could still complete: pending and not about to expire. A
        paused thread whose link is not live must be offered a fresh one."""
        item = await self.store.aget(NAMESPACE, state) if state else None
        return item is not None and item.value["expires_at"] > time.time() + margin_seconds

    async def _fresh_id_token(self, user: UserCredentials) -> str:
        """The Action refuses an id_token_hint older than ten minutes: refresh one when we can."""
        if not user.refresh_token:
            if not user.id_token:
                raise SessionExpired("no ID token to send as id_token_hint: log in again (a LangGraph server "
                                     "client sends it in the X-Id-Token header).")
            return user.id_token
        body = await self._with_retries(lambda: self._token_request({
            "grant_type": "refresh_token", "refresh_token": user.refresh_token, "scope": "openid profile email"}))
        return body.get("id_token") or user.id_token

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
                       credentials_for: Callable[[str], UserCredentials | None] | None = None) -> LinkResult:
        """Finish a linking request from the URL the browser was sent back to.

        `credentials_for(sub)` is needed only in connected_accounts mode, where completing is a call to
        the user's My Account API (the pending request deliberately holds no token to make it)."""
        if len(callback_url) > 4 * MAX_PARAM_LENGTH:
            raise LinkingError("bad_request", "The callback URL is too long.")
        parts = urlsplit(callback_url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if any(len(v) > MAX_PARAM_LENGTH for v in query.values()):
            raise LinkingError("bad_request", "A callback parameter is too long.")
        state = query.get("state", "")
        if not state:
            raise LinkingError("bad_request", "The callback carries no state.")
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
                               credentials_for: Callable[[str], UserCredentials | None] | None) -> LinkResult:
        item = await self.store.aget(NAMESPACE, state)
        if item is None:
            raise LinkingError("unknown_state", "This authorization link is unknown or was already used.")
        pending = item.value
        result = dict(state=state, user_sub=pending["user_sub"], connection=pending["connection"],
                      scopes=pending["scopes"], thread_id=pending["thread_id"], extra=dict(pending["extra"]))
        if pending["expires_at"] <= time.time():
            await self._consume(state)
            error = LinkingError("expired_state", "This authorization link has expired: ask again.")
            error.expired = LinkResult(status="expired", **result)  # so the caller can still resume the thread
            raise error
        if _base(callback_url) != _base(pending["redirect_uri"]):
            raise LinkingError("bad_request", "The callback arrived on an unexpected redirect URI.")
        if "error" in query:
            await self._consume(state)
            if query["error"] == "access_denied":
                result["extra"]["error_description"] = query.get("error_description", "")
                return LinkResult(status="declined", **result)
            raise LinkingError("exchange_failed", f"Auth0 answered {query['error']}: "
                                                  f"{query.get('error_description', '')}".strip())
        unconfirmed = LinkResult(status="authorized", confirmed=False, **result)
        if pending.get("auth_session"):
            user = credentials_for(pending["user_sub"]) if credentials_for else None
            await self._retrying(unconfirmed, lambda: self._my_account(user, "complete", {
                "auth_session": pending["auth_session"], "connect_code": query.get("connect_code", ""),
                "redirect_uri": pending["redirect_uri"], "code_verifier": pending["code_verifier"]}))
            await self._consume(state)
            return LinkResult(status="authorized", **result)
        code = query.get("code", "")
        if not code:
            raise LinkingError("bad_request", "The callback carries neither a code nor an error.")
        now = time.time()
        for stale in [s for s, (_, until) in self._exchanged.items() if until <= now]:
            del self._exchanged[stale]
        tokens = self._exchanged[state][0] if state in self._exchanged else None
        if tokens is None:
            tokens = await self._exchange(code, pending, unconfirmed)
            if tokens is None:  # our own earlier attempt spent the code and its answer was lost
                await self._consume(state)
                return unconfirmed
            self._exchanged[state] = (tokens, pending["expires_at"])
        claims = await self._retrying(unconfirmed, lambda: self._validate(tokens, pending["nonce"]))
        self._exchanged.pop(state, None)
        if claims.get("sub") != pending["user_sub"]:
            await self._consume(state)
            raise LinkingError("user_mismatch", "The account that authorized is not the one that asked.")
        await self._consume(state)
        credentials = UserCredentials(claims["sub"], tokens.get("id_token", ""), tokens.get("refresh_token"),
                                      tokens.get("access_token"))
        return LinkResult(status="authorized", credentials=credentials, **result)

    async def _exchange(self, code: str, pending: dict[str, Any], unconfirmed: LinkResult) -> dict[str, Any] | None:
        """The code exchange, retried on transient failures. None when a retry found the code spent
        after an attempt whose answer never arrived (the tenant did the exchange: the link is done)."""
        lost_answer = False

        async def once() -> dict[str, Any]:
            nonlocal lost_answer
            try:
                return await self._token_request({"grant_type": "authorization_code", "code": code,
                                                  "redirect_uri": pending["redirect_uri"],
                                                  "code_verifier": pending["code_verifier"]})
            except TransientError:
                lost_answer = True
                raise

        try:
            return await self._retrying(unconfirmed, once)
        except LinkingError as exc:
            if lost_answer and isinstance(exc.__cause__, SessionExpired):
                log.warning("linking code already spent after a lost answer; resuming unconfirmed")
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

    async def _retrying(self, unconfirmed: LinkResult, call: Callable[[], Any]) -> Any:
        """`call()` with retries, every failure mapped to a `LinkingError`; a transient one that outlasts
        the retries is retryable and leaves the pending request in place for a reload."""
        try:
            return await self._with_retries(call)
        except TransientError as exc:
            raise LinkingError("temporarily_unavailable", "Auth0 could not finish the authorization right now "
                               f"({exc}) Reload this page to try again.", retryable=True,
                               unconfirmed=unconfirmed) from exc
        except (SessionExpired, Misconfigured) as exc:
            raise LinkingError("exchange_failed", f"The authorization code could not be exchanged: {exc}") from exc
        except InvalidToken as exc:
            raise LinkingError("invalid_id_token", f"The ID token from Auth0 is not valid: {exc}") from exc

    async def _consume(self, state: str) -> None:
        """Single use: forget the pending request (and its key) once it has been answered for good."""
        self._exchanged.pop(state, None)
        await self.store.adelete(NAMESPACE, state)

    async def _token_request(self, form: dict[str, str]) -> dict[str, Any]:
        return await token_request(self._http, self.settings, form)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def _base(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc, parts.path
