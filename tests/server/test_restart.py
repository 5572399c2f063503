"""Nothing a run needs lives only in one server process: a thread paused before a restart finishes by
itself when the user answers after it (Allow and Deny), and a run queued by one process executes in
another that never saw the request. Each restart is a new OS process on the same persistence, so no
in-process cache can carry anything across — on both engines (Aegra: one process on PostgreSQL, every
process restarted)."""

from __future__ import annotations

import httpx
import pytest
from server_helpers import aegra_available, client_for, messages, pause, persisted_text, wait_idle

from sandbox.aegra import Aegra
from sandbox.langgraph_dev import LangGraphDev

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # restarts of langgraph dev on a loaded machine


class Restartable:
    """Either engine behind stop/start/pid (Aegra: all its processes)."""

    def __init__(self, server: LangGraphDev | Aegra) -> None:
        self.server = server
        self.url = server.url

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def pid(self) -> int:
        server = self.server
        return server.pid(0) if isinstance(server, Aegra) else server._proc.pid  # type: ignore[union-attr]

    def persisted_text(self) -> str:
        """What the server keeps: langgraph dev's state folder, or every table of Aegra's database."""
        server = self.server
        return persisted_text(server.workdir, server.env["DATABASE_URL"] if isinstance(server, Aegra) else None)


@pytest.fixture(scope="module", params=["langgraph-dev", "aegra"])
def restartable(request, sandbox, tmp_path_factory, new_database):
    env = dict(sandbox.env, VAULT_AGENT_TIMEZONE="UTC")
    if request.param == "langgraph-dev":
        server = Restartable(LangGraphDev(env, workdir=tmp_path_factory.mktemp("langgraph-restart")))
        server.start()
        yield server
        server.stop()
        return
    aegra_available()
    with new_database() as database_url:
        server = Restartable(Aegra(env, tmp_path_factory.mktemp("aegra-restart"), database_url, processes=1))
        server.start()
        yield server
        server.stop()


def _info(server: Restartable) -> dict:
    return {"url": server.url}


async def test_answers_after_a_restart_resume_the_threads(restartable, control, user):
    client, session = client_for(_info(restartable), control, user)
    allowed, denied = await client.threads.create(), await client.threads.create()
    allow_request = await pause(client, allowed["thread_id"])
    deny_request = await pause(client, denied["thread_id"],  # another connection: Allow links Google only
                               {"messages": [{"role": "user", "content": "List my GitHub repositories"}]})
    pid_before = restartable.pid()

    restartable.stop()
    restartable.start()
    assert restartable.pid() != pid_before

    page = httpx.get(control.authorize(allow_request["authorize_url"], user["user_id"]), timeout=60)
    assert page.status_code == 200 and "Access granted" in page.text
    page = httpx.get(control.authorize(deny_request["authorize_url"], user["user_id"], action="deny"), timeout=60)
    assert page.status_code == 200 and "declined" in page.text

    await wait_idle(client, allowed["thread_id"])
    await wait_idle(client, denied["thread_id"])
    assert "Team standup" in (await messages(client, allowed["thread_id"]))[-1]["content"]
    assert "declined" in (await messages(client, denied["thread_id"]))[-1]["content"]

    restartable.stop()  # flushes everything to disk
    text = restartable.persisted_text()
    restartable.start()
    for secret in (session["access_token"], session["refresh_token"]):
        assert secret not in text


async def test_a_run_queued_by_one_process_runs_in_another(restartable, control, user):
    """The run is accepted (and its user authenticated) by one process, which stops before executing
    it; the next process executes it with nothing but what the run carries."""
    if isinstance(restartable.server, Aegra):
        pytest.skip("Aegra has no delayed runs (it ignores after_seconds): test_engines' kill -9 tests show another "
                    "Aegra process finishing a run it never saw")
    control.seed_tokenset(user["user_id"], "google-oauth2", ["https://www.googleapis.com/auth/calendar.readonly"])
    client, _ = client_for(_info(restartable), control, user)
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "agent", after_seconds=12,
                                   input={"messages": [{"role": "user", "content": "What's on my calendar tomorrow?"}]})
    assert (await client.runs.get(thread["thread_id"], run["run_id"]))["status"] == "pending"  # not started here
    restartable.stop()
    restartable.start()

    await client.runs.join(thread["thread_id"], run["run_id"])
    finished = await client.runs.get(thread["thread_id"], run["run_id"])
    assert finished["status"] == "success"
    assert "Team standup" in (await messages(client, thread["thread_id"]))[-1]["content"]
