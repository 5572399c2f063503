"""Custom auth for the LangGraph server (served through `auth/langgraph_auth.py`).

Authentication. Every request carries `Authorization: Bearer <Auth0 access token for AUTH0_AUDIENCE>`,
checked against the tenant's JWKS (issuer, audience, expiry) — and nothing else: what account linking
needs (a fresh ID token for `id_token_hint`, a My Account API token) is minted when the user opens the
link (`auth/linking/sign_in.py`). Other headers (the `X-Id-Token` / `X-My-Account-Token` that older
clients sent) are ignored.

What a run needs from the token travels *with the run*: the auth user returned here (LangGraph persists
it with every run) carries it sealed in a credential envelope (`auth/envelope.py`, a JWE naming the
`sub`, expiring with the access token; `auth/run_credentials.py`). Any process — API server, queue
worker, another replica, the same server after a restart — can open it with the configured key; nothing
readable is stored, and no process keeps credentials in memory. (What a process keeps, to verify each
token once rather than on every request, is the verification's outcome — `sub`, `email`, expiry — under the
token's SHA-256, until the token expires: `_verified`.)

The server's own callback authenticates with a resume credential instead (`auth/resume_credential.py`, a
JWE only the server key makes): the thread's owner, for reading that thread and creating one run on it.

Authorization: deny by default. Threads are owned by their creator (`metadata.owner`, stamped here and
never settable by a client), including threads a run creates; assistants are read-only; the store is
per user.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from langgraph_sdk import Auth

from . import resume_credential
from .envelope import Envelope
from .errors import Misconfigured
from .oidc import InvalidToken, OIDCProvider
from .run_credentials import ENVELOPE_FIELD, PERMISSIONS, sealer, user_dict
from .server_store import server_store
from .settings import Settings, get_settings

__all__ = ["ENVELOPE_FIELD", "PERMISSIONS", "RESUME_FIELD", "auth", "configuration_problems", "oidc_provider",
           "sealer", "user_dict"]

RESUME_FIELD = "resume_grant"

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


def _header(headers: Any, name: bytes) -> str:
    value = headers.get(name) or headers.get(name.decode())
    return value.decode() if isinstance(value, bytes) else (value or "")


def _unauthorized(detail: str) -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(status_code=401, detail=detail)


@auth.authenticate
async def authenticate(headers: dict) -> dict[str, Any]:
    """Both engines call this: `langgraph dev` by parameter name (bytes keys), Aegra as
    `authenticate(headers)` (str keys)."""
    settings = get_settings()
    scheme, _, token = _header(headers, b"authorization").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("Missing bearer token: send Authorization: Bearer <Auth0 access token>.")
    if token.count(".") == 4:  # a JWE, not a JWT: only the server's own resume credential can be one
        return _resume_user(token, settings)
    key = (hashlib.sha256(token.encode()).digest(), settings.auth0_base_url, settings.auth0_audience)
    known = _verified.get(key)
    if known is None or known[2] <= time.time():
        try:
            claims = await oidc_provider().validate(token, audience=settings.auth0_audience)
        except InvalidToken as exc:
            raise _unauthorized(f"Invalid access token: {exc}") from exc
        known = (str(claims["sub"]), str(claims.get("email", "")), float(claims["exp"]))
        _remember(key, known)
    sub, email, expires_at = known
    envelope = sealer(settings).seal(Envelope(sub, token, expires_at=expires_at))
    return user_dict(sub, envelope, email)


_verified: dict[tuple[bytes, str, str], tuple[str, str, float]] = {}
VERIFIED_MAX = 10_000


def _remember(key: tuple[bytes, str, str], outcome: tuple[str, str, float]) -> None:
    """Keep a verified token's outcome until it expires (at most VERIFIED_MAX tokens: expired ones go
    first, then the oldest)."""
    if len(_verified) >= VERIFIED_MAX:
        now = time.time()
        for stale in [k for k, v in _verified.items() if v[2] <= now] or list(_verified)[:VERIFIED_MAX // 2]:
            del _verified[stale]
    _verified[key] = outcome


def _resume_user(token: str, settings: Settings) -> dict[str, Any]:
    """The thread's owner, for the callback's resume only (`auth/resume_credential.py`)."""
    try:
        grant = resume_credential.open_grant(sealer(settings).jwe, token)
    except resume_credential.InvalidResumeCredential as exc:
        raise _unauthorized("Invalid access token.") from exc
    return {**user_dict(grant.owner, grant.envelope), RESUME_FIELD: {
        "thread_id": grant.thread_id, "state": grant.state, "grant_id": grant.grant_id,
        "expires_at": grant.expires_at}}


def _resume_scope(ctx: Auth.types.AuthContext) -> dict[str, Any] | None:
    """The resume credential's limits when the caller authenticated with one, else None."""
    user = ctx.user
    try:
        value = user[RESUME_FIELD]
    except (KeyError, TypeError, AttributeError, NotImplementedError):
        value = getattr(user, RESUME_FIELD, None)
    return value if isinstance(value, dict) else None


