"""The protected wrapper's added cost per MCP tool call, beside a bare tool on the same server.

`python -m bench.mcp_call [CALLS] [REPEATS]` starts the sandbox (its own process) and `vault-agent mcp`'s
server (`VaultMCP`, in a thread of this process with its own event loop), then times CALLS sequential
`tools/call`s of the official `mcp` client per row, REPEATS times, the rows interleaved repeat by repeat:

- *bare*: a tool added to the same server for this benchmark that makes the same GitHub call
  (`GET /user/repos`, same HTTP client, same formatting) with a provider token obtained once before timing;
- *protected*: `list_github_repositories`, the product's tool: the wrapper (arguments, Token Vault token
  from the cache, the one-node LangGraph run that gives the tool its context, error mapping), then the same
  GitHub call.

Both go through the same transport, bearer-token check (JWT signature against the tenant's JWKS) and
dispatch, on protocol 2026-07-28 (one stateless POST per call) and 2025-11-25 (a session). Reported: wall ms
per call (min / median / max of the repeats' medians) and the process's CPU ms per call, and the ratio
protected / bare of the medians.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import sys
import threading
import time
from typing import Any

import httpx
import httpx2
import uvicorn
from langgraph.store.memory import InMemoryStore
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent, Tool

from agent.mcp_server.app import VaultMCP
from auth.credentials import UserCredentials
from auth.settings import Settings
from sandbox.runner import SandboxProcess
from tools.providers import GITHUB
from tools.services import Services

BARE = "bare_list_github_repositories"
VERSIONS = ("2026-07-28", "2025-11-25")


class BenchMCP(VaultMCP):
    """The product's server plus one bare tool (benchmark only)."""

    provider_token: str = ""

    async def list_tools(self) -> list[Tool]:
        return [*await super().list_tools(), Tool(name=BARE, description="bare", input_schema={"type": "object"})]

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:  # type: ignore[override]
        if name != BARE:
            return await super().call_tool(name, arguments, context)
        url = self.services.settings.github_api_url.rstrip("/") + "/user/repos"
        response = await self.services.http.get(url, params={"per_page": 30, "sort": "full_name"}, headers={
            "Authorization": f"Bearer {self.provider_token}", "Accept": "application/vnd.github+json",
            "User-Agent": "vault-agent", "X-GitHub-Api-Version": "2022-11-28"})
        repos = response.json()
        text = "Repositories:\n" + "\n".join(
            f"- {r['full_name']} ({'private' if r.get('private') else 'public'}, "
            f"{r.get('open_issues_count', 0)} open issues)" for r in repos)
        return CallToolResult(content=[TextContent(type="text", text=text)])


def _serve(settings: Settings, url: str, sock: socket.socket, ready: threading.Event, holder: dict) -> None:
    async def main() -> None:
        services = Services.create(settings, InMemoryStore())
        server = BenchMCP(settings, url, services=services, state_key=b"k" * 32)
        holder["mcp"] = server
        holder["uvicorn"] = web = uvicorn.Server(uvicorn.Config(server.app(), log_level="warning", access_log=False))
        ready.set()
        try:
            await web.serve(sockets=[sock])
        finally:
            await services.aclose()

    asyncio.run(main())


async def _time_calls(url: str, token: str, version: str, tool: str, calls: int) -> tuple[float, float]:
    """Median wall ms per call and CPU ms per call (this process: client and server) over `calls` calls."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http), cache=None,
                          mode="legacy" if version == "2025-11-25" else version) as client:
            for _ in range(5):  # warm: connection, token cache, first graph run
                assert not (await client.call_tool(tool, {})).is_error
            walls = []
            cpu0 = time.process_time()
            for _ in range(calls):
                t0 = time.perf_counter()
                result = await client.call_tool(tool, {})
                walls.append((time.perf_counter() - t0) * 1000)
                assert not result.is_error and "vault-agent-demo" in result.content[0].text
            cpu = (time.process_time() - cpu0) * 1000 / calls
    return statistics.median(walls), cpu


async def run(calls: int, repeats: int) -> dict[str, Any]:
    with SandboxProcess() as sandbox:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        sandbox.control.create_api(base + "/mcp")
        settings = Settings(_env_file=None, **{k.lower(): v for k, v in sandbox.env.items()})
        user = sandbox.control.create_user()
        sandbox.control.seed_tokenset(user["user_id"], "github", ["repo"])
        token = sandbox.control.session(user["user_id"], audience=base + "/mcp")["access_token"]
        async with Services.create(settings, InMemoryStore()) as services:
            provider = await services.vault.get_token(UserCredentials(user["user_id"], access_token=token),
                                                      GITHUB.name, ["repo"])
        ready, holder = threading.Event(), {}
        thread = threading.Thread(target=_serve, args=(settings, base, sock, ready, holder), daemon=True)
        thread.start()
        ready.wait(30)
        holder["mcp"].provider_token = provider.access_token
        for _ in range(100):
            try:
                httpx.get(base + "/.well-known/oauth-protected-resource/mcp", timeout=1)
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
        samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
        try:
            for _ in range(repeats):
                for version in VERSIONS:
                    for tool in (BARE, "list_github_repositories"):
                        samples.setdefault((version, tool), []).append(
                            await _time_calls(base + "/mcp", token, version, tool, calls))
        finally:
            holder["uvicorn"].should_exit = True
            thread.join(10)
    return {f"{v} {t}": s for (v, t), s in samples.items()}


def report(samples: dict[str, list[tuple[float, float]]]) -> str:
    lines = ["| protocol | tool | wall ms per call (min / med / max) | CPU ms per call (med) | × bare (wall, med) |",
             "| --- | --- | --- | --- | --- |"]
    for version in VERSIONS:
        bare = statistics.median(w for w, _ in samples[f"{version} {BARE}"])
        for tool, label in ((BARE, "bare"), ("list_github_repositories", "**protected**")):
            walls = sorted(w for w, _ in samples[f"{version} {tool}"])
            cpu = statistics.median(c for _, c in samples[f"{version} {tool}"])
            lines.append(f"| {version} | {label} | {walls[0]:.2f} / {statistics.median(walls):.2f} / {walls[-1]:.2f} "
                         f"| {cpu:.2f} | {statistics.median(walls) / bare:.2f}× |")
    return "\n".join(lines)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    calls, repeats = (args + [200, 5][len(args):])[:2]
    print(report(asyncio.run(run(calls, repeats))))
