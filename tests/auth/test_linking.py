"""AccountLinker against the sandbox: URL → consent → complete → token, and every refusal."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from langgraph.store.memory import InMemoryStore

from auth.credentials import UserCredentials
from auth.errors import AuthorizationRequired
from auth.linking import AccountLinker, Authorized, Declined, Expired, Failed, TenantRefused
from auth.token_vault import TokenVault

CAL = "https://www.googleapis.com/auth/calendar.readonly"
CALLBACK = "http://127.0.0.1:8765/callback"


@pytest.fixture
async def linker(settings):
    linker = AccountLinker(settings, InMemoryStore())
    yield linker


def creds(control, user) -> UserCredentials:
    s = control.session(user["user_id"])
    return UserCredentials(user["user_id"], s["id_token"], refresh_token=s["refresh_token"])


async def test_not_found_url_consent_complete_token(settings, linker, control, user):
    me = creds(control, user)
    vault = TokenVault(settings)
    with pytest.raises(AuthorizationRequired) as err:
        await vault.get_token(me, "google-oauth2", [CAL])
    request = await linker.start(me, "google-oauth2", err.value.required_scopes, thread_id="t-1",
                                 tool_call_id="call-1")
    params = parse_qs(urlsplit(request.authorize_url).query)
    assert params["scope"][0].split() == ["openid", "profile", "offline_access", "link_account"]
    assert params["requested_connection"] == ["google-oauth2"]
    assert params["requested_connection_scope"] == [CAL]
    assert params["code_challenge_method"] == ["S256"] and params["redirect_uri"] == [CALLBACK]
    assert params["id_token_hint"][0].count(".") == 2 and params["state"] == [request.state]

    redirect = control.authorize(request.authorize_url, user["user_id"])
    result = await linker.complete(redirect)
    assert isinstance(result, Authorized) and result.status == "authorized" and result.thread_id == "t-1"
    assert result.link.tool_call_id == "call-1" and result.credentials.sub == user["user_id"]
    assert "refresh" not in repr(result)
    token = await vault.get_token(me, "google-oauth2", [CAL])
    assert CAL in token.scopes
    await vault.aclose()


async def test_declined_is_a_result(linker, control, user):
    request = await linker.start(creds(control, user), "github", ["repo"])
    result = await linker.complete(control.authorize(request.authorize_url, user["user_id"], "deny"))
    assert isinstance(result, Declined) and result.status == "declined" and "denied" in result.description


async def test_replayed_state_is_refused(linker, control, user):
    request = await linker.start(creds(control, user), "github", ["repo"])
    redirect = control.authorize(request.authorize_url, user["user_id"])
    await linker.complete(redirect)
    again = await linker.complete(redirect)
    assert isinstance(again, Failed) and again.code == "unknown_state" and again.status is None


async def test_forged_state_is_refused(linker):
    forged = await linker.complete(CALLBACK + "?code=abc&state=forged")
    assert isinstance(forged, Failed) and forged.code == "unknown_state"


async def test_expired_state_is_refused(settings, control, user):
    linker = AccountLinker(settings, InMemoryStore(), ttl_seconds=-1)
    request = await linker.start(creds(control, user), "github", ["repo"])
    outcome = await linker.complete(control.authorize(request.authorize_url, user["user_id"]))
    assert isinstance(outcome, Expired) and outcome.status == "expired"


async def test_other_users_id_token_hint_is_refused_by_the_tenant_not_declined(linker, control, user):
    other = control.create_user()
    impostor = UserCredentials(user["user_id"], control.session(other["user_id"])["id_token"])
    request = await linker.start(impostor, "github", ["repo"], thread_id="t-2")
    result = await linker.complete(control.authorize(request.authorize_url, user["user_id"]))
    assert isinstance(result, TenantRefused) and result.status == "reissue"  # never the user's Deny
    assert result.description.startswith("ID_TOKEN_HINT Invalid")


async def test_wrong_redirect_uri_and_oversized_params(linker, control, user):
    request = await linker.start(creds(control, user), "github", ["repo"])
    redirect = control.authorize(request.authorize_url, user["user_id"])
    moved = await linker.complete(redirect.replace("127.0.0.1:8765", "evil.example"))
    assert isinstance(moved, Failed) and moved.code == "bad_request"
    long = await linker.complete(CALLBACK + "?state=" + "x" * 10000)
    assert isinstance(long, Failed) and long.code == "bad_request"


async def test_request_key_makes_start_idempotent(linker, control, user):
    me = creds(control, user)
    first = await linker.start(me, "github", ["repo"], request_key="thread-1:call-1:0")
    second = await linker.start(me, "github", ["repo"], request_key="thread-1:call-1:0")
    assert first.state == second.state and first.authorize_url == second.authorize_url


async def test_connected_accounts_mode_end_to_end(settings, control, user):
    """AUTH0_LINK_MODE=connected_accounts: My Account connect → consent → complete → Token Vault token."""
    from auth.settings import LinkMode

    ca = settings.model_copy(update={"auth0_link_mode": LinkMode.connected_accounts})
    me = creds(control, user)
    linker = AccountLinker(ca, InMemoryStore())
    request = await linker.start(me, "google-oauth2", [CAL], thread_id="t-9")
    assert "/connected-accounts/connect?ticket=" in request.authorize_url
    redirect = control.authorize(request.authorize_url, user["user_id"])
    assert "connect_code=" in redirect
    result = await linker.complete(redirect, lambda link: me if link.user_sub == me.sub else None)
    assert result.status == "authorized" and result.thread_id == "t-9"
    vault = TokenVault(ca)
    assert CAL in (await vault.get_token(me, "google-oauth2", [CAL])).scopes
    await vault.aclose()
    denied = await linker.start(me, "github", ["repo"])
    declined = await linker.complete(control.authorize(denied.authorize_url, user["user_id"], "deny"))
    assert declined.status == "declined"
