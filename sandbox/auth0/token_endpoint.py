"""`POST /oauth/token`: client authentication in every encoding Auth0 accepts, then the grants —
authorization_code (PKCE), refresh_token, client_credentials and the Token Vault exchange."""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any
from urllib.parse import unquote

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.requests import Request
from starlette.responses import JSONResponse

from .tenant import (
    ACCESS_TOKEN_TYPE,
    FEDERATED_TOKEN_TYPE,
    REFRESH_TOKEN_TYPE,
    TOKEN_VAULT_GRANT,
    Client,
    Tenant,
    audience_of,
)

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MANAGEMENT_SCOPES = "read:users update:users delete:users create:users read:user_idp_tokens create:clients"


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        self.status, self.error, self.description = status, error, description

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.error, "error_description": self.description}, self.status)


async def read_params(request: Request) -> dict[str, Any]:
    """JSON (auth0-python) or form body; JSON nulls (e.g. `"connection": null`) count as absent."""
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(raw or b"{}")
        except ValueError as exc:
            raise OAuthError(400, "invalid_request", "Malformed JSON body.") from exc
        if not isinstance(data, dict):
            raise OAuthError(400, "invalid_request", "Body must be an object.")
        return {k: v for k, v in data.items() if v is not None}
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def authenticate_client(tenant: Tenant, request: Request, params: dict[str, Any]) -> Client:
    client_id, secret = params.get("client_id"), params.get("client_secret")
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:]).decode()
            basic_id, _, basic_secret = decoded.partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise OAuthError(401, "invalid_client", "Client authentication failed") from exc
        client_id, secret = unquote(basic_id), unquote(basic_secret)
    if params.get("client_assertion_type") == CLIENT_ASSERTION_TYPE:
        return _private_key_jwt(tenant, params.get("client_assertion", ""), client_id)
    client = tenant.clients.get(client_id or "")
    if client is not None and client.public and not secret:
        return client  # token_endpoint_auth_method "none"; its codes are bound by PKCE
    if client is None or not secret or secret != client.client_secret:
        raise OAuthError(401, "invalid_client", "Client authentication failed")
    return client


def _private_key_jwt(tenant: Tenant, assertion: str, client_id: str | None) -> Client:
    failed = OAuthError(401, "invalid_client", "Client authentication failed")
    try:
        unverified = json.loads(base64.urlsafe_b64decode(assertion.split(".")[1] + "=="))
    except (ValueError, IndexError, binascii.Error) as exc:
        raise failed from exc
    client = tenant.clients.get(unverified.get("iss", ""))
    if client is None or client.jwks is None or (client_id and client_id != client.client_id):
        raise failed
    try:
        claims = jwt.decode(assertion, KeySet.import_key_set(client.jwks)).claims
    except (JoseError, ValueError) as exc:
        raise failed from exc
    if (claims.get("sub") != client.client_id or claims.get("aud") not in (tenant.issuer, tenant.base_url)
            or claims.get("exp", 0) < time.time()):
        raise failed
    return client


def _require_grant(client: Client, grant: str) -> None:
    if grant not in client.grants:
        raise OAuthError(403, "unauthorized_client", f"Grant type '{grant}' not allowed for the client.")


async def token_endpoint(request: Request) -> JSONResponse:
    tenant: Tenant = request.app.state.tenant
    try:
        params = await read_params(request)
        client = authenticate_client(tenant, request, params)
        grant = params.get("grant_type", "")
        handler = _GRANTS.get(grant)
        if handler is None:
            raise OAuthError(400, "unsupported_grant_type", f"Unsupported grant type: {grant}")
        _require_grant(client, grant)
        return JSONResponse(handler(tenant, client, params), headers={"cache-control": "no-store"})
    except OAuthError as err:
        return err.response()


def _authorization_code(tenant: Tenant, client: Client, params: dict[str, Any]) -> dict[str, Any]:
    grant = tenant.redeem_code(client, params.get("code", ""), params.get("redirect_uri", ""),
                               params.get("code_verifier", ""))
    if grant is None:
        raise OAuthError(403, "invalid_grant", "Invalid authorization code")
    user = tenant.users[grant.user_id]
    return tenant.token_response(user, client, grant.scope, grant.audience, grant.nonce)


