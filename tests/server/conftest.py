"""The server under test: `langgraph dev` on a free port, and Aegra with two processes on PostgreSQL + Redis,
both configured for the test session's sandbox.

Both are slow to start on a loaded machine, so one of each serves the whole session; tests that need their
own (restarts, connected_accounts mode, a broken auth module) start one per test or module. `engine_server`
runs a test on both engines."""

from __future__ import annotations

import pytest
from server_helpers import aegra_available

from sandbox.aegra import Aegra
from sandbox.langgraph_dev import LangGraphDev

APP_URL = "http://app.example/?threadId={thread_id}"  # the front end's address for one conversation (Agent Chat UI's)


@pytest.fixture(scope="session")
def langgraph_server(sandbox, tmp_path_factory):
    env = dict(sandbox.env, VAULT_AGENT_TIMEZONE="UTC", VAULT_AGENT_APP_URL=APP_URL)
    with LangGraphDev(env, workdir=tmp_path_factory.mktemp("langgraph-dev")) as server:
        yield {"url": server.url, "workdir": server.workdir, "log": server.log_path, "dev": server,
               "engine": "langgraph-dev", "callback_url": server.url, "env": server.env}


@pytest.fixture(scope="session")
def aegra_ready() -> None:
    aegra_available()


@pytest.fixture(scope="session")
def aegra_server(sandbox, tmp_path_factory, new_database):
    """Two Aegra processes sharing PostgreSQL and Redis: requests go to the first, the browser's
    callback (AUTH0_CALLBACK_URL) lands on the second — the server's public address (`callback_url`),
    the one its link pages are on."""
    aegra_available()
    with new_database() as database_url:
        server = Aegra(dict(sandbox.env, VAULT_AGENT_TIMEZONE="UTC", VAULT_AGENT_APP_URL=APP_URL),
                       tmp_path_factory.mktemp("aegra"),
                       database_url, processes=2)
        with server:
            yield {"url": server.url, "workdir": server.workdir, "log": server.logs[0], "aegra": server,
                   "engine": "aegra", "callback_url": server.urls[1], "database_url": database_url,
                   "env": server.env}


@pytest.fixture(scope="session", params=["langgraph-dev", "aegra"])
def engine_server(request):
    return request.getfixturevalue("langgraph_server" if request.param == "langgraph-dev" else "aegra_server")
