"""My Account API, Connected Accounts (PROTOCOLS.md §3): how current tenants fill Token Vault.

`POST /me/v1/connected-accounts/connect` opens a flow and returns a `connect_uri` + ticket; the browser
consents there and comes back with a `connect_code`; `POST …/complete` (with the PKCE verifier) stores the
token set. Bearer tokens are the user's access tokens for the audience `<tenant>/me/`.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from . import pages
from .tenant import CONNECTIONS, Tenant, Transaction

TICKET_TTL = 300


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse({"type": f"https://auth0.com/api-errors#{status}", "status": status, "title": title,
                         "detail": detail}, status, media_type="application/problem+json")


def _me(request: Request, scope: str) -> tuple[str | None, JSONResponse | None]:
    tenant: Tenant = request.app.state.tenant
    header = request.headers.get("authorization", "")
    claims = tenant.keys.verify(header[7:]) if header.lower().startswith("bearer ") else None
    audiences = claims.get("aud") if claims else None
    audiences = audiences if isinstance(audiences, list) else [audiences]
    if claims is None or tenant.base_url + "/me/" not in audiences:
        return None, _problem(401, "Unauthorized", "Invalid token.")
    if scope not in claims.get("scope", "").split():
        return None, _problem(403, "Forbidden", f"Insufficient scope; expected {scope}.")
    return claims["sub"], None


async def connect(request: Request) -> JSONResponse:
    sub, denied = _me(request, "create:me:connected_accounts")
    if denied:
        return denied
    tenant: Tenant = request.app.state.tenant
    body = await request.json()
    errors = [{"field": f, "detail": "required"} for f in ("connection", "redirect_uri", "state") if not body.get(f)]
    if body.get("connection") not in CONNECTIONS:
        errors.append({"field": "connection", "detail": "unknown connection"})
    client = tenant.app_client
    if body.get("redirect_uri") and not client.allows_callback(body["redirect_uri"]):
        errors.append({"field": "redirect_uri", "detail": "not an allowed callback"})
    if not isinstance(body.get("scopes", []), list):
        errors.append({"field": "scopes", "detail": "must be an array"})
    if errors:
        return JSONResponse({"type": "https://auth0.com/api-errors#400", "status": 400, "title": "Bad Request",
                             "detail": "Invalid request", "validation_errors": errors}, 400,
                            media_type="application/problem+json")
    ticket, auth_session = str(secrets.token_hex(16)), secrets.token_urlsafe(24)
    tenant.connect_tickets[ticket] = {
        "user_id": sub, "auth_session": auth_session, "connection": body["connection"],
        "redirect_uri": body["redirect_uri"], "state": body["state"], "scopes": list(body.get("scopes") or []),
        "code_challenge": body.get("code_challenge", ""), "expires_at": time.time() + TICKET_TTL,
    }
    return JSONResponse({"auth_session": auth_session, "connect_uri": tenant.base_url + "/connected-accounts/connect",
                         "connect_params": {"ticket": ticket}, "expires_in": TICKET_TTL}, 201)


def decide_connect(tenant: Tenant, ticket: str, allow: bool) -> str | None:
    """The user answered the provider's consent for a connect ticket: the redirect URL, or None."""
    flow = tenant.connect_tickets.get(ticket)
    if flow is None or flow["expires_at"] < time.time() or "connect_code" in flow:
        return None
    if not allow:
        tenant.connect_tickets.pop(ticket)
        query = {"error": "access_denied", "error_description": "The user denied access.", "state": flow["state"]}
    else:
        flow["connect_code"] = secrets.token_urlsafe(24)
        query = {"connect_code": flow["connect_code"], "state": flow["state"]}
    return flow["redirect_uri"] + "?" + urlencode(query)


def _consent_tx(tenant: Tenant, ticket: str, flow: dict[str, Any]) -> Transaction:
    params = {"requested_connection": flow["connection"], "requested_connection_scope": ",".join(flow["scopes"]),
              "ticket": ticket}
    return Transaction("ca-" + ticket, params, tenant.app_client, flow["user_id"])