def _refresh_token(tenant: Tenant, client: Client, params: dict[str, Any]) -> dict[str, Any]:
    stored = tenant.refresh_tokens.get(params.get("refresh_token", ""))
    if stored is None or stored.client_id != client.client_id or stored.user_id not in tenant.users:
        raise OAuthError(403, "invalid_grant", "Unknown or invalid refresh token.")
    scope = params.get("scope") or stored.scope
    audience = audience_of(params) or stored.audience
    if audience and not tenant.known_audience(audience):
        raise OAuthError(403, "access_denied", f"Service not found: {audience}")
    return tenant.token_response(tenant.users[stored.user_id], client, scope, audience, with_refresh=False)


def _client_credentials(tenant: Tenant, client: Client, params: dict[str, Any]) -> dict[str, Any]:
    audience = params.get("audience", "")
    if audience != tenant.management_audience:
        raise OAuthError(403, "access_denied", f"Client is not authorized to access \"{audience}\".")
    scope = MANAGEMENT_SCOPES
    token = tenant.access_token(client.client_id + "@clients", client.client_id, audience, scope)
    return {"access_token": token, "token_type": "Bearer", "expires_in": 86400, "scope": scope}


def _token_vault(tenant: Tenant, client: Client, params: dict[str, Any]) -> dict[str, Any]:
    subject_type = params.get("subject_token_type", "")
    subject = params.get("subject_token", "")
    if params.get("requested_token_type", FEDERATED_TOKEN_TYPE) != FEDERATED_TOKEN_TYPE:
        raise OAuthError(400, "invalid_request", "Unsupported requested_token_type.")
    if subject_type == REFRESH_TOKEN_TYPE:
        stored = tenant.refresh_tokens.get(subject)
        if stored is None or stored.client_id != client.client_id:
            raise OAuthError(401, "invalid_grant", "Unknown or invalid refresh token.")
        user_id = stored.user_id
    elif subject_type == ACCESS_TOKEN_TYPE:
        claims = tenant.keys.verify(subject)
        audiences = claims.get("aud") if claims else None
        audiences = audiences if isinstance(audiences, list) else [audiences]
        if claims is None or not tenant.apis & set(audiences) or claims.get("iss") != tenant.issuer:
            raise OAuthError(401, "invalid_grant", "Invalid subject token.")
        user_id = claims["sub"]
    else:
        raise OAuthError(400, "invalid_request", "Unsupported subject_token_type.")
    connection = params.get("connection")
    if not connection:
        raise OAuthError(400, "invalid_request", "Missing required parameter: connection")
    user = tenant.users.get(user_id)
    token_set = tenant.token_sets.get((user_id, connection)) if user else None
    if token_set is None:
        error = tenant.config["no_tokenset_error"]
        description = ("Federated connection Refresh Token not found."
                       if error == "federated_connection_refresh_token_not_found"
                       else "No token set was found for the requested connection.")
        raise OAuthError(401, error, description)
    hint = params.get("login_hint")
    account = tenant.world.provider_account(connection, token_set.provider_user_id)
    if hint and account and hint not in (account.user_id, account.email, account.login):
        raise OAuthError(401, "user_not_found", "Identity User not found.")
    ttl = int(tenant.config["provider_token_ttl"])
    token = tenant.world.issue_provider_token(connection, token_set.provider_user_id, token_set.scopes, ttl)
    return {"access_token": token, "scope": " ".join(sorted(token_set.scopes)), "expires_in": ttl,
            "issued_token_type": FEDERATED_TOKEN_TYPE, "token_type": "Bearer"}


_GRANTS = {
    "authorization_code": _authorization_code,
    "refresh_token": _refresh_token,
    "client_credentials": _client_credentials,
    TOKEN_VAULT_GRANT: _token_vault,
}
