"""OpenID Connect as Auth0 serves it: the discovery document, a JWKS cache, and validation of ID tokens
and API access tokens (joserfc; nothing hand-rolled).

The JWKS is fetched once and refetched when a token names a `kid` we have not seen (key rotation), at
most once a minute so a flood of forged kids cannot turn into a flood of requests.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from .closing import AsyncClosing
from .errors import AuthError
from .settings import Settings

LEEWAY_SECONDS = 60
JWKS_REFRESH_INTERVAL = 60.0


class InvalidToken(AuthError):
    """A token failed validation (signature, issuer, audience, expiry or nonce)."""


class OIDCProvider(AsyncClosing):
    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._http = http or httpx.AsyncClient(timeout=settings.http_timeout_seconds)
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    @property
    def issuer(self) -> str:
        return self.settings.auth0_issuer

    async def _keyset(self, kid: str | None) -> KeySet:
        async with self._lock:
            known = self._keys is not None and any(k.kid == kid for k in self._keys.keys)
            stale = time.monotonic() - self._fetched_at > JWKS_REFRESH_INTERVAL
            if self._keys is None or (not known and stale):
                response = await self._http.get(self.settings.auth0_base_url + "/.well-known/jwks.json")
                response.raise_for_status()
                self._keys = KeySet.import_key_set(response.json())
                self._fetched_at = time.monotonic()
            return self._keys

    async def validate(self, token: str, *, audience: str, nonce: str | None = None) -> dict[str, Any]:
        """Claims of a valid RS256 token from this tenant for `audience`; `InvalidToken` otherwise."""
        try:
            header = extract_compact(token.encode()).protected
        except (JoseError, ValueError) as exc:
            raise InvalidToken("malformed token") from exc
        try:
            keys = await self._keyset(header.get("kid"))
            claims = jwt.decode(token, keys, algorithms=["RS256"]).claims
        except (JoseError, ValueError, httpx.HTTPError) as exc:
            raise InvalidToken(f"token signature could not be verified ({type(exc).__name__})") from exc
        now = time.time()
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if claims.get("iss") != self.issuer:
            raise InvalidToken("wrong issuer")
        if audience not in audiences:
            raise InvalidToken("wrong audience")
        if claims.get("exp", 0) + LEEWAY_SECONDS < now:
            raise InvalidToken("token expired")
        if claims.get("iat", now) - LEEWAY_SECONDS > now:
            raise InvalidToken("token issued in the future")
        if nonce is not None and claims.get("nonce") != nonce:
            raise InvalidToken("nonce mismatch")
        return claims

    async def aclose(self) -> None:
        await self._http.aclose()