def _forbidden(detail: str = "Not allowed.") -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(status_code=403, detail=detail)


def _only_the_resumed_thread(scope: dict[str, Any], value: dict) -> None:
    if not scope.get("thread_id") or str(value.get("thread_id") or "") != scope["thread_id"]:
        raise _forbidden("A resume credential is for its own thread only.")


def _only_its_answer(scope: dict[str, Any], value: dict) -> None:
    """The run must resume with answers to the credential's own linking request (`state`), and nothing else:
    no input, no other interrupt's answer. (`langgraph dev` passes the run's body under `kwargs`.)"""
    kwargs = value.get("kwargs") if isinstance(value.get("kwargs"), dict) else {}
    command = value.get("command") or kwargs.get("command")
    resume = command.get("resume") if isinstance(command, dict) else None
    answers = list(resume.values()) if isinstance(resume, dict) and "state" not in resume else [resume]
    if (value.get("input") or kwargs.get("input") or not answers
            or any(not isinstance(a, dict) or a.get("state") != scope.get("state") for a in answers)):
        raise _forbidden("A resume credential only answers its own linking request.")


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
    if _resume_scope(ctx) is not None:
        raise _forbidden()
    return _stamp_owner(ctx, value)


@auth.on.threads.create_run
async def create_run(ctx: Auth.types.AuthContext, value: dict) -> dict:
    """Runs on the caller's threads only. A thread the run creates (`if_not_exists="create"`, stateless
    runs) gets the caller as owner through the run's metadata, which the server copies onto it. A resume
    credential creates one run, on its thread, once."""
    scope = _resume_scope(ctx)
    if scope is not None:
        _only_the_resumed_thread(scope, value)
        _only_its_answer(scope, value)
        try:
            await resume_credential.consume(server_store(), str(scope.get("grant_id")),
                                            float(scope.get("expires_at") or 0))
        except resume_credential.InvalidResumeCredential as exc:
            raise _forbidden("This resume credential was already used.") from exc
    return _stamp_owner(ctx, value)


@auth.on.threads.update
async def update_thread(ctx: Auth.types.AuthContext, value: dict) -> dict:
    """The caller's threads only, and `metadata.owner` stays what the server set."""
    if _resume_scope(ctx) is not None:
        raise _forbidden()
    metadata = value.get("metadata")
    if isinstance(metadata, dict) and "owner" in metadata and metadata["owner"] != ctx.user.identity:
        raise Auth.exceptions.HTTPException(status_code=403, detail="metadata.owner is set by the server.")
    return {"owner": ctx.user.identity}


@auth.on.threads.read
@auth.on.threads.delete
@auth.on.threads.search
async def own_threads(ctx: Auth.types.AuthContext, value: dict) -> dict:
    """Every other thread access (runs included) only sees the caller's own threads; a resume credential
    reads its one thread."""
    scope = _resume_scope(ctx)
    if scope is not None:
        if ctx.action not in ("read", "search"):  # listing its runs is a search on that thread
            raise _forbidden()
        _only_the_resumed_thread(scope, value)
    return {"owner": ctx.user.identity}


@auth.on.assistants.read
@auth.on.assistants.search
async def read_assistants(ctx: Auth.types.AuthContext, value: dict) -> bool:  # noqa: ARG001 - the handler signature
    """Assistants are shared configuration: users may read and use them, never create, change or delete."""
    return True


@auth.on.store
async def own_store(ctx: Auth.types.AuthContext, value: dict) -> None:
    if _resume_scope(ctx) is not None:
        raise _forbidden()
    namespace = tuple(value.get("namespace") or ())
    if not namespace or namespace[0] != ctx.user.identity:
        raise Auth.exceptions.HTTPException(status_code=403, detail="Store namespaces are per user.")
