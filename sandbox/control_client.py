"""A small client for the control API, for tests, notebooks and benchmarks."""

from __future__ import annotations

from typing import Any

import httpx


class ControlClient:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        response = self.http.request(method, "/control" + path, **kw)
        response.raise_for_status()
        return response.json()

    def create_user(self, name: str | None = None, email: str | None = None,
                    handle: str | None = None) -> dict[str, Any]:
        return self._call("POST", "/users", json={"name": name, "email": email, "handle": handle})

    def create_api(self, identifier: str) -> None:
        """Register an API (resource server) whose access tokens Token Vault accepts."""
        self._call("POST", "/apis", json={"identifier": identifier})

    def add_connection(self, name: str, label: str | None = None) -> None:
        """Enable another connection in the tenant; its API answers at `/custom-provider/{name}/me`."""
        self._call("POST", "/connections", json={"name": name, "label": label})

    def users(self) -> list[dict[str, Any]]:
        return self._call("GET", "/users")

    def user_by_email(self, email: str) -> dict[str, Any]:
        return next(u for u in self.users() if u["email"] == email)

    def session(self, user_id: str, scope: str = "openid profile email offline_access",
                audience: str | None = None) -> dict[str, Any]:
        return self._call("POST", "/sessions", json={"user_id": user_id, "scope": scope, "audience": audience})

    def authorize(self, url: str, user_id: str, action: str = "approve") -> str:
        return self._call("POST", "/authorize", json={"url": url, "user_id": user_id,
                                                      "action": action})["redirect_url"]

    def tokensets(self, user_id: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/tokensets", params={"user_id": user_id} if user_id else None)

    def seed_tokenset(self, user_id: str, connection: str, scopes: list[str]) -> None:
        self._call("POST", "/tokensets", json={"user_id": user_id, "connection": connection, "scopes": scopes})

    def delete_tokenset(self, user_id: str, connection: str) -> bool:
        return self._call("DELETE", "/tokensets", json={"user_id": user_id, "connection": connection})["removed"]

    def add_fault(self, service: str, path: str, kind: str, **kw: Any) -> str:
        return self._call("POST", "/faults", json={"service": service, "path": path, "kind": kind, **kw})["id"]

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def requests(self, service: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("service", service), ("path", path)) if v}
        return self._call("GET", "/requests", params=params)

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def configure(self, **settings: Any) -> dict[str, Any]:
        return self._call("PUT", "/config", json=settings)

    def revoke_provider_tokens(self, user_id: str, connection: str) -> int:
        return self._call("POST", "/revoke-provider-tokens",
                          json={"user_id": user_id, "connection": connection})["revoked"]

    def provider_data(self, user_id: str) -> dict[str, Any]:
        return self._call("GET", "/provider-data", params={"user_id": user_id})

    def close(self) -> None:
        self.http.close()
