"""The scripted model's dates ("on Friday", "this/next week", ISO dates), "my NAME repo", a declined tool
result turned into a sentence; and the tenant's consent page (wrapped scopes, plain words, step-up)."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from langgraph.store.memory import InMemoryStore

from auth.credentials import UserCredentials
from auth.linking import AccountLinker

CALENDAR_TOOL = {"type": "function", "function": {"name": "list_calendar_events", "parameters": {
    "type": "object", "properties": {"start": {"type": "string"}, "end": {"type": "string"}}, "required": ["start"]}}}
ISSUES_TOOL = {"type": "function", "function": {"name": "list_github_issues", "parameters": {
    "type": "object", "properties": {"repo": {"type": "string"}}, "required": ["repo"]}}}
ZONE = "Europe/London"


def _ask(sandbox, messages, tools=(CALENDAR_TOOL, ISSUES_TOOL)):
    env = sandbox.env
    response = httpx.post(env["OPENAI_BASE_URL"] + "/chat/completions", timeout=30,
                          headers={"Authorization": f"Bearer {env['OPENAI_API_KEY']}"},
                          json={"model": env["OPENAI_MODEL"], "tools": list(tools), "messages": [
                              {"role": "system", "content": f"The user's time zone is {ZONE}."}, *messages]})
    return response.json()["choices"][0]["message"]


def _range(sandbox, text):
    [call] = _ask(sandbox, [{"role": "user", "content": text}])["tool_calls"]
    args = json.loads(call["function"]["arguments"])
    start, end = datetime.fromisoformat(args["start"]), datetime.fromisoformat(args["end"])
    return start.date(), (end - start).days


def _today():
    return datetime.now(ZoneInfo(ZONE)).date()


@pytest.mark.parametrize("weekday", ["Monday", "Friday", "sunday"])
def test_weekday_names_mean_the_next_such_day(sandbox, weekday):
    day, days = _range(sandbox, f"What's on my calendar on {weekday}?")
    assert day.strftime("%A").lower() == weekday.lower() and days == 1
    assert _today() <= day < _today() + timedelta(days=7)


def test_next_weekday_is_in_next_week(sandbox):
    day, _ = _range(sandbox, "What meetings do I have next Tuesday?")
    next_monday = _today() + timedelta(days=7 - _today().weekday())
    assert day == next_monday + timedelta(days=1)


def test_this_week_and_next_week(sandbox):
    day, days = _range(sandbox, "What's on my calendar this week?")
    assert day == _today() and (day + timedelta(days=days)).weekday() == 0  # up to Monday 00:00
    day, days = _range(sandbox, "Show my calendar next week")
    assert day.weekday() == 0 and day > _today() and days == 7


def test_iso_dates(sandbox):
    assert _range(sandbox, "What's on my calendar on 2027-03-04?") == (date(2027, 3, 4), 1)


def test_my_repo_name_is_passed_as_a_bare_name(sandbox):
    [call] = _ask(sandbox, [{"role": "user", "content": "What issues are open in my vault-agent-demo repo?"}])["tool_calls"]
    assert json.loads(call["function"]["arguments"]) == {"repo": "vault-agent-demo"}


def test_a_declined_tool_result_becomes_a_sentence_for_the_user(sandbox):
    declined = ("Authorization required: the user declined access to Google Calendar, so list_calendar_events "
                "could not run. Explain this and offer to try again.")
    answer = _ask(sandbox, [{"role": "user", "content": "What's on my calendar tomorrow?"},
                            {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
                             "function": {"name": "list_calendar_events", "arguments": "{}"}}]},
                            {"role": "tool", "tool_call_id": "c1", "content": declined}])["content"]
    assert answer.startswith("You declined access to Google Calendar, so I could not read your calendar.")
    assert "Explain this" not in answer


async def _consent_html(settings, control, user, connection, scopes):
    session = control.session(user["user_id"])
    me = UserCredentials(user["user_id"], session["id_token"], refresh_token=session["refresh_token"])
    request = await AccountLinker(settings, InMemoryStore()).start(me, connection, scopes,
                                                                   redirect_uri="http://127.0.0.1:9/callback")
    async with httpx.AsyncClient(follow_redirects=False, timeout=30) as browser:
        login = await browser.get(request.authorize_url)
        tx = re.search(r'name="tx" value="([^"]+)"', login.text).group(1)
        base = request.authorize_url.split("/authorize")[0]
        page = await browser.post(base + "/u/login", data={"tx": tx, "email": user["email"], "password": user["password"]})
    return page.text


async def test_consent_page_plain_words_wrapping_and_step_up(settings, control, user):
    read = "https://www.googleapis.com/auth/calendar.readonly"
    first = await _consent_html(settings, control, user, "google-oauth2", [read])
    assert "wants to link this Google" in first
    assert "See and download your calendars" in first and f"<code>{read}</code>" in first
    assert "overflow-wrap:anywhere" in first  # long scope URLs wrap inside the card

    control.authorize((await AccountLinker(settings, InMemoryStore()).start(
        UserCredentials(user["user_id"], control.session(user["user_id"])["id_token"]), "google-oauth2", [read],
        redirect_uri="http://127.0.0.1:9/callback")).authorize_url, user["user_id"], "approve")
    more = await _consent_html(settings, control, user, "google-oauth2",
                               ["https://www.googleapis.com/auth/calendar.events"])
    assert "wants more access to your linked Google" in more and "wants to link this" not in more
    assert "View and edit events on all your calendars" in more


CHROMIUM = __import__("shutil").which("chromium") or "/usr/bin/chromium"


@pytest.mark.browser
@pytest.mark.skipif(not __import__("os").path.exists(CHROMIUM), reason="Debian chromium is not installed")
async def test_long_scopes_stay_inside_the_card_in_a_real_browser(settings, control, user):
    from playwright.async_api import async_playwright

    scopes = ["https://www.googleapis.com/auth/calendar.readonly", "https://www.googleapis.com/auth/calendar.events",
              "https://www.googleapis.com/auth/calendar.freebusy"]
    html = await _consent_html(settings, control, user, "google-oauth2", scopes)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = await browser.new_page(viewport={"width": 420, "height": 800})  # a phone-sized window
        await page.set_content(html)
        overflow = await page.evaluate("() => [...document.querySelectorAll('.box, .scopes li')]"
                                       ".some(e => e.scrollWidth > e.clientWidth + 1)")
        await browser.close()
    assert not overflow
