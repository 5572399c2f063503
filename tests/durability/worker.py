"""One process of the scale-out test: `ask` runs the agent to its pause and exits; `finish` completes
the callback and resumes. The two share nothing but the database in VAULT_AGENT_DB_URL."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from agent.persistence import open_persistence
from agent.session_runner import AgentSession, AuthorizationNeeded, Final
from auth.credentials import UserCredentials
from auth.settings import Settings
from tools.services import Services


async def main(mode: str, arg: str) -> None:
    settings = Settings()
    user = UserCredentials(os.environ["TEST_USER_SUB"], os.environ["TEST_USER_ID_TOKEN"],
                           refresh_token=os.environ["TEST_USER_REFRESH_TOKEN"])
    async with open_persistence(settings) as persistence:
        services = Services.create(settings, persistence.store)
        session = AgentSession(services, persistence, user)
        events = session.stream(arg, "What's on my calendar tomorrow?") if mode == "ask" \
            else session.complete_and_resume(arg)
        async for event in events:
            if isinstance(event, AuthorizationNeeded):
                print(json.dumps({"pause": event.payload}), flush=True)
            elif isinstance(event, Final):
                print(json.dumps({"final": event.text}), flush=True)
        await services.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
