"""TokenVault against the sandbox tenant: typed outcomes, cache, single flight, retries."""

from __future__ import annotations

import asyncio
import logging

import pytest

from auth.credentials import UserCredentials
from auth.errors import AuthorizationRequired, Misconfigured, SessionExpired, TransientError
from auth.settings import Settings
from auth.token_vault import TokenVault

CAL = "https://www.googleapis.com/auth/calendar.readonly"
CAL_EVENTS = "https://www.googleapis.com/auth/calendar.events"


def creds(control, user) -> UserCredentials:
    s = control.session(user["user_id"])
    return UserCredentials(user["user_id"], s["id_token"], refresh_token=s["refresh_token"])


@pytest.fixture
async def vault(settings):
    v = TokenVault(settings, backoff_base=0.01)
    yield v
    await v.aclose()


@pytest.mark.parametrize("spelling", ["tokenset_not_found", "federated_connection_refresh_token_not_found"])
async def test_not_linked_is_authorization_required(vault, control, user, spelling):
    control.configure(no_tokenset_error=spelling)
    with pytest.raises(AuthorizationRequired) as err:
        await vault.get_token(creds(control, user), "google-oauth2", [CAL])
    assert err.value.reason == "not_linked" and err.value.required_scopes == [CAL]


async def test_token_then_cache_then_invalidate(vault, control, user):
    control.seed_tokenset(user["user_id"], "google-oauth2", [CAL])
    me = creds(control, user)
    control.clear_requests()
    first = await vault.get_token(me, "google-oauth2", [CAL])
    again = await vault.get_token(me, "google-oauth2", [CAL])
    assert first.access_token == again.access_token and CAL in first.scopes
    assert len(control.requests("auth0", "/oauth/token")) == 1
    vault.invalidate(me, "google-oauth2")
    await vault.get_token(me, "google-oauth2", [CAL])
    assert len(control.requests("auth0", "/oauth/token")) == 2
    assert "access_token" not in repr(first) and first.access_token not in repr(first)


async def test_fifty_concurrent_calls_make_one_exchange(vault, control, user):
    control.seed_tokenset(user["user_id"], "github", ["repo"])
    me = creds(control, user)
    control.clear_requests()
    control.add_fault("auth0", "^/oauth/token$", "latency", delay_ms=100, times=1)
    tokens = await asyncio.gather(*(vault.get_token(me, "github", ["repo"]) for _ in range(50)))
    assert len({t.access_token for t in tokens}) == 1
    assert len(control.requests("auth0", "/oauth/token")) == 1


async def test_scope_shortfall_is_step_up_with_union(vault, control, user):
    control.seed_tokenset(user["user_id"], "google-oauth2", [CAL])
    with pytest.raises(AuthorizationRequired) as err:
        await vault.get_token(creds(control, user), "google-oauth2", [CAL_EVENTS])
    assert err.value.reason == "insufficient_scope"
    assert set(err.value.required_scopes) == {CAL, CAL_EVENTS}
    assert err.value.granted_scopes == [CAL]


@pytest.mark.parametrize("kind", ["rate_limit", "status", "drop"])
async def test_outages_are_retried_then_transient_never_linking(vault, control, user, kind):
    control.seed_tokenset(user["user_id"], "github", ["repo"])
    control.add_fault("auth0", "^/oauth/token$", kind, status=503, retry_after=0)
    control.clear_requests()
    with pytest.raises(TransientError) as err:
        await vault.get_token(creds(control, user), "github", ["repo"])
    assert "gave up after 3 attempts" in str(err.value)
    assert len(control.requests("auth0", "/oauth/token")) == 3


async def test_one_429_then_success(vault, control, user):
    control.seed_tokenset(user["user_id"], "github", ["repo"])
    control.add_fault("auth0", "^/oauth/token$", "rate_limit", retry_after=0, times=1)
    token = await vault.get_token(creds(control, user), "github", ["repo"])
    assert "repo" in token.scopes


async def test_bad_client_secret_is_misconfigured(sandbox_env, control, user):
    vault = TokenVault(Settings(_env_file=None, auth0_client_secret="wrong"))
    with pytest.raises(Misconfigured, match="AUTH0_CLIENT_SECRET"):
        await vault.get_token(creds(control, user), "github", ["repo"])
    await vault.aclose()


async def test_unknown_refresh_token_is_session_expired(vault, user):
    with pytest.raises(SessionExpired):
        await vault.get_token(UserCredentials(user["user_id"], "", refresh_token="v1.bogus"), "github", ["repo"])


async def test_unlink_makes_it_not_found_again(vault, control, user):
    control.seed_tokenset(user["user_id"], "github", ["repo"])
    me = creds(control, user)
    await vault.get_token(me, "github", ["repo"])
    control.delete_tokenset(user["user_id"], "github")
    vault.invalidate(me, "github")
    with pytest.raises(AuthorizationRequired):
        await vault.get_token(me, "github", ["repo"])


async def test_no_token_in_any_log_record(vault, control, user, caplog):
    caplog.set_level(logging.DEBUG)
    control.seed_tokenset(user["user_id"], "github", ["repo"])
    me = creds(control, user)
    control.add_fault("auth0", "^/oauth/token$", "status", status=500, times=1)
    token = await vault.get_token(me, "github", ["repo"])
    text = "\n".join(r.getMessage() + repr(r.args) for r in caplog.records)
    assert caplog.records, "expected some DEBUG records to scan"
    for secret in (token.access_token, me.refresh_token):
        assert secret not in text


async def test_access_token_subject_type(vault, control, user, sandbox_env):
    control.seed_tokenset(user["user_id"], "github", ["repo"])
    s = control.session(user["user_id"], audience=sandbox_env["AUTH0_AUDIENCE"])
    server_user = UserCredentials(user["user_id"], s["id_token"], access_token=s["access_token"])
    control.clear_requests()
    token = await vault.get_token(server_user, "github", ["repo"])
    assert "repo" in token.scopes
    [logged] = control.requests("auth0", "^/oauth/token$")
    assert logged["form"]["subject_token_type"] == "urn:ietf:params:oauth:token-type:access_token"


async def test_login_hint_picks_the_account_or_asks_to_link(vault, control, user):
    control.seed_tokenset(user["user_id"], "github", ["repo"])
    me = creds(control, user)
    assert await vault.get_token(me, "github", ["repo"], login_hint=user["github"]["login"])
    with pytest.raises(AuthorizationRequired):
        await vault.get_token(me, "github", ["repo"], login_hint="someone-else")


async def test_expired_tokens_of_other_keys_are_swept(vault, control, user, monkeypatch):
    """Keys change with the subject token, so a long-running server would otherwise keep every old entry."""
    import auth.token_vault as tv
    from auth.token_vault import ProviderToken

    monkeypatch.setattr(tv, "SWEEP_AT", 2)
    vault._sweep_at = 2
    old = ProviderToken("github", "x", expires_at=1.0, scopes=frozenset({"repo"}))
    for i in range(3):
        vault._cache[(f"gone-{i}", "fp", "github", "")] = [old]
    control.seed_tokenset(user["user_id"], "github", ["repo"])
    await vault.get_token(creds(control, user), "github", ["repo"])
    assert [k[0] for k in vault._cache] == [user["user_id"]]
