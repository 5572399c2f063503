"""One of two processes sharing a SQLite file in row 7: N runs in flight at once, each to its pause."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

from agent.persistence import open_persistence
from agent.session_runner import AgentSession, AuthorizationNeeded
from auth.credentials import UserCredentials
from auth.settings import Settings
from tools.services import Services


async def main(count: int) -> None:
    settings = Settings(_env_file=None)
    user = UserCredentials(os.environ["TEST_USER_SUB"], os.environ["TEST_USER_ID_TOKEN"],
                           refresh_token=os.environ["TEST_USER_REFRESH_TOKEN"])
    async with open_persistence(settings) as persistence:
        services = Services.create(settings, persistence.store)
        session = AgentSession(services, persistence, user)

        async def one() -> None:
            async for event in session.stream(str(uuid.uuid4()), "What's on my calendar tomorrow?"):
                if isinstance(event, AuthorizationNeeded):
                    print("PAUSED", flush=True)

        await asyncio.gather(*(one() for _ in range(count)))
        await services.aclose()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
