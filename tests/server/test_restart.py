"""Nothing a run needs lives only in one server process: a thread paused before a restart finishes by
itself when the user answers after it (Allow and Deny), and a run queued by one process executes in
another that never saw the request. Each restart is a new OS process on the same persistence, so no
in-process cache can carry anything across."""

from __future__ import annotations

import httpx
import pytest
from server_helpers import client_for, messages, pause, persisted_text, wait_idle

from sandbox.langgraph_dev import LangGraphDev

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # restarts of langgraph dev on a loaded machine


@pytest.fixture(scope="module")
def restartable(sandbox, tmp_path_factory):
    server = LangGraphDev(dict(sandbox.env, VAULT_AGENT_TIMEZONE="UTC"),
                          workdir=tmp_path_factory.mktemp("langgraph-restart")).start()
    yield server
    server.stop()


def _info(server: LangGraphDev) -> dict:
    return {"url": server.url, "workdir": server.workdir}


async def test_answers_after_a_restart_resume_the_threads(restartable, control, user):
    client, session = client_for(_info(restartable), control, user)
    allowed, denied = await client.threads.create(), await client.threads.create()
    allow_request = await pause(client, allowed["thread_id"])
    deny_request = await pause(client, denied["thread_id"],  # another connection: Allow links Google only
                               {"messages": [{"role": "user", "content": "List my GitHub repositories"}]})
    pid_before = restartable._proc.pid

    restartable.stop()
    restartable.start()
    assert restartable._proc.pid != pid_before

    page = httpx.get(control.authorize(allow_request["authorize_url"], user["user_id"]), timeout=60)
    assert page.status_code == 200 and "Access granted" in page.text
    page = httpx.get(control.authorize(deny_request["authorize_url"], user["user_id"], action="deny"), timeout=60)
    assert page.status_code == 200 and "declined" in page.text

    await wait_idle(client, allowed["thread_id"])
    await wait_idle(client, denied["thread_id"])
    assert "Team standup" in (await messages(client, allowed["thread_id"]))[-1]["content"]
    assert "declined" in (await messages(client, denied["thread_id"]))[-1]["content"]

    restartable.stop()  # flushes everything to disk
    text = persisted_text(restartable.workdir)
    restartable.start()
    for secret in (session["access_token"], session["refresh_token"]):
        assert secret not in text


async def test_a_run_queued_by_one_process_runs_in_another(restartable, control, user):
    """The run is accepted (and its user authenticated) by one process, which stops before executing
    it; the next process executes it with nothing but what the run carries."""
    control.seed_tokenset(user["user_id"], "google-oauth2", ["https://www.googleapis.com/auth/calendar.readonly"])
    client, _ = client_for(_info(restartable), control, user)
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "agent", after_seconds=30,
                                   input={"messages": [{"role": "user", "content": "What's on my calendar tomorrow?"}]})
    restartable.stop()
    restartable.start()

    await client.runs.join(thread["thread_id"], run["run_id"])
    finished = await client.runs.get(thread["thread_id"], run["run_id"])
    assert finished["status"] == "success"
    assert "Team standup" in (await messages(client, thread["thread_id"]))[-1]["content"]
