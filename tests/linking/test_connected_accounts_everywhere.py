"""AUTH0_LINK_MODE=connected_accounts end to end on every surface — the CLI chat (and so the notebooks,
which run the same session), the LangGraph server with a bearer-only client, and the MCP server: the My
Account API's connect (`connect_uri` + ticket), the user's consent, then complete with `auth_session`,
`connect_code`, `redirect_uri` and the PKCE verifier; Token Vault then holds the token set."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _title(page: httpx.Response) -> str:
    found = re.search(r"<title>(.*?)</title>", page.text, re.S)
    return found.group(1) if found else ""


@pytest.mark.parametrize("action, title", [("approve", "Access granted"), ("deny", "Access declined")])
async def test_connect_on_every_surface(action, title, connected_surfaces, control):
    for surface in connected_surfaces:
        user = control.create_user()
        control.clear_requests()
        link = await surface.pause(user)
        callback = await asyncio.to_thread(control.authorize, link, user["user_id"], action)
        assert "connect_code=" in callback or "error=access_denied" in callback, (surface.name, callback)
        async with httpx.AsyncClient(timeout=60) as http:
            page = await http.get(callback)
        assert (page.status_code, _title(page)) == (200, title), (surface.name, page.text)
        connects = [r for r in control.requests("auth0") if "/me/v1/connected-accounts/" in r["path"]]
        assert any(r["path"].endswith("/connect") for r in connects), surface.name
        linked = [t["connection"] for t in control.tokensets(user["user_id"])]
        if action == "approve":
            assert any(r["path"].endswith("/complete") for r in connects), surface.name
            assert linked == ["google-oauth2"], surface.name
        else:
            assert linked == [], surface.name
