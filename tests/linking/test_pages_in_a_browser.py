"""The decline page, seen in a real browser (Debian's headless Chromium, driven by Playwright) on every
surface: the user opens the link the CLI, the LangGraph server and the MCP server hand out, logs in at the
sandbox tenant, clicks Deny — and lands on the same page everywhere (title, heading, words, the card)."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]
pytestmark = [
    pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600),
    pytest.mark.skipif(not os.path.exists(CHROMIUM) and os.environ.get("CI") != "true",
                       reason="Debian chromium is not installed (make test installs it when run as root)"),
]


async def _deny_in_the_browser(browser, link: str, user: dict) -> dict:
    """Open `link`, log in whenever the tenant asks, click Deny: what the last page shows."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(link)
    for _ in range(6):
        await page.wait_for_selector("input[name=email], #deny, main.card", timeout=60_000)
        if await page.query_selector("main.card"):
            break
        if await page.query_selector("#deny"):
            await page.click("#deny")
            continue
        await page.fill("input[name=email]", user["email"])
        await page.fill("input[name=password]", user["password"])
        await page.click("button[type=submit]")
    shown = {"title": await page.title(), "heading": await page.inner_text("main.card h1"),
             "words": await page.inner_text("main.card p"),
             "card": await page.eval_on_selector("main.card", "e => getComputedStyle(e).borderRadius")}
    await context.close()
    return shown


async def test_the_decline_page_is_the_same_on_every_surface(surfaces, control):
    from playwright.async_api import async_playwright

    seen = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for surface in surfaces:
                user = control.create_user()
                seen[surface.name] = await _deny_in_the_browser(browser, await surface.pause(user), user)
        finally:
            await browser.close()
    assert seen["cli"]["title"] == "Access declined", seen
    assert seen["cli"]["words"].startswith("You declined access to Google Calendar."), seen
    assert seen["cli"]["card"] == "10px", seen  # the card's look, not a bare page
    assert seen["server"] == seen["cli"] == seen["mcp"], seen
