"""Token Vault: exchange the user's Auth0 token for a provider access token.

Three properties matter more than the request itself:
- *Typed outcomes.* Only "no token set" and "scopes fall short" become `AuthorizationRequired`; an
  outage, a 429 or a bad client secret is reported as what it is and never asks the user to link.
- *Cache.* A provider token is reused per (user, subject token, connection, scopes) until it is close to
  expiry; a cached token whose scopes cover a narrower request serves it too.
- *Single flight.* Concurrent misses for one key share one HTTP call.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit

import httpx

from .closing import AsyncClosing
from .credentials import UserCredentials
from .error_body import error_field
from .errors import AuthorizationRequired, HTTPError, Misconfigured, SessionExpired, TransientError
from .http1 import OriginClient
from .settings import Settings
from .token_endpoint import token_body

log = logging.getLogger(__name__)

GRANT_TYPE = "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token"
REQUESTED_TOKEN_TYPE = "http://auth0.com/oauth/token-type/federated-connection-access-token"
NOT_LINKED_ERRORS = {"tokenset_not_found", "federated_connection_refresh_token_not_found"}
RETRY_AFTER_CAP = 10.0
SWEEP_AT = 4096  # cache keys before expired tokens are swept out


@dataclass(frozen=True, repr=False)
class ProviderToken:
    connection: str
    access_token: str = field(compare=False)
    expires_at: float
    scopes: frozenset[str]

    def __repr__(self) -> str:
        return f"ProviderToken(connection={self.connection!r}, scopes={sorted(self.scopes)}, expires_at={self.expires_at:.0f})"

    def covers(self, scopes: Sequence[str]) -> bool:
        return set(scopes) <= self.scopes


class TokenVault(AsyncClosing):
    """The exchange goes out over `auth.http1.OriginClient` (the CPU per exchange is what limits hundreds of
    concurrent runs; see that module), or over `http` when one is given or the environment sets a proxy
    for the tenant."""

    def __init__(self, settings: Settings, *, http: httpx.AsyncClient | None = None,
                 skew_seconds: float = 60.0, max_attempts: int = 3, backoff_base: float = 0.2) -> None:
        self.settings = settings
        self._http = http
        self._wire: OriginClient | None = None
        self._form_head = ""  # the url-encoded part of the form that is the same for every exchange
        self.skew_seconds = skew_seconds
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        # keyed by (user, subject-token fingerprint, connection, login_hint); never by the token itself
        self._cache: dict[tuple[str, str, str, str], list[ProviderToken]] = {}
        self._sweep_at = SWEEP_AT
        self._inflight: dict[tuple[str, str, str, str, frozenset[str]], asyncio.Future[ProviderToken]] = {}

    # -- public -----------------------------------------------------------------------------------
    async def get_token(self, user: UserCredentials, connection: str, scopes: Sequence[str], *,
                        login_hint: str | None = None) -> ProviderToken:
        cache_key = (user.sub, user.fingerprint, connection, login_hint or "")
        cached = self._cached(cache_key, scopes)
        if cached is not None:
            return cached
        flight_key = (*cache_key, frozenset(scopes))
        pending = self._inflight.get(flight_key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[ProviderToken] = asyncio.get_running_loop().create_future()
        self._inflight[flight_key] = future
        try:
            token = await self._exchange(user, connection, scopes, login_hint)
            self._store(cache_key, token)
            future.set_result(token)
            return token
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters get it, nobody else should warn
            raise
        finally:
            del self._inflight[flight_key]

    def invalidate(self, user: UserCredentials, connection: str) -> None:
        """Forget cached tokens for this user and connection (the provider answered 401)."""
        for key in [k for k in self._cache if k[0] == user.sub and k[2] == connection]:
            del self._cache[key]

    async def aclose(self) -> None:
        if self._wire is not None:
            await self._wire.aclose()
        if self._http is not None:
            await self._http.aclose()

    # -- cache ------------------------------------------------------------------------------------
    def _cached(self, key: tuple[str, str, str, str], scopes: Sequence[str]) -> ProviderToken | None:
        entries = self._cache.get(key)
        if not entries:
            return None
        now = time.time()
        entries = [t for t in entries if t.expires_at - self.skew_seconds > now]
        if entries:
            self._cache[key] = entries
        else:
            self._cache.pop(key, None)
        return next((t for t in entries if t.covers(scopes)), None)

    def _store(self, key: tuple[str, str, str, str], token: ProviderToken) -> None:
        entries = [t for t in self._cache.get(key, []) if not token.scopes >= t.scopes]
        self._cache[key] = [token, *entries]
        if len(self._cache) > self._sweep_at:
            self._sweep()

    def _sweep(self) -> None:
        """Drop expired tokens of every key. Keys change when a subject token does (each new access token
        on the server), so without this the cache would only grow; amortised by doubling the threshold."""
        now = time.time()
        for key in list(self._cache):
            live = [t for t in self._cache[key] if t.expires_at - self.skew_seconds > now]
            if live:
                self._cache[key] = live
            else:
                del self._cache[key]
        self._sweep_at = max(SWEEP_AT, 2 * len(self._cache))

    # -- exchange ---------------------------------------------------------------------------------
    async def _exchange(self, user: UserCredentials, connection: str, scopes: Sequence[str],
                        login_hint: str | None) -> ProviderToken:
        if not self.settings.auth0_configured:
            raise Misconfigured("Auth0 is not configured: set AUTH0_DOMAIN, AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET.")
        subject_token, subject_type = user.subject_token
        body = self._form(subject_token, subject_type, connection, login_hint)
        for attempt in range(1, self.max_attempts + 1):
            delay: float | None
            try:
                response = await self._post(body)
            except (HTTPError, httpx.TransportError) as exc:  # timeouts, refused and dropped connections
                log.warning("token vault exchange for %s failed: %s (attempt %d)", connection,
                            type(exc).__name__, attempt)
                delay, reason = self._backoff(attempt), f"Auth0 could not be reached ({type(exc).__name__})"
            else:
                if response.status_code == 200:
                    return self._parse_success(connection, scopes, response)
                if response.status_code == 429 or response.status_code >= 500:
                    delay = self._retry_after(response) or self._backoff(attempt)
                    reason = f"Auth0 answered {response.status_code}"
                    log.warning("token vault exchange for %s: HTTP %d (attempt %d)", connection,
                                response.status_code, attempt)
                else:
                    raise self._classify(connection, scopes, response)
            if attempt < self.max_attempts:
                await asyncio.sleep(delay)
        raise TransientError(f"{reason}; gave up after {self.max_attempts} attempts. Try again shortly.")

    def _form(self, subject_token: str, subject_type: str, connection: str, login_hint: str | None) -> bytes:
        if not self._form_head:
            self._form_head = urlencode({
                "grant_type": GRANT_TYPE, "client_id": self.settings.auth0_client_id,
                "client_secret": self.settings.auth0_client_secret, "requested_token_type": REQUESTED_TOKEN_TYPE})
        form = (f"{self._form_head}&subject_token={quote_plus(subject_token)}"
                f"&subject_token_type={quote_plus(subject_type)}&connection={quote_plus(connection)}")
        if login_hint:
            form += "&login_hint=" + quote_plus(login_hint)
        return form.encode()

    async def _post(self, body: bytes) -> Any:
        """POST the form to /oauth/token; the answer has `status_code`, `headers.get` and `json()`."""
        if self._wire is None and self._http is None:
            base = self.settings.auth0_base_url
            host = urlsplit(base).hostname or ""
            proxies = urllib.request.getproxies()
            if proxies.get(urlsplit(base).scheme) and not urllib.request.proxy_bypass(host):
                self._http = httpx.AsyncClient(timeout=self.settings.http_timeout_seconds)
            else:
                self._wire = OriginClient(base, timeout=self.settings.http_timeout_seconds)
        if self._wire is not None:
            return await self._wire.post("/oauth/token", body)
        return await self._http.post(self.settings.auth0_base_url + "/oauth/token", content=body,
                                     headers={"content-type": "application/x-www-form-urlencoded"})

    def _parse_success(self, connection: str, scopes: Sequence[str], response: Any) -> ProviderToken:
        body = token_body(response, "the Token Vault exchange")
        granted = frozenset(body.get("scope", "").split())
        token = ProviderToken(connection, body["access_token"], time.time() + body.get("expires_in", 3600), granted)
        if not token.covers(scopes):
            # Auth0 returns what the user once granted; a shortfall means the user must grant more.
            raise AuthorizationRequired(connection, sorted(granted | set(scopes)), sorted(granted),
                                        reason="insufficient_scope")
        return token

    def _classify(self, connection: str, scopes: Sequence[str], response: Any) -> Exception:
        error = error_field(response, "error", limit=1000)
        description = error_field(response, "error_description", limit=1000)
        lowered = description.lower()
        if error in NOT_LINKED_ERRORS or (response.status_code == 401 and (
                "token set" in lowered or "tokenset" in lowered or "refresh token not found" in lowered)):
            return AuthorizationRequired(connection, sorted(set(scopes)), reason="not_linked")
        if error == "invalid_client":
            return Misconfigured("Auth0 rejected the application's credentials: check AUTH0_CLIENT_ID and "
                                 "AUTH0_CLIENT_SECRET.")
        if error in ("unauthorized_client", "access_denied") or response.status_code == 403:
            return Misconfigured("The Auth0 application may not use Token Vault: enable the Token Vault "
                                 f"grant on it ({description or error}).")
        if error == "invalid_grant":
            return SessionExpired("Your Auth0 session has expired or was revoked: log in again.")
        if error == "user_not_found":
            return AuthorizationRequired(connection, sorted(set(scopes)), reason="not_linked")
        return Misconfigured(f"Auth0 refused the Token Vault exchange: HTTP {response.status_code} "
                             f"{error or 'error'}: {description}".strip())

    def _backoff(self, attempt: int) -> float:
        return self.backoff_base * (2 ** (attempt - 1)) * (0.5 + random.random())

    @staticmethod
    def _retry_after(response: Any) -> float | None:
        value = response.headers.get("retry-after")
        if not value:
            return None
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                return None
        return max(0.0, min(seconds, RETRY_AFTER_CAP))

