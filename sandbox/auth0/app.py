"""HTTP surface of the tenant: discovery, JWKS, /authorize with its login and consent pages,
/oauth/token, /userinfo, revoke, logout, and the Management API."""

from __future__ import annotations

import secrets
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from . import management, my_account, pages
from .tenant import Outcome, Tenant, is_app_consent
from .token_endpoint import token_endpoint

SESSION_COOKIE = "sbx_session"


def _render(request: Request, tenant: Tenant, outcome: Outcome) -> Response:
    if outcome.error:
        return HTMLResponse(pages.error_page(outcome.error), 400)
    if outcome.redirect:
        return RedirectResponse(outcome.redirect, 302)
    if outcome.consent:
        tx = outcome.consent
        user = tenant.users[tx.user_id or ""]
        if is_app_consent(tx):
            return HTMLResponse(pages.app_consent_page(tx, user.email, tenant.base_url))
        connection = tx.params.get("requested_connection", "")
        account = tenant.world.provider_account(connection, user.provider_accounts.get(connection, ""))
        label = (account.login or account.email) if account else user.email
        return HTMLResponse(pages.consent_page(tx, label, step_up=user.identity(connection) is not None))
    tx = outcome.login
    assert tx is not None
    user_id = tenant.sessions.get(request.cookies.get(SESSION_COOKIE, ""))
    if user_id and user_id in tenant.users and tx.params.get("prompt") != "login":
        return _render(request, tenant, tenant.continue_authorize(tx, user_id))
    return HTMLResponse(pages.login_page(tx))


async def authorize(request: Request) -> Response:
    tenant: Tenant = request.app.state.tenant
    params = {k: v for k, v in request.query_params.items()}
    if any(len(v) > 8192 for v in params.values()):
        return HTMLResponse(pages.error_page("Request parameters are too large."), 400)
    if problem := await tenant.resolve_client(params.get("client_id", "")):
        return HTMLResponse(pages.error_page(problem), 400)
    return _render(request, tenant, tenant.begin_authorize(params))


async def login(request: Request) -> Response:
    tenant: Tenant = request.app.state.tenant
    form = await request.form()
    tx = tenant.transactions.get(str(form.get("tx", "")))
    if tx is None:
        return HTMLResponse(pages.error_page("This login request has expired. Start again."), 400)
    user = tenant.login(str(form.get("email", "")), str(form.get("password", "")))
    if user is None:
        return HTMLResponse(pages.login_page(tx, "Wrong email or password."), 401)
    cookie = secrets.token_urlsafe(24)
    tenant.sessions[cookie] = user.user_id
    response = _render(request, tenant, tenant.continue_authorize(tx, user.user_id))
    response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="lax")
    return response


async def consent(request: Request) -> Response:
    tenant: Tenant = request.app.state.tenant
    form = await request.form()
    tx = tenant.transactions.get(str(form.get("tx", "")))
    if tx is None or tx.user_id is None:
        return HTMLResponse(pages.error_page("This authorization request has expired. Start again."), 400)
    if tenant.sessions.get(request.cookies.get(SESSION_COOKIE, "")) != tx.user_id:
        return HTMLResponse(pages.error_page("Your session does not match this request."), 403)
    return _render(request, tenant, tenant.decide_consent(tx, form.get("action") == "allow"))


def _metadata(tenant: Tenant) -> dict[str, Any]:
    base = tenant.base_url
    return {
        "issuer": base + "/", "authorization_endpoint": base + "/authorize",
        "token_endpoint": base + "/oauth/token", "userinfo_endpoint": base + "/userinfo",
        "jwks_uri": base + "/.well-known/jwks.json", "revocation_endpoint": base + "/oauth/revoke",
        "end_session_endpoint": base + "/oidc/logout", "registration_endpoint": base + "/oidc/register",
        "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256", "plain"],
        "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post",
                                                  "private_key_jwt", "none"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],  # as Auth0: not link_account
        "client_id_metadata_document_supported": bool(tenant.config.get("client_id_metadata_documents")),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials",
                                  "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token"],
    }


