"""Scale-out on PostgreSQL: a run paused in one OS process finishes in another; concurrent resumers of
one pause cause one side effect."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from agent.persistence import open_persistence
from agent.session_runner import ALREADY_RESUMED, AgentSession, AuthorizationNeeded, Final
from auth.credentials import UserCredentials
from auth.settings import Settings
from tools.services import Services

pytestmark = pytest.mark.postgres
WORKER = Path(__file__).with_name("worker.py")


def _run_worker(env, *args):
    out = subprocess.run([sys.executable, str(WORKER), *args], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def test_pause_in_process_a_resume_in_process_b(sandbox, control, user, postgres_url, tmp_path):
    session = control.session(user["user_id"])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH0_", "OPENAI_", "SANDBOX_"))}
    env.update(sandbox.env)
    env.update({"VAULT_AGENT_DB_URL": postgres_url, "AUTH0_CALLBACK_URL": "http://127.0.0.1:8765/callback",
                "TEST_USER_SUB": user["user_id"], "TEST_USER_ID_TOKEN": session["id_token"],
                "TEST_USER_REFRESH_TOKEN": session["refresh_token"], "VAULT_AGENT_STATE_DIR": str(tmp_path)})
    thread_id = str(uuid.uuid4())
    [first] = _run_worker(env, "ask", thread_id)
    assert first["pause"]["connection"] == "google-oauth2"
    callback = control.authorize(first["pause"]["authorize_url"], user["user_id"])
    [done] = _run_worker(env, "finish", callback)
    assert "Team standup" in done["final"]


async def _collect(events):
    return [e async for e in events]


async def test_two_clients_resuming_one_pause_create_one_event(sandbox, control, user, postgres_url, sandbox_env):
    settings = Settings(_env_file=None, vault_agent_db_url=postgres_url)
    s = control.session(user["user_id"])
    creds = UserCredentials(user["user_id"], s["id_token"], refresh_token=s["refresh_token"])
    control.seed_tokenset(user["user_id"], "google-oauth2", ["https://www.googleapis.com/auth/calendar.readonly"])
    async with open_persistence(settings) as p1, open_persistence(settings) as p2:
        services = Services.create(settings, p1.store)
        a, b = AgentSession(services, p1, creds), AgentSession(services, p2, creds)
        thread = str(uuid.uuid4())
        events = await _collect(a.stream(thread, 'Create an event "Sync with Priya" tomorrow at 10am'))
        [pause] = [e for e in events if isinstance(e, AuthorizationNeeded)]
        assert pause.payload["reason"] == "insufficient_scope"  # step-up: write access
        result, values = await a.complete(control.authorize(pause.payload["authorize_url"], user["user_id"]))
        runs = await asyncio.gather(_collect(a.resume(thread, values)), _collect(b.resume(thread, values)))
        finals = sorted(e.text for run in runs for e in run if isinstance(e, Final))
        await services.aclose()
    assert ALREADY_RESUMED in finals and any("Sync with Priya" in f for f in finals)
    events_now = [e["summary"] for e in control.provider_data(user["user_id"])["events"]]
    assert events_now.count("Sync with Priya") == 1


async def test_token_scan_of_postgres_checkpoints_and_store(sandbox, control, user, postgres_url, sandbox_env):
    import psycopg

    settings = Settings(_env_file=None, vault_agent_db_url=postgres_url)
    s = control.session(user["user_id"])
    creds = UserCredentials(user["user_id"], s["id_token"], refresh_token=s["refresh_token"])
    async with open_persistence(settings) as p:
        services = Services.create(settings, p.store)
        session = AgentSession(services, p, creds)
        thread = str(uuid.uuid4())
        events = await _collect(session.stream(thread, "List my GitHub repositories"))
        [pause] = [e for e in events if isinstance(e, AuthorizationNeeded)]
        await _collect(session.complete_and_resume(control.authorize(pause.payload["authorize_url"], user["user_id"])))
        await services.aclose()
    provider_tokens = [t for t, g in sandbox.world.provider_grants.items() if g.user_id == user["github"]["user_id"]]
    assert provider_tokens
    dump = ""
    with psycopg.connect(postgres_url) as conn:
        for (table,) in conn.execute("select tablename from pg_tables where schemaname='public'").fetchall():
            dump += repr(conn.execute(f'select * from "{table}"').fetchall())
    assert "vault-agent-demo" in dump  # the scan does see the conversation
    for secret in (s["refresh_token"], s["access_token"], *provider_tokens):
        assert secret not in dump
