"""The control API (`SANDBOX_CONTROL_URL`): what tests and demos use to play the user and the world —
create users, mint a logged-in session, click Allow/Deny at an authorize URL, inspect or seed token
sets, inject faults, read the request log. Never part of a real service."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .auth0.tenant import Tenant
from .world import Fault, World

FAULT_KINDS = ("latency", "status", "rate_limit", "drop", "drop_after")


def _user_json(tenant: Tenant, user_id: str) -> dict[str, Any]:
    user = tenant.users[user_id]
    google = tenant.world.provider_account("google-oauth2", user.provider_accounts["google-oauth2"])
    github = tenant.world.provider_account("github", user.provider_accounts["github"])
    return {"user_id": user.user_id, "email": user.email, "name": user.name, "password": user.password,
            "google": {"user_id": google.user_id, "email": google.email},
            "github": {"user_id": github.user_id, "login": github.login}}


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status)


async def users(request: Request) -> JSONResponse:
    tenant: Tenant = request.app.state.tenant
    if request.method == "GET":
        return JSONResponse([_user_json(tenant, uid) for uid in tenant.users])
    body = await _body(request)
    try:
        user = tenant.create_user(body.get("name"), body.get("email"), body.get("handle"))
    except ValueError as exc:
        return _bad(str(exc), 409)
    return JSONResponse(_user_json(tenant, user.user_id), 201)


async def apis(request: Request) -> JSONResponse:
    """Create an API (resource server) in the tenant, as the dashboard's Applications › APIs does."""
    tenant: Tenant = request.app.state.tenant
    identifier = str((await _body(request)).get("identifier") or "")
    if not identifier:
        return _bad("identifier is required")
    tenant.apis.add(identifier)
    return JSONResponse({"identifier": identifier}, 201)


async def sessions(request: Request) -> JSONResponse:
    tenant: Tenant = request.app.state.tenant
    body = await _body(request)
    if body.get("user_id") not in tenant.users:
        return _bad("unknown user_id", 404)
    audience = body.get("audience") or ""
    return JSONResponse(tenant.session_for(body["user_id"], body.get("scope") or
                                           "openid profile email offline_access", audience))


async def authorize(request: Request) -> JSONResponse:
    """Act as the user's browser at an authorize URL: log in as `user_id`, then Allow or Deny.

    An app's own link page (a URL not on the tenant, say a server's `/link/{id}` that signs the user in
    first) is followed as a browser would: its redirects, the tenant's login for `user_id` and the app's
    callback, up to the consent; the answer is the redirect back to the app after Allow or Deny."""
    tenant: Tenant = request.app.state.tenant
    body = await _body(request)
    user_id, action = body.get("user_id"), body.get("action", "approve")
    if user_id not in tenant.users:
        return _bad("unknown user_id", 404)
    url = str(body.get("url", ""))
    if not url.startswith(tenant.base_url + "/"):
        return await _browse(tenant, url, user_id, action)
    return await _decide(tenant, url, user_id, action)


async def _browse(tenant: Tenant, url: str, user_id: str, action: str) -> JSONResponse:
    import httpx

    async with httpx.AsyncClient(timeout=60) as http:
        for _ in range(10):
            if url.startswith(tenant.base_url + "/"):
                answer = await _decide(tenant, url, user_id, action)
                target = json.loads(answer.body).get("redirect_url") if answer.status_code == 200 else ""
                login_only = "link_account" not in dict(parse_qsl(urlsplit(url).query)).get("scope", "").split() \
                    and urlsplit(url).path != "/connected-accounts/connect"
                if answer.status_code != 200 or not login_only:
                    return answer
                url = target  # the app's callback for the sign-in: the browser goes on
                continue
            response = await http.get(url)
            if response.status_code not in (301, 302, 303, 307):
                return _bad(f"the app answered {response.status_code} instead of sending the browser on")
            url = response.headers["location"]
    return _bad("too many redirects")


async def _decide(tenant: Tenant, url: str, user_id: str, action: str) -> JSONResponse:
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query))
    if parts.path == "/connected-accounts/connect":  # a My Account connect_uri?ticket=…
        from .auth0.my_account import decide_connect

        flow = tenant.connect_tickets.get(params.get("ticket", ""))
        if flow is None or flow["user_id"] != user_id:
            return _bad("unknown ticket for this user")
        target = decide_connect(tenant, params["ticket"], action in ("approve", "allow"))
        return JSONResponse({"redirect_url": target}) if target else _bad("ticket already answered or expired")
    if problem := await tenant.resolve_client(params.get("client_id", "")):
        return _bad(problem)
    outcome = tenant.begin_authorize(params)
    if outcome.login:
        outcome = tenant.continue_authorize(outcome.login, user_id)
    if outcome.consent:
        outcome = tenant.decide_consent(outcome.consent, action in ("approve", "allow"))
    if outcome.error:
        return _bad(outcome.error)
    return JSONResponse({"redirect_url": outcome.redirect})