async def discovery(request: Request) -> JSONResponse:
    """OpenID Connect discovery; the same document answers RFC 8414 (`oauth-authorization-server`)."""
    return JSONResponse(_metadata(request.app.state.tenant))


async def register(request: Request) -> JSONResponse:
    """Dynamic Client Registration (RFC 7591) at Auth0's path: what a spec-following MCP client uses
    to get a client_id for itself. Public (auth method `none`) unless it asks for a secret."""
    tenant: Tenant = request.app.state.tenant
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return JSONResponse({"error": "invalid_client_metadata", "error_description": "JSON body expected."}, 400)
    uris = body.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) and u for u in uris):
        return JSONResponse({"error": "invalid_redirect_uri", "error_description": "redirect_uris is required."}, 400)
    method = body.get("token_endpoint_auth_method") or "client_secret_post"
    if method not in ("none", "client_secret_post", "client_secret_basic"):
        return JSONResponse({"error": "invalid_client_metadata",
                             "error_description": f"Unsupported token_endpoint_auth_method {method}."}, 400)
    client = tenant.register_client(str(body.get("client_name") or ""), uris, public=method == "none")
    answer: dict[str, Any] = {
        "client_id": client.client_id, "client_name": client.name, "redirect_uris": client.callbacks,
        "token_endpoint_auth_method": method, "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"], "client_id_issued_at": int(time.time()),
    }
    if not client.public:
        answer["client_secret"] = client.client_secret
        answer["client_secret_expires_at"] = 0
    return JSONResponse(answer, 201)


async def jwks(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.tenant.keys.jwks())


async def userinfo(request: Request) -> JSONResponse:
    tenant: Tenant = request.app.state.tenant
    header = request.headers.get("authorization", "")
    claims = tenant.keys.verify(header[7:]) if header.lower().startswith("bearer ") else None
    user = tenant.users.get(claims.get("sub", "")) if claims else None
    if user is None:
        return JSONResponse({"error": "invalid_token"}, 401,
                            headers={"www-authenticate": 'Bearer error="invalid_token"'})
    return JSONResponse({"sub": user.user_id, "email": user.email, "email_verified": user.email_verified,
                         "name": user.name})


async def revoke(request: Request) -> Response:
    tenant: Tenant = request.app.state.tenant
    form = await request.form()
    stored = tenant.refresh_tokens.get(str(form.get("token", "")))
    if stored and stored.client_id == form.get("client_id"):
        tenant.refresh_tokens.pop(str(form.get("token")), None)
    return Response(status_code=200)


async def logout(request: Request) -> Response:
    tenant: Tenant = request.app.state.tenant
    tenant.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
    target = request.query_params.get("post_logout_redirect_uri") or request.query_params.get("returnTo")
    client = tenant.clients.get(request.query_params.get("client_id", ""))
    if target and client and client.allows_callback(target):
        response: Response = RedirectResponse(target, 302)
    else:
        response = HTMLResponse(pages.error_page("You are logged out."))
    response.delete_cookie(SESSION_COOKIE)
    return response


def create_app(tenant: Tenant) -> Starlette:
    app = Starlette(routes=[
        Route("/.well-known/openid-configuration", discovery),
        Route("/.well-known/oauth-authorization-server", discovery),
        Route("/oidc/register", register, methods=["POST"]),
        Route("/.well-known/jwks.json", jwks),
        Route("/authorize", authorize),
        Route("/u/login", login, methods=["POST"]),
        Route("/u/consent", consent, methods=["POST"]),
        Route("/oauth/token", token_endpoint, methods=["POST"]),
        Route("/userinfo", userinfo),
        Route("/oauth/revoke", revoke, methods=["POST"]),
        Route("/oidc/logout", logout),
        *management.routes,
        *my_account.routes,
    ])
    app.state.tenant = tenant
    return app
