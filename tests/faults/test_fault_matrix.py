"""The fault matrix: each row injects one fault through the sandbox's control API and checks that no
authorization is lost, that side effects happen exactly once (counted in the sandbox's provider data),
and that the user gets one clear line — while the conversation goes on.

Rows 2 (SIGKILL of the CLI) and the chat-level checks of row 5 are in `test_fault_matrix_cli.py`.
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from faultkit import CAL_READ, CAL_WRITE, EVENTS_PATH, agent_session, credentials, events_titled, new_thread, run

from agent.cli.runtime import CliError, CliRuntime, current_user, explain
from auth.errors import TransientError
from auth.linking import AccountLinker, Authorized, Failed, RetryLater
from auth.session import SessionClient, SessionStore

CODE_EXCHANGE = dict(service="auth0", path="^/oauth/token$", method="POST", grant_type="authorization_code")
REFRESH = dict(service="auth0", path="^/oauth/token$", method="POST", grant_type="refresh_token")
FAULTS = {"500": dict(kind="status", status=500), "503": dict(kind="status", status=503),
          "drop": dict(kind="drop")}


def one_line(text: str) -> bool:
    return bool(text) and "\n" not in text.strip() and "Traceback" not in text


async def wait_for(predicate, what: str, attempts: int = 200):
    """Poll the sandbox until `predicate()` holds (a condition, not a timing assertion)."""
    for _ in range(attempts):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


# -- row 1: the code exchange fails while completing ------------------------------------------------
@pytest.mark.parametrize("reload", [False, True], ids=["no-reload", "reload"])
@pytest.mark.parametrize("fault", list(FAULTS), ids=list(FAULTS))
async def test_row1_code_exchange_failure_keeps_the_authorization(sqlite_settings, control, user, fault, reload):
    title = f"Retro {uuid.uuid4().hex[:6]}"
    async with agent_session(sqlite_settings, control, user) as session:
        thread = new_thread()
        [pause], _ = await run(session.stream(thread, f'Create an event "{title}" tomorrow at 3pm'))
        redirect = control.authorize(pause.payload["authorize_url"], user["user_id"])  # the user clicks Allow
        # Every attempt inside complete() fails; with "reload" the fault is gone by the time the page is reloaded.
        control.add_fault(**CODE_EXCHANGE, **FAULTS[fault], times=AccountLinker.attempts if reload else None)
        outcome, values = await session.complete(redirect)
        assert isinstance(outcome, RetryLater) and outcome.allowed and values  # the run carries on regardless
        assert "Reload this page" in outcome.message and one_line(outcome.message)
        assert await session.linker.is_live(pause.payload["state"]), "the state must survive a failed exchange"

        # With a reload the exchange now works; without one, the run resumes on the unconfirmed result.
        _, final = await run(session.complete_and_resume(redirect))
        control.clear_faults()
        assert "Created event" in final and title in final
        assert len(events_titled(control, user, title)) == 1
        assert not await session.pending(thread)
        if reload:
            again, _ = await session.complete(redirect)  # single use once it succeeded
            assert isinstance(again, Failed) and again.code == "unknown_state"


@pytest.mark.parametrize("kind", ["status", "drop", "drop_after"])
async def test_row1_one_failed_attempt_is_retried_inside_complete(sqlite_settings, control, user, kind):
    """A single 503 / drop is absorbed by the retry; a drop *after* Auth0 spent the code ends in an
    unconfirmed "authorized" (the retry finds the code used) — and the thread still finishes once."""
    title = f"Sync {uuid.uuid4().hex[:6]}"
    async with agent_session(sqlite_settings, control, user) as session:
        thread = new_thread()
        [pause], _ = await run(session.stream(thread, f'Create an event "{title}" tomorrow at 4pm'))
        redirect = control.authorize(pause.payload["authorize_url"], user["user_id"])
        control.add_fault(**CODE_EXCHANGE, kind=kind, status=503, times=1)
        result, values = await session.complete(redirect)
        assert isinstance(result, Authorized) and result.confirmed is (kind != "drop_after")
        assert len(control.requests("auth0", "^/oauth/token$")) >= 2
        _, final = await run(session.resume(thread, values))
        assert "Created event" in final and len(events_titled(control, user, title)) == 1


async def test_row1_concurrent_completions_of_one_state_succeed_once(sqlite_settings, control, user):
    async with agent_session(sqlite_settings, control, user) as session:
        [pause], _ = await run(session.stream(new_thread(), "List my GitHub repositories"))
        redirect = control.authorize(pause.payload["authorize_url"], user["user_id"])
        other_worker = AccountLinker(sqlite_settings, session.persistence.store)  # same store, own process state
        outcomes = await asyncio.gather(session.linker.complete(redirect), session.linker.complete(redirect),
                                        other_worker.complete(redirect), return_exceptions=True)
        won = [o for o in outcomes if isinstance(o, Authorized)]
        assert len(won) == 1
        assert all(isinstance(o, Failed) for o in outcomes if o not in won)


async def test_row1_jwks_outage_keeps_the_state_and_a_reload_finishes(sqlite_settings, control, user):
    async with agent_session(sqlite_settings, control, user) as session:
        thread = new_thread()
        [pause], _ = await run(session.stream(thread, "List my GitHub repositories"))
        redirect = control.authorize(pause.payload["authorize_url"], user["user_id"])
        control.add_fault("auth0", r"^/\.well-known/jwks\.json$", "status", status=503)
        outcome, _ = await session.complete(redirect)
        assert isinstance(outcome, RetryLater) and await session.linker.is_live(pause.payload["state"])
        control.clear_faults()
        _, final = await run(session.complete_and_resume(redirect))  # the reload
        assert f"{user['github']['login']}/vault-agent-demo" in final


async def test_row2_reopen_reissues_only_the_dead_link_of_parallel_pauses(sqlite_settings, control, user):
    """Two pauses in one run; the GitHub one was completed elsewhere but never resumed (its link is used).
    reopen() runs the GitHub tool (linked now) and keeps offering the Google link, which is still live."""
    async with agent_session(sqlite_settings, control, user) as session:
        thread = new_thread()
        pauses, _ = await run(session.stream(thread, "Show my calendar for tomorrow and my github repositories"))
        by_connection = {p.payload["connection"]: p for p in pauses}
        github_redirect = control.authorize(by_connection["github"].payload["authorize_url"], user["user_id"])
        await session.linker.complete(github_redirect)  # completed, then the process "died"
        reopened, final = await run(session.reopen(thread))
        assert [p.payload["connection"] for p in reopened] == ["google-oauth2"]
        assert reopened[0].payload["state"] == by_connection["google-oauth2"].payload["state"]
        assert await session.linker.is_live(reopened[0].payload["state"])
        google_redirect = control.authorize(reopened[0].payload["authorize_url"], user["user_id"])
        _, final = await run(session.complete_and_resume(google_redirect))
        assert "Team standup" in final and f"{user['github']['login']}/vault-agent-demo" in final


# -- row 3: an insert slower than the client's timeout ------------------------------------------------
async def test_row3_insert_slower_than_the_client_timeout_creates_one_event(sqlite_settings, control, user):
    settings = sqlite_settings.model_copy(update={"http_timeout_seconds": 2.0})
    control.seed_tokenset(user["user_id"], "google-oauth2", [CAL_WRITE])
    control.add_fault("google", EVENTS_PATH, "latency", method="POST", delay_ms=5000, times=1)
    title = f"Slow {uuid.uuid4().hex[:6]}"
    async with agent_session(settings, control, user) as session:
        pauses, final = await run(session.stream(new_thread(), f'Create an event "{title}" tomorrow at 11am'))
    assert not pauses and "Created event" in final and title in final
    # The slow first POST is still processed after the client gave up: wait for it, then count.
    await wait_for(lambda: len([r for r in control.requests("google", EVENTS_PATH) if r["method"] == "POST"]) == 2,
                   "both inserts answered", attempts=400)
    posts = [r for r in control.requests("google", EVENTS_PATH) if r["method"] == "POST"]
    assert sorted(r["status"] for r in posts) == [200, 409]
    assert len(events_titled(control, user, title)) == 1


async def test_row3_duplicate_event_id_gets_googles_409_body(control, user, sandbox):
    """The sandbox answers a repeated client-chosen id as Google does (the official client sees a 409)."""
    import httpx

    control.seed_tokenset(user["user_id"], "google-oauth2", [CAL_WRITE])
    session = control.session(user["user_id"])
    from auth.settings import Settings
    from auth.token_vault import TokenVault

    vault = TokenVault(Settings(_env_file=None, **{k.lower(): v for k, v in sandbox.env.items() if k.startswith("AUTH0_")}))
    from auth.credentials import UserCredentials

    token = await vault.get_token(UserCredentials(user["user_id"], session["id_token"], session["refresh_token"]),
                                  "google-oauth2", [CAL_WRITE])
    await vault.aclose()
    url = sandbox.env["GOOGLE_API_BASE_URL"].rstrip("/") + "/calendar/v3/calendars/primary/events"
    body = {"id": "vaultagent0dup01", "summary": "Dup", "start": {"dateTime": "2026-12-01T10:00:00+00:00"},
            "end": {"dateTime": "2026-12-01T11:00:00+00:00"}}
    headers = {"Authorization": f"Bearer {token.access_token}"}
    assert httpx.post(url, json=body, headers=headers).status_code == 200
    second = httpx.post(url, json=body, headers=headers)
    assert second.status_code == 409
    assert second.json() == {"error": {"code": 409, "message": "The requested identifier already exists.",
                                       "errors": [{"message": "The requested identifier already exists.",
                                                   "domain": "global", "reason": "duplicate"}],
                                       "status": "ALREADY_EXISTS"}}
    assert httpx.post(url, json={**body, "id": "Not_Base32"}, headers=headers).status_code == 400
    assert httpx.get(url + "/vaultagent0dup01", headers=headers).json()["summary"] == "Dup"
    assert len(events_titled(control, user, "Dup")) == 1


# -- row 4: a temporary answer while refreshing the session -------------------------------------------
@pytest.mark.parametrize("status,body", [
    (403, None), (404, None), (503, None),
    (400, {"error": "temporarily_unavailable", "error_description": "Try again later."}),
], ids=["403", "404", "503", "temporarily_unavailable"])
async def test_row4_transient_refresh_answer_keeps_the_session(settings, control, user, status, body):
    store = SessionStore(settings, use_keyring=False)
    store.save(credentials(control, user))
    runtime = CliRuntime(settings, None)
    control.add_fault(**REFRESH, kind="status", status=status, body=body)
    with pytest.raises(TransientError) as err:
        await current_user(runtime)
    line = explain(err.value)
    assert one_line(line) and "log in" not in line.lower() and "try again" in line.lower()
    assert store.path.exists() and store.load() is not None
    control.clear_faults()
    assert (await current_user(runtime)).sub == user["user_id"]


async def test_row4_invalid_grant_still_logs_out(settings, control, user):
    store = SessionStore(settings, use_keyring=False)
    creds = credentials(control, user)
    store.save(creds)
    client = SessionClient(settings)
    await client.logout(creds)  # the tenant revokes the refresh token: the next refresh is invalid_grant
    await client.aclose()
    with pytest.raises(CliError) as err:
        await current_user(CliRuntime(settings, None))
    assert "invalid_grant" in str(err.value) and "vault-agent login" in str(err.value)
    assert not store.path.exists()


# -- row 5: provider and tenant faults inside a run -----------------------------------------------------
async def test_row5_dropped_events_list_is_a_sentence_and_the_next_question_works(sqlite_settings, control, user):
    control.seed_tokenset(user["user_id"], "google-oauth2", [CAL_READ])
    control.add_fault("google", EVENTS_PATH, "drop", method="GET")
    async with agent_session(sqlite_settings, control, user) as session:
        pauses, final = await run(session.stream(new_thread(), "What's on my calendar tomorrow?"))
        assert not pauses and "could not be reached" in final and "Traceback" not in final
        control.clear_faults()
        _, final = await run(session.stream(new_thread(), "What's on my calendar tomorrow?"))
        assert "Team standup" in final


async def test_row5_tenant_503_while_building_the_link_is_a_sentence(sqlite_settings, control, user):
    control.add_fault(**REFRESH, kind="status", status=503)
    async with agent_session(sqlite_settings, control, user) as session:
        pauses, final = await run(session.stream(new_thread(), "List my GitHub repositories"))
        assert not pauses and "could not be prepared" in final
        control.clear_faults()
        [pause], _ = await run(session.stream(new_thread(), "List my GitHub repositories"))
        assert await session.linker.is_live(pause.payload["state"])


async def test_row5_issue_post_dropped_after_processing_opens_one_issue(sqlite_settings, control, user):
    control.seed_tokenset(user["user_id"], "github", ["repo"])
    login = user["github"]["login"]
    title = f"Flaky {uuid.uuid4().hex[:6]}"
    control.add_fault("github", r"^/repos/[^/]+/[^/]+/issues$", "drop_after", method="POST", times=1)
    async with agent_session(sqlite_settings, control, user) as session:
        pauses, final = await run(session.stream(new_thread(), f'Open an issue "{title}" in {login}/vault-agent-demo'))
    assert not pauses and "Created issue" in final
    issues = [i for i in control.provider_data(user["user_id"])["issues"]["vault-agent-demo"] if i["title"] == title]
    assert len(issues) == 1 and "<!-- vault-agent:" in issues[0]["body"]



ISSUES_PATH = r"^/repos/[^/]+/[^/]+/issues$"


def issue_posts(control) -> list[dict]:
    return [r for r in control.requests("github", ISSUES_PATH) if r["method"] == "POST"]


async def test_row5_issue_create_slower_than_the_client_timeout_opens_one_issue(sqlite_settings, control, user):
    """The first POST outlasts the client's timeout: it is awaited (it is still an attempt), not followed by
    a marker search that finds nothing and a second POST."""
    settings = sqlite_settings.model_copy(update={"http_timeout_seconds": 1.0})
    control.seed_tokenset(user["user_id"], "github", ["repo"])
    login = user["github"]["login"]
    title = f"Slow {uuid.uuid4().hex[:6]}"
    control.add_fault("github", ISSUES_PATH, "latency", method="POST", delay_ms=3000, times=1)
    started = time.monotonic()
    async with agent_session(settings, control, user) as session:
        pauses, final = await run(session.stream(new_thread(), f'Open an issue "{title}" in {login}/vault-agent-demo'))
    assert not pauses and "Created issue" in final and title in final
    # Count only once the delayed POST has surely been processed (a client that gave up on it at its
    # timeout and posted again would be seen here, with two issues).
    await asyncio.sleep(max(0.0, started + 3.0 + 0.5 - time.monotonic()))
    issues = [i for i in control.provider_data(user["user_id"])["issues"]["vault-agent-demo"] if i["title"] == title]
    assert len(issues) == 1 and len(issue_posts(control)) == 1


async def test_row5_issue_create_past_the_write_bound_is_not_sent_twice(sqlite_settings, control, user, monkeypatch):
    """Slower still than the write's bound: the run says so in one sentence and does not post again; the
    slow POST lands later, once."""
    import tools.github

    monkeypatch.setattr(tools.github, "WRITE_WAIT_SECONDS", 1.0)
    settings = sqlite_settings.model_copy(update={"http_timeout_seconds": 0.3})
    control.seed_tokenset(user["user_id"], "github", ["repo"])
    login = user["github"]["login"]
    title = f"Slower {uuid.uuid4().hex[:6]}"
    control.add_fault("github", ISSUES_PATH, "latency", method="POST", delay_ms=3000, times=1)
    async with agent_session(settings, control, user) as session:
        pauses, final = await run(session.stream(new_thread(), f'Open an issue "{title}" in {login}/vault-agent-demo'))
    assert not pauses and "not sent again" in final and "Created issue" not in final

    def ours():
        return [i for i in control.provider_data(user["user_id"])["issues"]["vault-agent-demo"] if i["title"] == title]

    await wait_for(lambda: ours(), "the slow POST landed", attempts=200)
    await asyncio.sleep(0.3)
    assert len(ours()) == 1 and len(issue_posts(control)) == 1

# -- row 6: arguments and context that used to crash runs ---------------------------------------------
@pytest.mark.parametrize("question", [
    "What's on my calendar on 9999-12-30?",
    "Am I free on 9999-12-30?",
    "What's on my calendar on 9999-12-31?",  # the scripted model's own day arithmetic used to overflow (500)
    "Am I free on 9999-12-31?",
])
async def test_row6_year_9999_is_a_clear_message(sqlite_settings, control, user, question):
    control.seed_tokenset(user["user_id"], "google-oauth2", [CAL_READ, "https://www.googleapis.com/auth/calendar.freebusy"])
    async with agent_session(sqlite_settings, control, user) as session:
        pauses, final = await run(session.stream(new_thread(), question))
    assert not pauses and "between the years 1970 and 2100" in final
    assert not control.requests("google")


@pytest.mark.parametrize("when", ["9999-12-30 at 10am", "9999-12-31 at 11pm"])
async def test_row6_create_in_year_9999_is_refused_before_the_post(sqlite_settings, control, user, when):
    control.seed_tokenset(user["user_id"], "google-oauth2", [CAL_WRITE])
    async with agent_session(sqlite_settings, control, user) as session:
        pauses, final = await run(session.stream(new_thread(), f'Create an event "Far" on {when}'))
    assert not pauses and "between the years 1970 and 2100" in final
    assert not [r for r in control.requests("google") if r["method"] == "POST"]
    assert not events_titled(control, user, "Far")


@pytest.mark.parametrize("zone", ["Mars/Phobos", "../../../etc/passwd", "/etc/passwd"])
async def test_row6_unknown_time_zone_falls_back_to_utc_with_a_note(sqlite_settings, control, user, zone):
    control.seed_tokenset(user["user_id"], "google-oauth2", [CAL_READ])
    async with agent_session(sqlite_settings, control, user, timezone=zone) as session:
        pauses, final = await run(session.stream(new_thread(), "What's on my calendar tomorrow?"))
    assert not pauses and "not a known IANA time zone" in final and "times are in UTC" in final
    assert "Team standup" in final


@pytest.mark.parametrize("repo", ["{login}/..", "{login}/.", "../{login}", "-bad-/repo", "a--b/repo"])
async def test_row6_bad_repository_names_are_refused_before_any_request(sqlite_settings, control, user, repo):
    control.seed_tokenset(user["user_id"], "github", ["repo"])
    name = repo.format(login=user["github"]["login"])
    async with agent_session(sqlite_settings, control, user) as session:
        pauses, final = await run(session.stream(new_thread(), f"List the issues in {name}"))
    assert not pauses and "repo must look like owner/name" in final
    assert not [r for r in control.requests("github") if r["path"].startswith("/repos")]


# -- row 7: SQLite under concurrency ------------------------------------------------------------------
async def test_row7_twenty_runs_in_flight_on_sqlite_in_one_process(sqlite_settings, control, user, tmp_path):
    async with agent_session(sqlite_settings, control, user) as session:
        threads = [new_thread() for _ in range(20)]
        results = await asyncio.gather(*(run(session.stream(t, "What's on my calendar tomorrow?")) for t in threads))
        pauses = [p for ps, _ in results for p in ps]
        assert len(pauses) == 20 and len({p.payload["state"] for p in pauses}) == 20
        redirects = [control.authorize(p.payload["authorize_url"], user["user_id"]) for p in pauses]
        finals = await asyncio.gather(*(run(session.complete_and_resume(r)) for r in redirects))
        assert all("Team standup" in final for _, final in finals)
    state_dir = tmp_path / "state"
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    for path in state_dir.glob("threads.sqlite*"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_row7_two_processes_on_one_sqlite_file(sandbox, control, user, tmp_path):
    session = control.session(user["user_id"])
    env = {**os.environ, **sandbox.env, "VAULT_AGENT_DB_URL": "sqlite:///" + str(tmp_path / "shared.sqlite"),
           "VAULT_AGENT_STATE_DIR": str(tmp_path), "AUTH0_CALLBACK_URL": "http://127.0.0.1:8765/callback",
           "TEST_USER_SUB": user["user_id"], "TEST_USER_ID_TOKEN": session["id_token"],
           "TEST_USER_REFRESH_TOKEN": session["refresh_token"]}
    worker = Path(__file__).with_name("fault_worker.py")
    procs = [subprocess.Popen([sys.executable, str(worker), "8"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=str(Path(__file__).parents[2]))
             for _ in range(2)]
    outputs = [p.communicate(timeout=150) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-2000:]
        assert out.count("PAUSED") == 8, out + err[-2000:]
