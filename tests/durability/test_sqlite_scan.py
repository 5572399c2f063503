"""Token scan of what a default (SQLite) installation persists and logs during a full pause/resume."""

from __future__ import annotations

import logging
import uuid

from agent.persistence import open_persistence
from agent.session_runner import AgentSession, AuthorizationNeeded, Final
from auth.credentials import UserCredentials
from auth.settings import Settings
from tools.services import Services


async def test_sqlite_file_and_logs_hold_no_token(sandbox, control, user, sandbox_env, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    settings = Settings(_env_file=None, vault_agent_db_url=str(tmp_path / "threads.sqlite"))
    s = control.session(user["user_id"])
    creds = UserCredentials(user["user_id"], s["id_token"], refresh_token=s["refresh_token"])
    async with open_persistence(settings) as p:
        services = Services.create(settings, p.store)
        session = AgentSession(services, p, creds)
        thread = str(uuid.uuid4())
        [pause] = [e async for e in session.stream(thread, "What's on my calendar tomorrow?")
                   if isinstance(e, AuthorizationNeeded)]
        callback = control.authorize(pause.payload["authorize_url"], user["user_id"])
        [final] = [e async for e in session.complete_and_resume(callback) if isinstance(e, Final)]
        await services.aclose()
    assert "Team standup" in final.text
    provider_tokens = [t for t, g in sandbox.world.provider_grants.items() if g.user_id == user["google"]["user_id"]]
    assert provider_tokens
    persisted = b"".join(f.read_bytes() for f in tmp_path.iterdir() if f.is_file())
    logs = "\n".join(r.getMessage() + repr(r.args) for r in caplog.records)
    assert b"Team standup" in persisted and logs
    for secret in (s["refresh_token"], s["access_token"], *provider_tokens):
        assert secret.encode() not in persisted and secret not in logs
