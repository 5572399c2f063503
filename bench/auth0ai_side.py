"""The auth0-ai-langchain side of benchmark (b), run inside bench/.venv-auth0ai.

Reads a JSON job on stdin: {"domain", "client_id", "client_secret", "refresh_tokens": [...]}; wraps a
trivial tool with `Auth0AI(...).with_token_vault(connection="github", scopes=["repo"])` and invokes it
concurrently once per refresh token (each a different thread, so each needs a fresh provider token).
Prints {"seconds": wall time, "ok": successful calls}.
"""

import asyncio
import json
import sys
import time

from auth0_ai_langchain.auth0_ai import Auth0AI
from auth0_ai_langchain.token_vault import get_access_token_from_token_vault
from langchain_core.tools import StructuredTool


async def main() -> None:
    job = json.load(sys.stdin)
    auth0_ai = Auth0AI({"domain": job["domain"], "client_id": job["client_id"],
                        "client_secret": job["client_secret"], "protocol": "http"})
    with_github = auth0_ai.with_token_vault(connection="github", scopes=["repo"])

    def whoami(name: str) -> str:
        token = get_access_token_from_token_vault()
        return "ok" if token else "missing"

    tool = with_github(StructuredTool.from_function(func=whoami, name="whoami", description="Who am I"))

    async def one(i: int, refresh_token: str) -> str:
        config = {"configurable": {"thread_id": f"bench-{i}", "_credentials": {"refresh_token": refresh_token}}}
        call = {"type": "tool_call", "name": "whoami", "args": {"name": "x"}, "id": f"call-{i}"}
        result = await tool.ainvoke(call, config)
        return getattr(result, "content", result)

    started = time.perf_counter()
    results = await asyncio.gather(*(one(i, t) for i, t in enumerate(job["refresh_tokens"])),
                                   return_exceptions=True)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "ok": sum(1 for r in results if r == "ok"),
                      "errors": sorted({type(r).__name__ for r in results if isinstance(r, BaseException)})}))


asyncio.run(main())
