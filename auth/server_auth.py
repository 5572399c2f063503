"""Custom auth for the LangGraph server (served through `auth/langgraph_auth.py`).

Every request must carry `Authorization: Bearer <Auth0 access token for AUTH0_AUDIENCE>`; it is checked
against the tenant's JWKS (issuer, audience, expiry). An optional `X-Id-Token` header (the user's ID
token, validated too) lets the agent build account-linking URLs, which need an `id_token_hint`.

The tokens are *not* put into the auth user: LangGraph stores the user with the run. They are kept in
process memory only, keyed by the user, until they expire — where the graph's tools pick them up for the
Token Vault exchange (access-token subject type). Threads are owned by their creator: another user can
neither see nor resume them.
"""

from __future__ import annotations

import time
from typing import Any

from langgraph_sdk import Auth

from .credentials import UserCredentials
from .oidc import InvalidToken, OIDCProvider
from .settings import get_settings

auth = Auth()
_oidc: OIDCProvider | None = None
_live_credentials: dict[str, tuple[UserCredentials, float]] = {}


def _provider() -> OIDCProvider:
    global _oidc
    if _oidc is None:
        _oidc = OIDCProvider(get_settings())
    return _oidc


def credentials_for(sub: str) -> UserCredentials | None:
    """The latest valid credentials this server process saw for `sub` (memory only)."""
    entry = _live_credentials.get(sub)
    if entry is None or entry[1] <= time.time():
        _live_credentials.pop(sub, None)
        return None
    return entry[0]


def _header(headers: Any, name: bytes) -> str:
    value = headers.get(name) or headers.get(name.decode())
    return value.decode() if isinstance(value, bytes) else (value or "")


@auth.authenticate
async def authenticate(authorization: str | None, headers: dict) -> Auth.types.MinimalUserDict:
    settings = get_settings()
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Auth.exceptions.HTTPException(status_code=401, detail="Missing bearer token.")
    try:
        claims = await _provider().validate(token, audience=settings.auth0_audience)
    except InvalidToken as exc:
        raise Auth.exceptions.HTTPException(status_code=401, detail=f"Invalid access token: {exc}") from exc
    sub = claims["sub"]
    id_token = _header(headers, b"x-id-token")
    if id_token:
        try:
            id_claims = await _provider().validate(id_token, audience=settings.auth0_client_id)
        except InvalidToken as exc:
            raise Auth.exceptions.HTTPException(status_code=401, detail=f"Invalid ID token: {exc}") from exc
        if id_claims.get("sub") != sub:
            raise Auth.exceptions.HTTPException(status_code=401, detail="ID token is for another user.")
    else:
        previous = credentials_for(sub)
        id_token = previous.id_token if previous else ""
    _live_credentials[sub] = (UserCredentials(sub, id_token, access_token=token), float(claims["exp"]))
    return {"identity": sub, "display_name": claims.get("email", sub), "permissions": ["authenticated"]}


@auth.on
async def deny_by_default(ctx: Auth.types.AuthContext, value: dict) -> bool:
    """Anything without a handler below (crons, …) is refused."""
    return False


@auth.on.threads.create
async def create_thread(ctx: Auth.types.AuthContext, value: dict) -> dict:
    """Stamp a new thread with its owner."""
    if value.get("metadata") is None:
        value["metadata"] = {}
    value["metadata"]["owner"] = ctx.user.identity  # in place: the server keeps this dict
    return {"owner": ctx.user.identity}


@auth.on.threads.read
@auth.on.threads.update
@auth.on.threads.delete
@auth.on.threads.search
@auth.on.threads.create_run
async def own_threads(ctx: Auth.types.AuthContext, value: dict) -> dict:
    """Every other thread access (runs included) only sees the caller's own threads."""
    return {"owner": ctx.user.identity}


@auth.on.assistants
async def read_assistants(ctx: Auth.types.AuthContext, value: dict) -> bool:
    return True


@auth.on.store
async def own_store(ctx: Auth.types.AuthContext, value: dict) -> None:
    namespace = tuple(value.get("namespace") or ())
    if not namespace or namespace[0] != ctx.user.identity:
        raise Auth.exceptions.HTTPException(status_code=403, detail="Store namespaces are per user.")
