"""The tenant's rules for MCP-style clients, over HTTP: client ID metadata documents (CIMD), the consent page
third-party applications (DCR, CIMD) get before a code and first-party ones do not, Auth0's redirect-URI
matching (exact; any port for a public client's loopback IP literal), and no token for an API that does
not exist."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from cimd_documents import client_document, document_server

REDIRECT = "http://127.0.0.1:5555/callback"


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _authorize_url(env, client_id: str, redirect_uri: str = REDIRECT, challenge: str = "c" * 43, **extra) -> str:
    return env["AUTH0_DOMAIN"] + "/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": "openid offline_access",
        "state": "st", "code_challenge": challenge, "code_challenge_method": "S256", **extra})


def _register(env, redirect_uris: list[str], method: str = "none") -> dict:
    response = httpx.post(env["AUTH0_DOMAIN"] + "/oidc/register", json={
        "client_name": "Some MCP client", "redirect_uris": redirect_uris, "token_endpoint_auth_method": method})
    assert response.status_code == 201, response.text
    return response.json()


class Browser:
    """A browser at the tenant: logs in on the login page and keeps the session cookie."""

    def __init__(self, env, user) -> None:
        self.env, self.user = env, user
        self.http = httpx.Client(timeout=10)

    def open(self, url: str) -> httpx.Response:
        page = self.http.get(url)
        if page.status_code == 200 and 'action="/u/login"' in page.text:
            page = self.http.post(self.env["AUTH0_DOMAIN"] + "/u/login", data={
                "tx": _hidden_tx(page.text), "email": self.user["email"], "password": self.user["password"]})
        return page

    def answer(self, page: httpx.Response, action: str) -> httpx.Response:
        return self.http.post(self.env["AUTH0_DOMAIN"] + "/u/consent", data={"tx": _hidden_tx(page.text),
                                                                              "action": action})


def _hidden_tx(html: str) -> str:
    return re.search(r'name="tx" value="([^"]+)"', html).group(1)


def _query(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


def test_cimd_client_logs_in_with_its_document_url_as_client_id(sandbox, user):
    env = sandbox.env
    assert httpx.get(env["AUTH0_DOMAIN"] + "/.well-known/oauth-authorization-server").json()[
        "client_id_metadata_document_supported"] is True
    with document_server() as docs:
        url = docs["base"] + "/mcp-client.json"
        docs["docs"]["mcp-client.json"] = client_document(url, ["http://127.0.0.1/callback"])
        verifier, challenge = _pkce()
        browser = Browser(env, user)
        consent = browser.open(_authorize_url(env, url, challenge=challenge, resource=env["AUTH0_AUDIENCE"]))
        # A third-party application: the user sees who asks (the document's host) before any code.
        assert consent.status_code == 200 and "Test MCP client" in consent.text
        assert "third-party" in consent.text and urlsplit(url).netloc in consent.text
        params = _query(browser.answer(consent, "allow"))
        assert params["state"] == "st" and params["code"]
        tokens = httpx.post(env["AUTH0_DOMAIN"] + "/oauth/token", data={
            "grant_type": "authorization_code", "client_id": url, "code": params["code"], "redirect_uri": REDIRECT,
            "code_verifier": verifier}).json()
        assert tokens["access_token"] and tokens["refresh_token"]
        # Consent is remembered: the next login of the same client for the same API asks nothing.
        again = browser.open(_authorize_url(env, url, resource=env["AUTH0_AUDIENCE"]))
        assert "code" in _query(again)


@pytest.mark.parametrize("problem, expected", [
    ("mismatch", "client_id is not the URL"),
    ("secret", "no shared secrets"),
    ("no_name", "no client_name"),
    ("grant", "grant_types"),
    ("missing", "HTTP 404"),
    ("redirect", "HTTP 302"),
    ("big", "larger than"),
    ("query", "no query"),
])
def test_cimd_documents_that_break_the_rules_get_an_error_page(sandbox, problem, expected):
    env = sandbox.env
    with document_server() as docs:
        url = docs["base"] + "/doc.json"
        good = client_document(url, [REDIRECT])
        docs["docs"]["doc.json"] = {
            "mismatch": {**good, "client_id": docs["base"] + "/other.json"},
            "secret": {**good, "token_endpoint_auth_method": "client_secret_post"},
            "no_name": {**good, "client_name": ""},
            "grant": {**good, "grant_types": ["client_credentials"]},
        }.get(problem, good)
        client_id = {"missing": docs["base"] + "/nothing.json", "redirect": docs["base"] + "/redirect/doc.json",
                     "big": docs["base"] + "/big", "query": url + "?v=2"}.get(problem, url)
        page = httpx.get(_authorize_url(env, client_id))
    assert page.status_code == 400 and expected in page.text


def test_cimd_redirect_uri_must_be_in_the_document(sandbox):
    env = sandbox.env
    with document_server() as docs:
        url = docs["base"] + "/c.json"
        docs["docs"]["c.json"] = client_document(url, ["http://127.0.0.1/callback"])
        page = httpx.get(_authorize_url(env, url, redirect_uri="http://127.0.0.1:5555/elsewhere"))
    assert page.status_code == 400 and "Callback URL mismatch" in page.text


def test_cimd_can_be_switched_off(sandbox, control):
    with document_server() as docs:
        url = docs["base"] + "/c.json"
        docs["docs"]["c.json"] = client_document(url, [REDIRECT])
        control.configure(client_id_metadata_documents=False)
        try:
            page = httpx.get(_authorize_url(sandbox.env, url))
            metadata = httpx.get(sandbox.env["AUTH0_DOMAIN"] + "/.well-known/openid-configuration").json()
        finally:
            control.configure(client_id_metadata_documents=True)
    assert page.status_code == 400 and "not enabled" in page.text
    assert metadata["client_id_metadata_document_supported"] is False


def test_dcr_client_gets_a_consent_page_and_deny_is_access_denied(sandbox, user):
    env = sandbox.env
    client = _register(env, [REDIRECT])
    browser = Browser(env, user)
    consent = browser.open(_authorize_url(env, client["client_id"]))
    assert consent.status_code == 200 and "registered itself" in consent.text and 'id="deny"' in consent.text
    params = _query(browser.answer(consent, "deny"))
    assert params["error"] == "access_denied" and params["error_description"] == "User did not authorize the request"
    assert "code" not in params


def test_first_party_application_gets_no_consent_page(sandbox, user):
    env = sandbox.env
    page = Browser(env, user).open(_authorize_url(env, env["AUTH0_CLIENT_ID"], scope="openid"))
    assert "code" in _query(page)


@pytest.mark.parametrize("registered, asked, allowed", [
    ("http://127.0.0.1:5000/cb", "http://127.0.0.1:5000/cb", True),    # exact
    ("http://127.0.0.1:5000/cb", "http://127.0.0.1:6123/cb", True),    # loopback IP literal: any port (RFC 8252)
    ("http://[::1]:5000/cb", "http://[::1]:6123/cb", True),
    ("http://127.0.0.1:5000/cb", "http://127.0.0.1:5000/cb/x", False),  # another path
    ("http://127.0.0.1:5000/cb", "http://127.0.0.1:5000/cb?x=1", False),
    ("http://localhost:5000/cb", "http://localhost:6123/cb", False),    # localhost is matched exactly
    ("http://127.0.0.1:5000/cb", "http://localhost:5000/cb", False),
    ("https://app.example/cb", "https://app.example/cb/", False),
    ("https://app.example/cb", "https://app.example:8443/cb", False),  # the port rule is for loopback only
])
def test_redirect_uri_rules_for_a_registered_public_client(sandbox, registered, asked, allowed):
    env = sandbox.env
    client = _register(env, [registered])
    page = httpx.get(_authorize_url(env, client["client_id"], redirect_uri=asked))
    assert (page.status_code != 400) == allowed, page.text
    if not allowed:
        assert "Callback URL mismatch" in page.text


def test_confidential_client_loopback_port_must_match(sandbox):
    env = sandbox.env
    client = _register(env, ["http://127.0.0.1:5000/cb"], method="client_secret_post")
    assert httpx.get(_authorize_url(env, client["client_id"], redirect_uri="http://127.0.0.1:5000/cb")).status_code == 200
    assert httpx.get(_authorize_url(env, client["client_id"], redirect_uri="http://127.0.0.1:6123/cb")).status_code == 400


def test_no_token_for_an_api_that_does_not_exist(sandbox, control, user):
    env = sandbox.env
    missing = "http://127.0.0.1:1/not-an-api-" + secrets.token_hex(4)
    browser = Browser(env, user)
    params = _query(browser.open(_authorize_url(env, env["AUTH0_CLIENT_ID"], audience=missing)))
    assert params["error"] == "access_denied" and params["error_description"] == f"Service not found: {missing}"
    control.create_api(missing)
    assert "code" in _query(browser.open(_authorize_url(env, env["AUTH0_CLIENT_ID"], audience=missing)))


def test_admin_imports_a_cimd_client_through_the_management_api(sandbox, control, user):
    """Auth0's manual CIMD registration: the admin imports the document once; the tenant keeps it (used even
    with automatic CIMD off, and while the document's host is down) until the admin imports it again."""
    env = sandbox.env
    mgmt = httpx.post(env["AUTH0_DOMAIN"] + "/oauth/token", data={
        "grant_type": "client_credentials", "client_id": env["AUTH0_MGMT_CLIENT_ID"],
        "client_secret": env["AUTH0_MGMT_CLIENT_SECRET"], "audience": env["AUTH0_DOMAIN"] + "/api/v2/"}).json()
    headers = {"Authorization": f"Bearer {mgmt['access_token']}"}
    register = env["AUTH0_DOMAIN"] + "/api/v2/clients/cimd/register"
    with document_server() as docs:
        url = docs["base"] + "/imported.json"
        docs["docs"]["imported.json"] = {**client_document(url, [REDIRECT]), "token_endpoint_auth_method": "client_secret_basic"}
        refused = httpx.post(register, json={"external_client_id": url}, headers=headers)
        assert refused.status_code == 400 and not refused.json()["validation"]["valid"]
        docs["docs"]["imported.json"] = client_document(url, [REDIRECT])
        created = httpx.post(register, json={"external_client_id": url}, headers=headers)
        assert created.status_code == 201, created.text
        assert created.json()["client_id"] == url and created.json()["mapped_fields"]["callbacks"] == [REDIRECT]
        assert httpx.post(register, json={"external_client_id": url}, headers=headers).status_code == 200
        assert httpx.post(register, json={"external_client_id": url}).status_code == 401
    control.configure(client_id_metadata_documents=False)
    try:  # the document server is gone and automatic CIMD is off: the imported client still logs in
        browser = Browser(env, user)
        consent = browser.open(_authorize_url(env, url))
        assert consent.status_code == 200 and "Test MCP client" in consent.text
        assert "code" in _query(browser.answer(consent, "allow"))
    finally:
        control.configure(client_id_metadata_documents=True)
