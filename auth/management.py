"""Auth0 Management API (docs/protocols.md §4) with a client-credentials token that is cached until it nears
expiry and fetched once however many callers ask at the same time."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import quote

import httpx

from .closing import AsyncClosing
from .error_body import error_field
from .errors import AuthError, Misconfigured, TransientError
from .settings import Settings


class ManagementError(AuthError):
    """The Management API refused a request (its message says why)."""


class ManagementClient(AsyncClosing):
    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.http = http or httpx.AsyncClient(timeout=settings.http_timeout_seconds)
        self._token: tuple[str, float] | None = None
        self._lock = asyncio.Lock()

    @property
    def audience(self) -> str:
        return self.settings.auth0_base_url + "/api/v2/"

    async def _access_token(self) -> str:
        async with self._lock:  # single flight: the second caller finds the first one's token
            if self._token and self._token[1] - 60 > time.time():
                return self._token[0]
            client_id = self.settings.auth0_mgmt_client_id or self.settings.auth0_client_id
            secret = self.settings.auth0_mgmt_client_secret or self.settings.auth0_client_secret
            try:
                response = await self.http.post(self.settings.auth0_base_url + "/oauth/token", data={
                    "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
                    "audience": self.audience})
            except httpx.TransportError as exc:
                raise TransientError("Auth0 could not be reached for a Management API token.") from exc
            if response.status_code != 200:
                raise Misconfigured("No Management API token: check AUTH0_MGMT_CLIENT_ID / "
                                    "AUTH0_MGMT_CLIENT_SECRET and the application's Management API grants.")
            body = response.json()
            self._token = (body["access_token"], time.time() + float(body.get("expires_in", 86400)))
            return self._token[0]

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        token = await self._access_token()
        try:
            response = await self.http.request(method, self.audience + path.lstrip("/"),
                                               headers={"Authorization": f"Bearer {token}"}, **kwargs)
        except httpx.TransportError as exc:
            raise TransientError("The Management API could not be reached.") from exc
        if response.status_code >= 400:
            message = error_field(response, "message")
            raise ManagementError(f"Management API {response.status_code}: {message}".strip())
        return response.json() if response.content else None

    async def get_user(self, user_id: str) -> dict[str, Any]:
        return await self._call("GET", f"users/{quote(user_id, safe='')}")

    async def linked_connections(self, user_id: str) -> list[dict[str, Any]]:
        """The secondary identities (identities[0] is the primary)."""
        return (await self.get_user(user_id)).get("identities", [])[1:]

    async def unlink(self, user_id: str, provider: str, provider_user_id: str) -> list[dict[str, Any]]:
        return await self._call("DELETE", f"users/{quote(user_id, safe='')}/identities/"
                                          f"{quote(provider, safe='')}/{quote(provider_user_id, safe='')}")

    async def unlink_connection(self, user_id: str, connection: str) -> bool:
        for identity in await self.linked_connections(user_id):
            if identity.get("connection") == connection:
                await self.unlink(user_id, identity["provider"], str(identity["user_id"]))
                return True
        return False

    async def link_user(self, primary_id: str, secondary_id: str) -> list[dict[str, Any]]:
        """Link another user (`provider|id`) into the primary user's profile."""
        provider, _, provider_user_id = secondary_id.partition("|")
        return await self._call("POST", f"users/{quote(primary_id, safe='')}/identities",
                                json={"provider": provider, "user_id": provider_user_id})

    async def users_by_email(self, email: str) -> list[dict[str, Any]]:
        return await self._call("GET", "users-by-email", params={"email": email.lower()})

    async def suggested_links(self, user_id: str) -> list[dict[str, Any]]:
        """Other users with the same verified email (suggested account linking)."""
        me = await self.get_user(user_id)
        if not me.get("email_verified"):
            return []
        return [u for u in await self.users_by_email(me["email"])
                if u["user_id"] != user_id and u.get("email_verified")]

    async def aclose(self) -> None:
        await self.http.aclose()
