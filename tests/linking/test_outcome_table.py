"""One outcome table, run against the three adapters: whatever answers the callback — the CLI chat's
loopback receiver, the LangGraph server, the MCP server — the same outcome is the same page (title)
with the same HTTP status.

Each row is played through the real stack: the sandbox tenant's login and consent (its control API
plays the user's browser), the adapter's own routes over HTTP on loopback.
"""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from linking_helpers import APP_URL, TTL
from server_helpers import open_link_as

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

CODE_EXCHANGE = dict(service="auth0", path="/oauth/token$", grant_type="authorization_code")

#: outcome → (title, HTTP status), the same on every surface (agent/pages.py)
EXPECTED = {
    "authorized": ("Access granted", 200),
    "declined": ("Access declined", 200),
    "expired": ("This link has expired", 410),
    "retry later": ("Please try again", 503),
    "wrong account": ("Wrong account", 403),
    "tenant refused the hint": ("Auth0 refused the request", 400),
}


def _title(page: httpx.Response) -> str:
    found = re.search(r"<title>(.*?)</title>", page.text, re.S)
    return found.group(1) if found else ""


async def _get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.get(url)


async def _answer(control, link: str, user_id: str, action: str = "approve") -> str:
    """The user opens the link, logs in and answers: the callback URL their browser is sent to."""
    return await asyncio.to_thread(control.authorize, link, user_id, action)


async def _play(row: str, link: str, sandbox, control, user) -> httpx.Response:
    """Answer the paused `link` as `row` says; the last page the browser shows."""
    uid = user["user_id"]
    if row == "authorized":
        return await _get(await _answer(control, link, uid))
    if row == "declined":
        return await _get(await _answer(control, link, uid, "deny"))
    if row == "expired":  # the caller waited the link's life out
        return await asyncio.to_thread(open_link_as, link, control, sandbox.env["AUTH0_DOMAIN"], uid)
    if row == "retry later":
        callback = await _answer(control, link, uid)
        control.add_fault(**CODE_EXCHANGE, kind="status", status=503)
        try:
            return await _get(callback)
        finally:
            control.clear_faults()
    if row == "wrong account":
        other = control.create_user()
        return await asyncio.to_thread(open_link_as, link, control, sandbox.env["AUTH0_DOMAIN"], other["user_id"])
    if row == "tenant refused the hint":
        control.configure(id_token_hint_max_age=-60)  # the tenant refuses every hint when the link is opened
        try:
            callback = await _answer(control, link, uid)
        finally:
            control.configure(id_token_hint_max_age=600)
        return await _get(callback)
    raise AssertionError(row)


@pytest.mark.parametrize("row", list(EXPECTED))
async def test_one_outcome_one_page_on_every_surface(row, surfaces, sandbox, control):
    seen = {}
    # Below: the CLI's link carries the hint, so the tenant itself refuses another account.
    playing = [s for s in surfaces if not (row == "wrong account" and s.name == "cli")]
    users = {surface.name: control.create_user() for surface in playing}
    links = {surface.name: await surface.pause(users[surface.name]) for surface in playing}
    if row == "expired":
        await asyncio.sleep(TTL + 1)  # once for every surface's link
    for surface in playing:
        page = await _play(row, links[surface.name], sandbox, control, users[surface.name])
        seen[surface.name] = (_title(page), page.status_code)
        assert "<script" not in page.text and page.headers["cache-control"] == "no-store"
        if row != "retry later":  # the end of the flow: the way back to the app, or where to return
            if surface.name == "server":  # it knows the app's address
                assert f"href='{APP_URL}'" in page.text and "close this tab" not in page.text
            else:
                assert "You can close this tab and return to" in page.text and "href=" not in page.text
    assert set(seen.values()) == {EXPECTED[row]}, seen


async def test_another_account_on_a_cli_link_is_the_tenants_refusal_not_a_decline(cli_surface, sandbox, control,
                                                                                user):
    """The CLI's link is the tenant's own URL with the user's fresh `id_token_hint`: someone else logging
    in there is refused by the tenant (the linking Action), and the page says so — never "declined"."""
    link = await cli_surface.pause(user)
    other = control.create_user()
    page = await _get(await _answer(control, link, other["user_id"]))
    assert (_title(page), page.status_code) == EXPECTED["tenant refused the hint"]
