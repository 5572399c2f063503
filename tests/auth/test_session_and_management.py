"""Login (authorization code + PKCE through a loopback redirect), the stored session, and the
Management API client."""

from __future__ import annotations

import asyncio
import stat
from urllib.parse import parse_qsl, urlsplit

import pytest

from auth.credentials import UserCredentials
from auth.errors import SessionExpired
from auth.management import ManagementClient
from auth.session import SessionClient, SessionStore


async def test_login_with_pkce_refresh_and_logout(settings, control, user):
    client = SessionClient(settings)

    async def browser(url: str) -> dict[str, str]:
        params = dict(parse_qsl(urlsplit(url).query))
        assert params["code_challenge_method"] == "S256" and "offline_access" in params["scope"]
        return dict(parse_qsl(urlsplit(control.authorize(url, user["user_id"])).query))

    creds = await client.login("http://127.0.0.1:8765/callback", browser)
    assert creds.sub == user["user_id"] and creds.refresh_token
    fresh = await client.refresh(creds)
    assert fresh.id_token != "" and (await client.userinfo(fresh))["email"] == user["email"]
    await client.logout(creds)
    with pytest.raises(SessionExpired):
        await client.refresh(creds)  # revoked
    await client.aclose()


async def test_login_answer_for_another_attempt_is_refused(settings, control, user):
    client = SessionClient(settings)
    url, _ = client.authorize_url("http://127.0.0.1:8765/callback")
    _, other_secrets = client.authorize_url("http://127.0.0.1:8765/callback")
    answer = dict(parse_qsl(urlsplit(control.authorize(url, user["user_id"])).query))
    with pytest.raises(SessionExpired):
        await client.finish_login(answer, other_secrets)
    await client.aclose()


def test_session_file_is_private_and_repr_hides_tokens(settings):
    store = SessionStore(settings, use_keyring=False)
    creds = UserCredentials("auth0|x", "id.tok.en", refresh_token="v1.secret-refresh", access_token="secret-access")
    store.save(creds)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.load().refresh_token == "v1.secret-refresh"
    assert "secret" not in repr(creds) and "secret" not in str(creds)
    store.delete()
    assert store.load() is None


async def test_management_token_is_fetched_once_and_unlink_works(settings, control, user):
    control.seed_tokenset(user["user_id"], "github", ["repo"])
    control.clear_requests()
    mgmt = ManagementClient(settings)
    results = await asyncio.gather(*(mgmt.linked_connections(user["user_id"]) for _ in range(5)))
    assert all([i["connection"] for i in r] == ["github"] for r in results)
    assert await mgmt.unlink_connection(user["user_id"], "github")
    assert await mgmt.linked_connections(user["user_id"]) == []
    grants = [r for r in control.requests("auth0", "^/oauth/token$") if r["form"].get("grant_type") == "client_credentials"]
    assert len(grants) == 1
    await mgmt.aclose()


async def test_suggested_links_find_same_verified_email(settings, control):
    first = control.create_user(email="shared@example.com")
    second = control.create_user(email="shared@example.com")
    mgmt = ManagementClient(settings)
    assert [u["user_id"] for u in await mgmt.suggested_links(first["user_id"])] == [second["user_id"]]
    await mgmt.aclose()