async def connect_page(request: Request) -> Response:
    tenant: Tenant = request.app.state.tenant
    ticket = request.query_params.get("ticket", "") or str((await request.form()).get("ticket", ""))
    flow = tenant.connect_tickets.get(ticket)
    if flow is None or flow["expires_at"] < time.time():
        return HTMLResponse(pages.error_page("This connection request is unknown or has expired."), 400)
    if request.method == "POST":
        form = await request.form()
        target = decide_connect(tenant, ticket, form.get("action") == "allow")
        if target is None:
            return HTMLResponse(pages.error_page("This connection request was already answered."), 400)
        return RedirectResponse(target, 302)
    user = tenant.users[flow["user_id"]]
    account = tenant.world.provider_account(flow["connection"], tenant.provider_account_id(user, flow["connection"]))
    html = pages.consent_page(_consent_tx(tenant, ticket, flow), (account.login or account.email) if account else "",
                              step_up=user.identity(flow["connection"]) is not None)
    html = html.replace('action="/u/consent"', 'action="/connected-accounts/connect"').replace(
        'name="tx"', 'name="ticket"').replace(f'value="ca-{ticket}"', f'value="{ticket}"')
    return HTMLResponse(html)


async def complete(request: Request) -> JSONResponse:
    sub, denied = _me(request, "create:me:connected_accounts")
    if denied:
        return denied
    tenant: Tenant = request.app.state.tenant
    body = await request.json()
    flow = next((f for f in tenant.connect_tickets.values() if f["auth_session"] == body.get("auth_session")), None)
    if flow is None or flow["user_id"] != sub or flow.get("connect_code") != body.get("connect_code") \
            or flow["redirect_uri"] != body.get("redirect_uri"):
        return _problem(400, "Bad Request", "Invalid auth_session, connect_code or redirect_uri.")
    if flow["code_challenge"] and create_s256_code_challenge(body.get("code_verifier", "")) != flow["code_challenge"]:
        return _problem(400, "Bad Request", "Invalid code_verifier.")
    tenant.connect_tickets = {t: f for t, f in tenant.connect_tickets.items() if f is not flow}
    user = tenant.users[sub]
    tenant.link(user, flow["connection"], set(flow["scopes"]), as_identity=False)
    account_id = "cac_" + secrets.token_hex(8)
    now = datetime.now(timezone.utc)
    account = {"id": account_id, "connection": flow["connection"], "access_type": "offline",
               "scopes": flow["scopes"], "created_at": now.isoformat(), "user_id": sub}
    tenant.connected_accounts[account_id] = account
    return JSONResponse({k: v for k, v in account.items() if k != "user_id"}, 201)


async def accounts(request: Request) -> JSONResponse:
    sub, denied = _me(request, "read:me:connected_accounts")
    if denied:
        return denied
    connection = request.query_params.get("connection")
    found = [{k: v for k, v in a.items() if k != "user_id"} for a in request.app.state.tenant.connected_accounts.values()
             if a["user_id"] == sub and connection in (None, a["connection"])]
    return JSONResponse({"accounts": found})


async def delete_account(request: Request) -> Response:
    sub, denied = _me(request, "delete:me:connected_accounts")
    if denied:
        return denied
    tenant: Tenant = request.app.state.tenant
    account = tenant.connected_accounts.get(request.path_params["id"])
    if account is None or account["user_id"] != sub:
        return _problem(404, "Not Found", "No such connected account.")
    del tenant.connected_accounts[account["id"]]
    tenant.token_sets.pop((sub, account["connection"]), None)
    return Response(status_code=204)


routes = [
    Route("/me/v1/connected-accounts/connect", connect, methods=["POST"]),
    Route("/me/v1/connected-accounts/complete", complete, methods=["POST"]),
    Route("/me/v1/connected-accounts/accounts", accounts),
    Route("/me/v1/connected-accounts/accounts/{id}", delete_account, methods=["DELETE"]),
    Route("/connected-accounts/connect", connect_page, methods=["GET", "POST"]),
]
