"""A process that asks one question in one thread and is killed by the test in the middle of the tool."""

from __future__ import annotations

import asyncio
import os
import sys

from agent.persistence import open_persistence
from agent.session_runner import AgentSession, ToolStarted
from auth.credentials import UserCredentials
from auth.settings import Settings
from tools.services import Services


async def main(thread_id: str, text: str) -> None:
    settings = Settings(_env_file=None)
    user = UserCredentials(os.environ["TEST_USER_SUB"], os.environ["TEST_USER_ID_TOKEN"],
                           refresh_token=os.environ["TEST_USER_REFRESH_TOKEN"])
    async with open_persistence(settings) as persistence:
        services = Services.create(settings, persistence.store)
        async for event in AgentSession(services, persistence, user).stream(thread_id, text):
            if isinstance(event, ToolStarted):
                print("TOOL", event.name, flush=True)
        print("DONE", flush=True)  # the test kills this process before it gets here


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
