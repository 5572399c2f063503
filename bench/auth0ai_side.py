"""The auth0-ai-langchain row of the wire benchmark, run inside bench/.venv-auth0ai.

Reads a JSON job on stdin: {"domain", "client_id", "client_secret", "count", "repeats"}; wraps a trivial
tool with `Auth0AI(...).with_token_vault(connection="github", scopes=["repo"])` and invokes it `count`
times concurrently per repeat, each call a different thread and refresh token (so each needs a fresh
provider token). One warm-up round first. Prints {"seconds": [...], "cpu": [...], "ok": calls that got a
token, "errors": [...]}: wall time and this process's CPU seconds per repeat.
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

    def whoami(name: str) -> str:  # noqa: ARG001 - the tool schema the peer reads
        token = get_access_token_from_token_vault()
        return "ok" if token else "missing"

    tool = with_github(StructuredTool.from_function(func=whoami, name="whoami", description="Who am I"))

    async def one(r: int, i: int) -> str:
        config = {"configurable": {"thread_id": f"bench-{r}-{i}",
                                   "_credentials": {"refresh_token": f"refresh-{r}-{i:06d}"}}}
        call = {"type": "tool_call", "name": "whoami", "args": {"name": "x"}, "id": f"call-{r}-{i}"}
        result = await tool.ainvoke(call, config)
        return getattr(result, "content", result)

    out = {"seconds": [], "cpu": [], "ok": 0, "errors": set()}
    for r in range(job["repeats"] + 1):
        cpu, started = time.process_time(), time.perf_counter()
        results = await asyncio.gather(*(one(r, i) for i in range(job["count"])), return_exceptions=True)
        if r:  # round 0 warms up
            out["seconds"].append(time.perf_counter() - started)
            out["cpu"].append(time.process_time() - cpu)
            out["ok"] += sum(1 for x in results if x == "ok")
        out["errors"] |= {type(x).__name__ for x in results if isinstance(x, BaseException)}
    out["errors"] = sorted(out["errors"])
    print(json.dumps(out))


asyncio.run(main())
