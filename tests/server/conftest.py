"""`langgraph dev` on a free port, configured for the test session's sandbox.

It is slow to start on a loaded machine, so one server serves the whole session; tests that need their
own (restarts, connected_accounts mode) start one per module."""

from __future__ import annotations

import pytest

from sandbox.langgraph_dev import LangGraphDev


@pytest.fixture(scope="session")
def langgraph_server(sandbox, tmp_path_factory):
    env = dict(sandbox.env, VAULT_AGENT_TIMEZONE="UTC")
    with LangGraphDev(env, workdir=tmp_path_factory.mktemp("langgraph-dev")) as server:
        yield {"url": server.url, "workdir": server.workdir, "log": server.log_path, "dev": server}
