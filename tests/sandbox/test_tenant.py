"""The Auth0 tenant stand-in over HTTP: OIDC, the link_account flow as the Action behaves, Token Vault."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

GRANT = "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token"
CAL_READ = "https://www.googleapis.com/auth/calendar.readonly"


def _pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _link_url(env, id_token, connection="google-oauth2", scopes=CAL_READ, challenge="x", state="st"):
    return env["AUTH0_DOMAIN"] + "/authorize?" + urlencode({
        "response_type": "code", "client_id": env["AUTH0_CLIENT_ID"],
        "redirect_uri": "http://127.0.0.1:9/callback", "scope": "openid link_account", "state": state,
        "nonce": "n1", "code_challenge": challenge, "code_challenge_method": "S256",
        "requested_connection": connection, "requested_connection_scope": scopes,
        "id_token_hint": id_token})


def _exchange(env, refresh_token, connection="google-oauth2"):
    return httpx.post(env["AUTH0_DOMAIN"] + "/oauth/token", data={
        "grant_type": GRANT, "client_id": env["AUTH0_CLIENT_ID"], "client_secret": env["AUTH0_CLIENT_SECRET"],
        "subject_token": refresh_token, "subject_token_type": "urn:ietf:params:oauth:token-type:refresh_token",
        "requested_token_type": "http://auth0.com/oauth/token-type/federated-connection-access-token",
        "connection": connection})


def test_discovery_and_jwks(sandbox):
    base = sandbox.env["AUTH0_DOMAIN"]
    doc = httpx.get(base + "/.well-known/openid-configuration").json()
    assert doc["issuer"] == base + "/"
    keys = httpx.get(doc["jwks_uri"]).json()["keys"]
    assert len(keys) == 2 and all(k["alg"] == "RS256" and k["kid"] for k in keys)


def test_link_account_flow_fills_token_vault(sandbox, control, user):
    env = sandbox.env
    session = control.session(user["user_id"])
    missing = _exchange(env, session["refresh_token"])
    assert missing.status_code == 401 and missing.json()["error"] == "tokenset_not_found"

    verifier, challenge = _pkce()
    redirect = control.authorize(_link_url(env, session["id_token"], challenge=challenge), user["user_id"])
    query = parse_qs(urlsplit(redirect).query)
    assert query["state"] == ["st"] and "code" in query
    tokens = httpx.post(env["AUTH0_DOMAIN"] + "/oauth/token", data={
        "grant_type": "authorization_code", "client_id": env["AUTH0_CLIENT_ID"],
        "client_secret": env["AUTH0_CLIENT_SECRET"], "code": query["code"][0],
        "redirect_uri": "http://127.0.0.1:9/callback", "code_verifier": verifier}).json()
    assert "id_token" in tokens

    granted = _exchange(env, session["refresh_token"])
    assert granted.status_code == 200, granted.text
    body = granted.json()
    assert body["scope"] == CAL_READ and body["expires_in"] > 0
    events = httpx.get(env["GOOGLE_API_BASE_URL"] + "/calendar/v3/calendars/primary/events",
                       headers={"Authorization": "Bearer " + body["access_token"]}).json()
    assert "Team standup" in [e["summary"] for e in events["items"]]


def test_foreign_id_token_hint_is_denied(sandbox, control, user):
    other = control.create_user()
    foreign = control.session(other["user_id"])["id_token"]
    redirect = control.authorize(_link_url(sandbox.env, foreign), user["user_id"])
    query = parse_qs(urlsplit(redirect).query)
    assert query["error"] == ["access_denied"]
    assert "ID_TOKEN_HINT Invalid" in query["error_description"][0]


def test_deny_redirects_access_denied(sandbox, control, user):
    session = control.session(user["user_id"])
    redirect = control.authorize(_link_url(sandbox.env, session["id_token"]), user["user_id"], "deny")
    assert parse_qs(urlsplit(redirect).query)["error"] == ["access_denied"]
    assert control.tokensets(user["user_id"]) == []


def test_bad_redirect_uri_gets_error_page_not_redirect(sandbox):
    response = httpx.get(sandbox.env["AUTH0_DOMAIN"] + "/authorize", params={
        "response_type": "code", "client_id": sandbox.env["AUTH0_CLIENT_ID"],
        "redirect_uri": "https://evil.example/cb"})
    assert response.status_code == 400 and "Callback URL mismatch" in response.text


@pytest.mark.parametrize("spelling", ["tokenset_not_found", "federated_connection_refresh_token_not_found"])
def test_no_tokenset_spelling_is_switchable(sandbox, control, user, spelling):
    control.configure(no_tokenset_error=spelling)
    session = control.session(user["user_id"])
    assert _exchange(sandbox.env, session["refresh_token"]).json()["error"] == spelling


def test_bad_client_secret_is_invalid_client(sandbox, control, user):
    session = control.session(user["user_id"])
    response = httpx.post(sandbox.env["AUTH0_DOMAIN"] + "/oauth/token", data={
        "grant_type": GRANT, "client_id": sandbox.env["AUTH0_CLIENT_ID"], "client_secret": "wrong",
        "subject_token": session["refresh_token"],
        "subject_token_type": "urn:ietf:params:oauth:token-type:refresh_token", "connection": "github"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_faults_and_request_log(sandbox, control, user):
    control.clear_requests()
    control.add_fault("auth0", "^/oauth/token$", "rate_limit", retry_after=2, times=1)
    session = control.session(user["user_id"])
    first = _exchange(sandbox.env, session["refresh_token"])
    assert first.status_code == 429 and first.headers["retry-after"] == "2"
    assert _exchange(sandbox.env, session["refresh_token"]).status_code == 401
    logged = control.requests(service="auth0", path="/oauth/token")
    assert [r["status"] for r in logged] == [429, 401]
    assert logged[0]["form"]["connection"] == "google-oauth2"


def test_already_linked_with_those_scopes_finishes_without_consent(sandbox, control, user):
    control.seed_tokenset(user["user_id"], "google-oauth2", [CAL_READ])
    session = control.session(user["user_id"])
    outcome = httpx.post(sandbox.env["SANDBOX_CONTROL_URL"] + "/control/authorize", json={
        "url": _link_url(sandbox.env, session["id_token"]), "user_id": user["user_id"], "action": "deny"}).json()
    assert "code=" in outcome["redirect_url"]  # no consent page was shown, so "deny" was never asked


def test_client_secret_basic_is_accepted(sandbox, control, user):
    session = control.session(user["user_id"])
    response = httpx.post(sandbox.env["AUTH0_DOMAIN"] + "/oauth/token",
                          auth=(sandbox.env["AUTH0_CLIENT_ID"], sandbox.env["AUTH0_CLIENT_SECRET"]),
                          data={"grant_type": "refresh_token", "refresh_token": session["refresh_token"]})
    assert response.status_code == 200 and "id_token" in response.json()


def test_private_key_jwt_client_authentication(sandbox, control, user):
    import time

    from joserfc import jwt
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048, parameters={"kid": "client-key"})
    client = sandbox.tenant.app_client
    client.jwks = {"keys": [key.as_dict(private=False)]}
    try:
        now = int(time.time())
        assertion = jwt.encode({"alg": "RS256", "kid": "client-key"},
                               {"iss": client.client_id, "sub": client.client_id, "aud": sandbox.env["AUTH0_DOMAIN"] + "/",
                                "iat": now, "exp": now + 60, "jti": "j1"}, key)
        session = control.session(user["user_id"])
        response = httpx.post(sandbox.env["AUTH0_DOMAIN"] + "/oauth/token", data={
            "grant_type": "refresh_token", "refresh_token": session["refresh_token"], "client_id": client.client_id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion})
        assert response.status_code == 200
        forged = jwt.encode({"alg": "RS256", "kid": "client-key"}, {"iss": client.client_id, "sub": client.client_id,
                            "aud": sandbox.env["AUTH0_DOMAIN"] + "/", "exp": now + 60},
                            RSAKey.generate_key(2048, parameters={"kid": "client-key"}))
        refused = httpx.post(sandbox.env["AUTH0_DOMAIN"] + "/oauth/token", data={
            "grant_type": "refresh_token", "refresh_token": session["refresh_token"],
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": forged})
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    finally:
        client.jwks = None
