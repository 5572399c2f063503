"""Custom auth for the LangGraph server (served through `auth/langgraph_auth.py`).

Authentication. Every request carries `Authorization: Bearer <Auth0 access token for AUTH0_AUDIENCE>`,
checked against the tenant's JWKS (issuer, audience, expiry). Optional headers, each validated and
required to name the same `sub`:
- `X-Id-Token`: the user's ID token — the agent needs it as `id_token_hint` to ask for account linking;
- `X-My-Account-Token`: an access token for the tenant's My Account API (audience `<tenant>/me/`), which
  `AUTH0_LINK_MODE=connected_accounts` calls to connect an account.

What a run needs from these tokens travels *with the run*: the auth user returned here (LangGraph
persists it with every run) carries them sealed in a credential envelope (`auth/envelope.py`, AES-GCM,
bound to the `sub`, expiring with the access token). Any process — API server, queue worker, another
replica, the same server after a restart — can open it with the configured key; nothing readable is
stored, and no process keeps credentials in memory.

Authorization: deny by default. Threads are owned by their creator (`metadata.owner`, stamped here and
never settable by a client), including threads a run creates; assistants are read-only; the store is
per user.
"""

from __future__ import annotations

from typing import Any

from langgraph_sdk import Auth

from .envelope import Envelope, EnvelopeSealer
from .errors import Misconfigured
from .oidc import InvalidToken, OIDCProvider
from .settings import Settings, get_settings

ENVELOPE_FIELD = "credential_envelope"
PERMISSIONS = ["authenticated"]

auth = Auth()
_oidc: OIDCProvider | None = None
_sealer: tuple[str, EnvelopeSealer] | None = None


def oidc_provider() -> OIDCProvider:
    global _oidc
    if _oidc is None:
        _oidc = OIDCProvider(get_settings())
    return _oidc


def sealer(settings: Settings | None = None) -> EnvelopeSealer:
    """The envelope sealer for the configured key (raises Misconfigured when there is none)."""
    global _sealer
    key = (settings or get_settings()).vault_agent_encryption_key
    if _sealer is None or _sealer[0] != key:
        _sealer = (key, EnvelopeSealer.from_setting(key))
    return _sealer[1]


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


def user_dict(sub: str, envelope: str, display_name: str = "") -> dict[str, Any]:
    """The auth user LangGraph keeps with a run: who, and the sealed envelope (never a token)."""
    return {"identity": sub, "display_name": display_name or sub, "permissions": list(PERMISSIONS),
            ENVELOPE_FIELD: envelope}


def _header(headers: Any, name: bytes) -> str:
    value = headers.get(name) or headers.get(name.decode())
    return value.decode() if isinstance(value, bytes) else (value or "")


def _unauthorized(detail: str) -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(status_code=401, detail=detail)


async def _same_user_token(token: str, audience: str, sub: str, header: str) -> None:
    try:
        claims = await oidc_provider().validate(token, audience=audience)
    except InvalidToken as exc:
        raise _unauthorized(f"Invalid {header}: {exc}") from exc
    if claims.get("sub") != sub:
        raise _unauthorized(f"{header} is for another user than the access token.")


@auth.authenticate
async def authenticate(authorization: str | None, headers: dict) -> dict[str, Any]:
    settings = get_settings()
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("Missing bearer token: send Authorization: Bearer <Auth0 access token>.")
    try:
        claims = await oidc_provider().validate(token, audience=settings.auth0_audience)
    except InvalidToken as exc:
        raise _unauthorized(f"Invalid access token: {exc}") from exc
    sub = claims["sub"]
    id_token = _header(headers, b"x-id-token")
    if id_token:
        await _same_user_token(id_token, settings.auth0_client_id, sub, "X-Id-Token")
    my_account_token = _header(headers, b"x-my-account-token")
    if my_account_token:
        await _same_user_token(my_account_token, settings.auth0_base_url + "/me/", sub, "X-My-Account-Token")
    envelope = sealer(settings).seal(Envelope(sub, token, id_token, my_account_token, float(claims["exp"])))
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
