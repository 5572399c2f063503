"""Helpers every server test shares: a client as a given user, pause a thread, wait for it, read what
the server wrote to disk."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client

from sandbox.aegra import PYTHON as AEGRA_PYTHON
from sandbox.aegra import redis_reachable

AUDIENCE = "https://vault-agent.sandbox/api"
ASK_CALENDAR = {"messages": [{"role": "user", "content": "What's on my calendar tomorrow?"}]}


def client_for(server: dict, control, user: dict, **headers: str):
    """An SDK client authenticated as `user` the way a standard client is: a bearer token and nothing
    else (README › LangGraph server). `headers` adds others (say what an older client sent)."""
    session = control.session(user["user_id"], audience=AUDIENCE)
    sent = {"Authorization": f"Bearer {session['access_token']}", **headers}
    return get_client(url=server["url"], headers=sent), session


async def wait_idle(client, thread_id: str, timeout: float = 90) -> dict:
    for _ in range(int(timeout * 5)):
        thread = await client.threads.get(thread_id)
        if thread["status"] != "busy":
            return thread
        await asyncio.sleep(0.2)
    raise AssertionError("thread did not finish")


async def pause(client, thread_id: str, message: dict = ASK_CALENDAR, **kwargs: Any) -> dict:
    """Run the agent on the thread until it pauses; the authorization interrupt's value."""
    await client.runs.wait(thread_id, "agent", input=message, **kwargs)
    state = await client.threads.get_state(thread_id)
    [interrupt] = state["interrupts"]
    assert interrupt["value"]["type"] == "auth0/authorization_required"
    return interrupt["value"]


async def messages(client, thread_id: str) -> list[dict]:
    return (await client.threads.get_state(thread_id))["values"]["messages"]


def persisted_text(workdir: Path, database_url: str | None = None) -> str:
    """Everything the server wrote to disk: its files (langgraph dev's pickled threads, runs, checkpoints
    and store; Aegra's logs and state folder) and, for a server on PostgreSQL, every row of its database."""
    text = ""
    for path in workdir.rglob("*"):
        if path.is_file() and path.name not in ("server.log", "encryption.key"):
            text += path.read_bytes().decode("latin-1")
    return text + (database_text(database_url) if database_url else "")


def database_text(url: str) -> str:
    """Every row of every table of the database, as text."""
    import psycopg

    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")]
        return "".join(bytes(value).decode("latin-1") if isinstance(value, (bytes, memoryview)) else str(value)
                       for table in tables for row in conn.execute(f"SELECT * FROM {table}") for value in row)


def aegra_available() -> None:
    """Skip (or, where CI requires the services, fail) when Aegra cannot run here."""
    problem = "" if AEGRA_PYTHON.exists() else f"{AEGRA_PYTHON} is missing: `make .venv-aegra/.installed`"
    problem = problem or redis_reachable()
    if problem:
        if os.environ.get("VAULT_AGENT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"Aegra cannot run here: {problem}")
        pytest.skip(problem)


def title(page) -> str:
    """The `<title>` of an HTML page (httpx response)."""
    import re

    found = re.search(r"<title>(.*?)</title>", page.text, re.S)
    return found.group(1) if found else ""


def open_link_as(url: str, control, auth0_url: str, user_id: str, action: str = "approve"):
    """A browser opening an app's link page, logging in at the tenant as `user_id` (the sandbox's control
    API plays the tenant's pages), and following every redirect: the last page the app shows."""
    with httpx.Client(timeout=60) as http:
        for _ in range(10):
            if url.startswith(auth0_url):
                url = control.authorize(url, user_id, action)
                continue
            response = http.get(url)
            if response.status_code not in (301, 302, 303, 307):
                return response
            url = response.headers["location"]
    raise AssertionError("too many redirects")
