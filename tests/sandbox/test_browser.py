"""A real browser (Debian's headless Chromium, driven by Playwright) logs in at the sandbox tenant and
clicks Allow on the account-linking consent page; our client code builds the URL and completes it."""

from __future__ import annotations

import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from langgraph.store.memory import InMemoryStore

from auth.credentials import UserCredentials
from auth.linking import AccountLinker
from auth.token_vault import TokenVault

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM) and os.environ.get("CI") != "true",
                       reason="Debian chromium is not installed (make test installs it when run as root)"),
]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


class _Callback(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.end_headers()
        self.wfile.write(b"<h1>callback received</h1>")

    def log_message(self, *args):
        pass


@pytest.fixture
def callback_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Callback)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/callback"
    server.shutdown()


async def test_login_and_allow_in_a_real_browser(settings, control, user, callback_server):
    from playwright.async_api import async_playwright

    session = control.session(user["user_id"])
    me = UserCredentials(user["user_id"], session["id_token"], refresh_token=session["refresh_token"])
    linker = AccountLinker(settings, InMemoryStore())
    request = await linker.start(me, "github", ["repo"], redirect_uri=callback_server)

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = await browser.new_page()
        await page.goto(request.authorize_url)
        await page.fill("input[name=email]", user["email"])
        await page.fill("input[name=password]", user["password"])
        await page.click("button[type=submit]")
        await page.wait_for_selector("#allow")
        assert "GitHub" in await page.content() and user["github"]["login"] in await page.content()
        await page.click("#allow")
        await page.wait_for_url(callback_server + "?*")
        assert "callback received" in await page.content()
        landed = page.url
        await browser.close()

    result = await linker.complete(landed)
    assert result.status == "authorized" and result.connection == "github"
    vault = TokenVault(settings)
    assert "repo" in (await vault.get_token(me, "github", ["repo"])).scopes
    await vault.aclose()
