"""The same server on both engines — `langgraph dev`, and Aegra with two processes on PostgreSQL + Redis:
pause → click → the callback (on Aegra: on the *other* process) resumes; Deny; another user's thread
refused; `metadata.owner` not settable; CORS closed; a server whose auth module cannot load refuses to
start; and on Aegra, kill -9 of the process executing a run → the other process finishes it, with exactly
one Calendar event."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import NotFoundError, PermissionDeniedError
from server_helpers import client_for, database_text, messages, pause, wait_idle

from sandbox.aegra import Aegra
from sandbox.langgraph_dev import LangGraphDev

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]
CAL_WRITE = "https://www.googleapis.com/auth/calendar.events"
EVENTS_PATH = r"^/calendar/v3/calendars/[^/]+/events$"
ISSUES_PATH = r"^/repos/[^/]+/[^/]+/issues$"


async def test_pause_click_and_the_callback_resumes(engine_server, control, user):
    client, session = client_for(engine_server, control, user)
    thread = await client.threads.create()
    request = await pause(client, thread["thread_id"])

    redirect = control.authorize(request["authorize_url"], user["user_id"])
    assert redirect.startswith(engine_server["callback_url"] + "/auth/callback")  # Aegra: the other process
    page = httpx.get(redirect, timeout=60)
    assert page.status_code == 200 and "Access granted" in page.text

    await wait_idle(client, thread["thread_id"])
    answer = (await messages(client, thread["thread_id"]))[-1]["content"]
    assert "Team standup" in answer and "Design review with Priya" in answer
    runs = await client.runs.list(thread["thread_id"])
    assert len(runs) == 2 and {r["status"] for r in runs} <= {"success", "interrupted"}  # client's, callback's

    if engine_server["engine"] == "aegra":  # what Aegra persists (every table) and logs: no token
        seen = database_text(engine_server["database_url"])
        seen += "".join(log.read_text(errors="replace") for log in engine_server["aegra"].logs)
        for secret in (session["access_token"], session["refresh_token"], session["access_token"].split(".")[1]):
            assert secret not in seen
        # No ID token at all: the link page mints the id_token_hint at click time and hands it to the browser only.
        assert session["id_token"] not in seen and "id_token_hint=" not in seen


async def test_deny_finishes_the_thread(engine_server, control, user):
    client, _ = client_for(engine_server, control, user)
    thread = await client.threads.create()
    request = await pause(client, thread["thread_id"])
    page = httpx.get(control.authorize(request["authorize_url"], user["user_id"], action="deny"), timeout=60)
    assert page.status_code == 200 and "declined" in page.text
    assert (await wait_idle(client, thread["thread_id"]))["status"] == "idle"
    assert "declined" in (await messages(client, thread["thread_id"]))[-1]["content"]


async def test_another_users_thread_is_refused_and_owner_is_the_servers(engine_server, control, user):
    owner, _ = client_for(engine_server, control, user)
    intruder, _ = client_for(engine_server, control, control.create_user())
    thread = await owner.threads.create(metadata={"owner": "someone-else"})
    assert thread["metadata"]["owner"] == user["user_id"]
    with pytest.raises(NotFoundError):
        await intruder.threads.get_state(thread["thread_id"])
    with pytest.raises((NotFoundError, httpx.HTTPStatusError)) as refused:
        await intruder.runs.create(thread["thread_id"], "agent", input={"messages": []})
    assert getattr(refused.value, "response", None) is None or refused.value.response.status_code == 404
    with pytest.raises((PermissionDeniedError, httpx.HTTPStatusError)) as denied:
        await owner.threads.update(thread["thread_id"], metadata={"owner": "someone-else"})
    assert getattr(denied.value, "response", None) is None or denied.value.response.status_code == 403
    assert (await owner.threads.get(thread["thread_id"]))["metadata"]["owner"] == user["user_id"]
    assert thread["thread_id"] not in {t["thread_id"] for t in await intruder.threads.search(limit=100)}
    assert httpx.post(engine_server["url"] + "/threads", json={}).status_code in (401, 403)


async def test_cors_is_closed_by_default(engine_server):
    preflight = httpx.options(engine_server["url"] + "/threads", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    simple = httpx.get(engine_server["url"] + "/ok" if engine_server["engine"] == "langgraph-dev"
                       else engine_server["url"] + "/health", headers={"Origin": "https://evil.example"})
    for response in (preflight, simple):
        assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("engine", ["langgraph-dev", "aegra"])
@pytest.mark.parametrize("breakage", ["bad key", "broken dependency", "auth path fails"])
def test_a_server_whose_auth_cannot_load_refuses_to_start(engine, breakage, sandbox, tmp_path, new_database,
                                                           request):
    """Never an anonymous request served: the process exits with one line instead."""
    env = dict(sandbox.env)
    if breakage == "bad key":
        env["VAULT_AGENT_ENCRYPTION_KEY"] = "not-a-key"
    elif breakage == "auth path fails":  # the configuration names an auth module that fails on import
        broken = tmp_path / "broken_auth.py"
        broken.write_text("raise ImportError('no such auth')\n")
        config = json.loads((ROOT / ("aegra.json" if engine == "aegra" else "langgraph.json")).read_text())
        config["auth"]["path"] = f"{broken}:auth"
        config["graphs"] = {k: str(ROOT / v.removeprefix("./")) for k, v in config["graphs"].items()}
        config["http"]["app"] = str(ROOT / config["http"]["app"].removeprefix("./"))
        if "dependencies" in config:
            config["dependencies"] = [str(ROOT)]
        (tmp_path / "engine.json").write_text(json.dumps(config))
    else:  # a dependency the auth module imports is missing from the deployment
        shadow = tmp_path / "shadow" / "joserfc"
        shadow.mkdir(parents=True)
        (shadow / "__init__.py").write_text("raise ImportError('joserfc is not installed')\n")
        env["PYTHONPATH"] = str(shadow.parent)
    if engine == "aegra":
        request.getfixturevalue("aegra_ready")
        with new_database() as database_url:
            config = tmp_path / "engine.json" if breakage == "auth path fails" else None
            server = Aegra(env, tmp_path / "aegra", database_url, processes=1, config=config)
            try:
                with pytest.raises(RuntimeError, match="exited"):
                    server.start_process(0, timeout=90)
            finally:
                server.stop()  # one that started after all must not outlive the test
            log = server.logs[0].read_text()
    else:
        server = LangGraphDev(env, workdir=tmp_path / "dev",
                              config=tmp_path / "engine.json" if breakage == "auth path fails" else None)
        try:
            with pytest.raises(RuntimeError, match="exited"):
                server.start(timeout=90)
        finally:
            server.stop()
        log = server.log_path.read_text()
    assert any(why in log for why in ("vault-agent server:", "joserfc is not installed", "no such auth")), log[-2000:]
    assert "anonymous" not in log.lower() or "Failed to load custom app" in log


async def test_kill_9_of_the_executing_process_the_other_finishes_with_one_event(aegra_server, control, user):
    """Aegra's lease reaper hands a run whose process died to the other process, which executes the tool
    again: the event id derived from (thread, tool call) makes the second insert Google's 409, so the
    calendar holds exactly one event."""
    aegra: Aegra = aegra_server["aegra"]
    control.seed_tokenset(user["user_id"], "google-oauth2", [CAL_WRITE])
    control.clear_requests()
    control.add_fault("google", EVENTS_PATH, "latency", method="POST", delay_ms=4000, times=1)
    title = f"Kill {uuid.uuid4().hex[:6]}"
    client, _ = client_for(aegra_server, control, user)
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "agent", input={"messages": [
        {"role": "user", "content": f'Create an event "{title}" tomorrow at 11am'}]})

    executing = await _process_executing(aegra, run["run_id"])
    await _until(lambda: any("/oauth/token" in r["path"] for r in control.requests("auth0")), "Token Vault exchange")
    await asyncio.sleep(1.0)  # the insert is now in flight (the sandbox holds it for 4 s)
    aegra.kill(executing)
    try:
        survivor = get_client(url=aegra.urls[1 - executing], headers=client.http.client.headers)
        for _ in range(300):
            finished = await survivor.runs.get(thread["thread_id"], run["run_id"])
            if finished["status"] not in ("pending", "running"):
                break
            await asyncio.sleep(0.5)
        assert finished["status"] == "success"
        assert _picked_up(aegra, 1 - executing, run["run_id"])  # re-executed by the other process
        await _until(lambda: len(_posts(control)) == 2, "both inserts answered")
        assert sorted(r["status"] for r in _posts(control)) == [200, 409]
        events = [e for e in control.provider_data(user["user_id"])["events"] if e.get("summary") == title]
        assert len(events) == 1
        assert title in (await messages(survivor, thread["thread_id"]))[-1]["content"]
    finally:
        aegra.start_process(executing)  # the session's server goes on with two processes


def _posts(control) -> list[dict]:
    """The Calendar inserts the sandbox answered."""
    return [r for r in control.requests("google") if r["method"] == "POST" and "/events" in r["path"]]


def _picked_up(aegra: Aegra, process: int, run_id: str) -> bool:
    return any("Worker picked up run" in line and run_id in line
               for line in aegra.logs[process].read_text(errors="replace").splitlines())


async def _process_executing(aegra: Aegra, run_id: str) -> int:
    for _ in range(300):
        for i in range(len(aegra.logs)):
            if _picked_up(aegra, i, run_id):
                return i
        await asyncio.sleep(0.1)
    raise AssertionError("no process picked up the run")


async def _until(check, what: str, attempts: int = 400) -> None:
    for _ in range(attempts):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_kill_9_of_the_executing_process_the_other_finishes_with_one_issue(aegra_server, control, user):
    """The same recovery for a GitHub issue: the intent recorded before the POST (in the engine's store) and
    the hidden marker in the body make the re-executed tool find the issue the dead process opened."""
    aegra: Aegra = aegra_server["aegra"]
    control.seed_tokenset(user["user_id"], "github", ["repo"])
    control.clear_requests()
    control.add_fault("github", ISSUES_PATH, "latency", method="POST", delay_ms=4000, times=1)
    login, title = user["github"]["login"], f"Kill {uuid.uuid4().hex[:6]}"
    client, _ = client_for(aegra_server, control, user)
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "agent", input={"messages": [
        {"role": "user", "content": f'Open an issue "{title}" in {login}/vault-agent-demo'}]})

    executing = await _process_executing(aegra, run["run_id"])
    await _until(lambda: any("/oauth/token" in r["path"] for r in control.requests("auth0")), "Token Vault exchange")
    await asyncio.sleep(1.0)  # the POST is now in flight (the sandbox holds it for 4 s)
    aegra.kill(executing)
    try:
        survivor = get_client(url=aegra.urls[1 - executing], headers=client.http.client.headers)
        for _ in range(300):
            finished = await survivor.runs.get(thread["thread_id"], run["run_id"])
            if finished["status"] not in ("pending", "running"):
                break
            await asyncio.sleep(0.5)
        assert finished["status"] == "success"
        assert _picked_up(aegra, 1 - executing, run["run_id"])  # re-executed by the other process
        await asyncio.sleep(4)  # any POST still held by the sandbox lands
        issues = [i for i in control.provider_data(user["user_id"])["issues"]["vault-agent-demo"] if i["title"] == title]
        assert len(issues) == 1 and "<!-- vault-agent:" in issues[0]["body"]
        assert title in (await messages(survivor, thread["thread_id"]))[-1]["content"]
    finally:
        aegra.start_process(executing)