async def tokensets(request: Request) -> JSONResponse:
    tenant: Tenant = request.app.state.tenant
    if request.method == "GET":
        user_id = request.query_params.get("user_id")
        return JSONResponse([{"user_id": t.user_id, "connection": t.connection,
                              "provider_user_id": t.provider_user_id, "scopes": sorted(t.scopes)}
                             for t in tenant.token_sets.values() if user_id in (None, t.user_id)])
    body = await _body(request)
    user = tenant.users.get(body.get("user_id", ""))
    if user is None or body.get("connection") not in user.provider_accounts:
        return _bad("unknown user_id or connection", 404)
    if request.method == "DELETE":
        return JSONResponse({"removed": tenant.unlink(user, body["connection"])})
    tenant.link(user, body["connection"], set(body.get("scopes") or []))
    return JSONResponse({"ok": True}, 201)


async def faults(request: Request) -> Response:
    world: World = request.app.state.world
    if request.method == "DELETE":
        world.faults.clear()
        return JSONResponse({"ok": True})
    if request.method == "GET":
        return JSONResponse([asdict(f) for f in world.faults])
    body = await _body(request)
    fields = {k: body[k] for k in ("service", "path", "kind", "method", "delay_ms", "status", "retry_after",
                                   "body", "times", "grant_type") if k in body}
    if fields.get("kind") not in FAULT_KINDS or "path" not in fields:
        return _bad(f"a fault needs kind ({'|'.join(FAULT_KINDS)}) and path")
    fault = world.add_fault(Fault(**{"service": "*", **fields}))
    return JSONResponse({"id": fault.id}, 201)


async def requests_log(request: Request) -> JSONResponse:
    world: World = request.app.state.world
    if request.method == "DELETE":
        world.requests.clear()
        return JSONResponse({"ok": True})
    found = world.find_requests(request.query_params.get("service"), request.query_params.get("path"))
    return JSONResponse([asdict(r) for r in found])


async def config(request: Request) -> JSONResponse:
    tenant: Tenant = request.app.state.tenant
    if request.method == "PUT":
        body = await _body(request)
        unknown = set(body) - set(tenant.config)
        if unknown:
            return _bad(f"unknown settings: {sorted(unknown)}")
        tenant.config.update(body)
    return JSONResponse(tenant.config)


async def revoke_provider_tokens(request: Request) -> JSONResponse:
    tenant: Tenant = request.app.state.tenant
    body = await _body(request)
    user = tenant.users.get(body.get("user_id", ""))
    connection = body.get("connection", "")
    if user is None or connection not in user.provider_accounts:
        return _bad("unknown user_id or connection", 404)
    count = tenant.world.revoke_provider_tokens(connection, user.provider_accounts[connection])
    return JSONResponse({"revoked": count})


async def provider_data(request: Request) -> JSONResponse:
    """Read-only view of a user's seeded provider data (events, issues) for assertions."""
    tenant: Tenant = request.app.state.tenant
    user = tenant.users.get(request.query_params.get("user_id", ""))
    if user is None:
        return _bad("unknown user_id", 404)
    google = tenant.world.data.get("google", {}).get(user.provider_accounts["google-oauth2"], {})
    github = tenant.world.data.get("github", {}).get(user.provider_accounts["github"], {})
    return JSONResponse({"events": google.get("events", []), "issues": github.get("issues", {})})


async def connections(request: Request) -> JSONResponse:
    """Enable another connection in the tenant (a developer's own provider)."""
    tenant: Tenant = request.app.state.tenant
    body = await _body(request)
    name, label = str(body.get("name") or ""), str(body.get("label") or body.get("name") or "")
    if not name:
        return _bad("name is required")
    tenant.add_connection(name, label)
    return JSONResponse({"name": name, "label": label}, 201)


async def custom_provider_me(request: Request) -> JSONResponse:
    """The API of any added connection: who the bearer token acts for, with which scopes. It accepts
    exactly the provider tokens the tenant's Token Vault minted for that connection, like Google and GitHub."""
    tenant: Tenant = request.app.state.tenant
    connection = request.path_params["connection"]
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    grant = tenant.world.lookup_provider_token(connection, token) if scheme.lower() == "bearer" else None
    if grant is None:
        return JSONResponse({"error": "invalid_token"}, 401, headers={"www-authenticate": "Bearer"})
    account = tenant.world.provider_account(connection, grant.user_id)
    return JSONResponse({"connection": connection, "id": grant.user_id, "scopes": sorted(grant.scopes),
                         "email": account.email if account else "", "name": account.name if account else ""})


def create_app(world: World, tenant: Tenant) -> Starlette:
    app = Starlette(routes=[
        Route("/control/users", users, methods=["GET", "POST"]),
        Route("/control/apis", apis, methods=["POST"]),
        Route("/control/sessions", sessions, methods=["POST"]),
        Route("/control/authorize", authorize, methods=["POST"]),
        Route("/control/tokensets", tokensets, methods=["GET", "POST", "DELETE"]),
        Route("/control/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/control/requests", requests_log, methods=["GET", "DELETE"]),
        Route("/control/config", config, methods=["GET", "PUT"]),
        Route("/control/revoke-provider-tokens", revoke_provider_tokens, methods=["POST"]),
        Route("/control/provider-data", provider_data),
        Route("/control/connections", connections, methods=["POST"]),
        Route("/custom-provider/{connection}/me", custom_provider_me),
    ])
    app.state.world, app.state.tenant = world, tenant
    return app
