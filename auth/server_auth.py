"""Custom auth for the LangGraph server (served through `auth/langgraph_auth.py`).

Authentication. Every request carries `Authorization: Bearer <Auth0 access token for AUTH0_AUDIENCE>`,
checked against the tenant's JWKS (issuer, audience, expiry) — and nothing else: what account linking
needs (a fresh ID token for `id_token_hint`, a My Account API token) is minted when the user opens the
link (`auth/linking/sign_in.py`). Other headers (the `X-Id-Token` / `X-My-Account-Token` that older
clients sent) are ignored.

What a run needs from the token travels *with the run*: the auth user returned here (LangGraph persists
it with every run) carries it sealed in a credential envelope (`auth/envelope.py`, bound to the `sub`,
expiring with the access token; `auth/run_credentials.py`). Any process — API server, queue worker,
another replica, the same server after a restart — can open it with the configured key; nothing
readable is stored, and no process keeps credentials in memory.

Authorization: deny by default. Threads are owned by their creator (`metadata.owner`, stamped here and
never settable by a client), including threads a run creates; assistants are read-only; the store is
per user.
"""

from __future__ import annotations

from typing import Any

from langgraph_sdk import Auth

from .envelope import Envelope
from .errors import Misconfigured
from .oidc import InvalidToken, OIDCProvider
from .run_credentials import ENVELOPE_FIELD, PERMISSIONS, sealer, user_dict
from .settings import Settings, get_settings

__all__ = ["ENVELOPE_FIELD", "PERMISSIONS", "auth", "configuration_problems", "oidc_provider", "sealer",
           "user_dict"]

auth = Auth()
_oidc: OIDCProvider | None = None


def oidc_provider() -> OIDCProvider:
    global _oidc
    if _oidc is None:
        _oidc = OIDCProvider(get_settings())
    return _oidc


def configuration_problems(settings: Settings) -> list[str]:
    """What keeps the server from working, one phrase each (empty when ready)."""
    problems = [f"{name} is not set" for name in settings.missing_auth0()]
    if not settings.auth0_audience:
        problems.append("AUTH0_AUDIENCE is not set (the API identifier clients get access tokens for)")
    if not settings.auth0_callback_url:
        problems.append("AUTH0_CALLBACK_URL is not set (http://HOST:PORT/auth/callback of this server)")
    try:
        sealer(settings)
    except Misconfigured as exc:
        problems.append(str(exc))
    return problems


def _unauthorized(detail: str) -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(status_code=401, detail=detail)


@auth.authenticate
async def authenticate(authorization: str | None) -> dict[str, Any]:
    settings = get_settings()
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("Missing bearer token: send Authorization: Bearer <Auth0 access token>.")
    try:
        claims = await oidc_provider().validate(token, audience=settings.auth0_audience)
    except InvalidToken as exc:
        raise _unauthorized(f"Invalid access token: {exc}") from exc
    sub = claims["sub"]
    envelope = sealer(settings).seal(Envelope(sub, token, expires_at=float(claims["exp"])))
    return user_dict(sub, envelope, claims.get("email", ""))


# -- authorization --------------------------------------------------------------------------------
@auth.on
async def deny_by_default(ctx: Auth.types.AuthContext, value: dict) -> bool:  # noqa: ARG001 - the handler signature
    """Anything without a handler below (crons, assistant writes, …) is refused."""
    return False


def _stamp_owner(ctx: Auth.types.AuthContext, value: dict) -> dict:
    """Set `metadata.owner` to the caller, in the dict the server goes on to use (whatever the client sent)."""
    if not isinstance(value.get("metadata"), dict):
        value["metadata"] = {}
    value["metadata"]["owner"] = ctx.user.identity
    return {"owner": ctx.user.identity}


@auth.on.threads.create
async def create_thread(ctx: Auth.types.AuthContext, value: dict) -> dict:
    """A new thread (or a copy of the caller's own) belongs to the caller; an existing id of another
    user's thread is a conflict, never a takeover."""
    return _stamp_owner(ctx, value)


@auth.on.threads.create_run
async def create_run(ctx: Auth.types.AuthContext, value: dict) -> dict:
    """Runs on the caller's threads only. A thread the run creates (`if_not_exists="create"`, stateless
    runs) gets the caller as owner through the run's metadata, which the server copies onto it."""
    return _stamp_owner(ctx, value)


@auth.on.threads.update
async def update_thread(ctx: Auth.types.AuthContext, value: dict) -> dict:
    """The caller's threads only, and `metadata.owner` stays what the server set."""
    metadata = value.get("metadata")
    if isinstance(metadata, dict) and "owner" in metadata and metadata["owner"] != ctx.user.identity:
        raise Auth.exceptions.HTTPException(status_code=403, detail="metadata.owner is set by the server.")
    return {"owner": ctx.user.identity}


@auth.on.threads.read
@auth.on.threads.delete
@auth.on.threads.search
async def own_threads(ctx: Auth.types.AuthContext, value: dict) -> dict:  # noqa: ARG001 - the handler signature
    """Every other thread access (runs included) only sees the caller's own threads."""
    return {"owner": ctx.user.identity}


@auth.on.assistants.read
@auth.on.assistants.search
async def read_assistants(ctx: Auth.types.AuthContext, value: dict) -> bool:  # noqa: ARG001 - the handler signature
    """Assistants are shared configuration: users may read and use them, never create, change or delete."""
    return True


@auth.on.store
async def own_store(ctx: Auth.types.AuthContext, value: dict) -> None:
    namespace = tuple(value.get("namespace") or ())
    if not namespace or namespace[0] != ctx.user.identity:
        raise Auth.exceptions.HTTPException(status_code=403, detail="Store namespaces are per user.")
