"""Management API v2 (`/api/v2/`): users, identities (link/unlink), users by email, and the import of a
client from its client ID metadata document (`clients/cimd/register`). Bearer tokens are client-credentials
tokens for the management audience."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .tenant import Tenant, User


def _error(status: int, message: str, code: str = "") -> JSONResponse:
    names = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
    body = {"statusCode": status, "error": names.get(status, "Error"), "message": message}
    if code:
        body["errorCode"] = code
    return JSONResponse(body, status)


def _authorized(request: Request, scope: str) -> JSONResponse | None:
    tenant: Tenant = request.app.state.tenant
    header = request.headers.get("authorization", "")
    claims = tenant.keys.verify(header[7:]) if header.lower().startswith("bearer ") else None
    if claims is None or claims.get("aud") != tenant.management_audience:
        return _error(401, "Invalid token", "invalid_token")
    if scope not in claims.get("scope", "").split():
        return _error(403, f"Insufficient scope, expected any of: {scope}", "insufficient_scope")
    return None


async def get_user(request: Request) -> JSONResponse:
    if denied := _authorized(request, "read:users"):
        return denied
    user = request.app.state.tenant.users.get(request.path_params["user_id"])
    return JSONResponse(user.as_json()) if user else _error(404, "The user does not exist.", "inexistent_user")


async def users_by_email(request: Request) -> JSONResponse:
    if denied := _authorized(request, "read:users"):
        return denied
    email = request.query_params.get("email", "")
    if not email:
        return _error(400, "Query validation error: 'email' is required", "invalid_query_string")
    return JSONResponse([u.as_json() for u in request.app.state.tenant.user_by_email(email)])


def _user_to_update(request: Request) -> tuple[Tenant, User] | JSONResponse:
    if denied := _authorized(request, "update:users"):
        return denied
    tenant: Tenant = request.app.state.tenant
    user = tenant.users.get(request.path_params["user_id"])
    if user is None:
        return _error(404, "The user does not exist.", "inexistent_user")
    return tenant, user


async def link_identity(request: Request) -> JSONResponse:
    found = _user_to_update(request)
    if isinstance(found, JSONResponse):
        return found
    tenant, user = found
    body = await request.json()
    connection, provider_user_id = body.get("provider", ""), str(body.get("user_id", ""))
    secondary = tenant.users.get(f"{connection}|{provider_user_id}")
    if secondary is not None and secondary is not user:
        tenant.merge_users(user, secondary)  # e.g. suggested linking of two database users
    elif user.provider_accounts.get(connection) == provider_user_id:
        tenant.link(user, connection, set())
    else:
        return _error(400, "The secondary account does not exist.", "invalid_body")
    return JSONResponse([i.as_json() for i in user.identities], 201)


async def unlink_identity(request: Request) -> JSONResponse:
    found = _user_to_update(request)
    if isinstance(found, JSONResponse):
        return found
    tenant, user = found
    connection = request.path_params["provider"]
    identity = user.identity(connection)
    if identity is None or identity.user_id != request.path_params["provider_user_id"]:
        return _error(400, "The identity does not exist.", "invalid_uri")
    tenant.unlink(user, connection)
    return JSONResponse([i.as_json() for i in user.identities])


async def register_cimd_client(request: Request) -> JSONResponse:
    """`POST /api/v2/clients/cimd/register {"external_client_id": URL}`: Auth0's manual CIMD registration —
    fetch, validate and keep the document as a third-party application (201 created, 200 updated)."""
    from .cimd import CIMDError

    if denied := _authorized(request, "create:clients"):
        return denied
    try:
        body = await request.json()
    except ValueError:
        body = None
    url = body.get("external_client_id") if isinstance(body, dict) else None
    if not isinstance(url, str) or not url:
        return _error(400, "Payload validation error: 'external_client_id' is required.", "invalid_body")
    tenant: Tenant = request.app.state.tenant
    try:
        client, created = await tenant.import_metadata_document(url)
    except CIMDError as exc:
        return JSONResponse({"statusCode": 400, "error": "Bad Request", "message": str(exc),
                             "validation": {"valid": False, "violations": [str(exc)], "warnings": []}}, 400)
    return JSONResponse({
        "client_id": client.client_id,
        "mapped_fields": {"external_client_id": url, "name": client.name, "app_type": "native",
                          "callbacks": client.callbacks, "grant_types": sorted(client.grants),
                          "token_endpoint_auth_method": "none"},
        "validation": {"valid": True, "violations": [], "warnings": []},
    }, 201 if created else 200)


routes = [
    Route("/api/v2/clients/cimd/register", register_cimd_client, methods=["POST"]),
    Route("/api/v2/users-by-email", users_by_email),
    Route("/api/v2/users/{user_id}", get_user),
    Route("/api/v2/users/{user_id}/identities", link_identity, methods=["POST"]),
    Route("/api/v2/users/{user_id}/identities/{provider}/{provider_user_id}", unlink_identity,
          methods=["DELETE"]),
]
