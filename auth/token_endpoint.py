"""One call to the tenant's `/oauth/token` as this application (client id + secret), with Auth0's
answers mapped to our typed errors. Shared by login, refresh and the linking code exchange; the Token
Vault exchange has its own richer handling (retries, not-linked detection) in `token_vault.py`."""

from __future__ import annotations

from typing import Any

import httpx

from .errors import Misconfigured, SessionExpired, TransientError
from .settings import Settings


async def token_request(http: httpx.AsyncClient, settings: Settings, form: dict[str, str]) -> dict[str, Any]:
    form = {**form, "client_id": settings.auth0_client_id, "client_secret": settings.auth0_client_secret}
    try:
        response = await http.post(settings.auth0_base_url + "/oauth/token", data=form)
    except httpx.TransportError as exc:
        raise TransientError(f"Auth0 at {settings.auth0_base_url} could not be reached "
                             f"({type(exc).__name__}).") from exc
    if response.status_code == 200:
        return response.json()
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientError(f"Auth0 answered {response.status_code}; try again shortly.")
    error = response.json().get("error", "") if "json" in response.headers.get("content-type", "") else ""
    if error == "invalid_client":
        raise Misconfigured("Auth0 rejected the application's credentials: check AUTH0_CLIENT_ID and "
                            "AUTH0_CLIENT_SECRET.")
    raise SessionExpired(f"Auth0 refused the request ({error or response.status_code}): your session has "
                         "expired or was revoked — log in again.")
