"""The protected wrapper's added cost per MCP tool call, beside a bare tool on the same server.

`python -m bench.mcp_call [CALLS] [REPEATS]` starts the sandbox and `vault-agent mcp`'s server (`VaultMCP`),
each in its own process (so the client here shares no interpreter lock with the server), then times CALLS
sequential `tools/call`s of the official `mcp` client per row, REPEATS times, the rows interleaved repeat by
repeat:

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
import os
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx
import httpx2
import psutil
import uvicorn
from langgraph.store.memory import InMemoryStore
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent, Tool

from agent.mcp_server.app import VaultMCP, freeze_startup_heap
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


async def _serve(base: str, port: int, provider_token: str) -> None:
    """The server process: `BenchMCP` on `port`, settings from the environment (the sandbox's lines)."""
    settings = Settings()
    async with Services.create(settings, InMemoryStore()) as services:
        server = BenchMCP(settings, base, services=services, state_key=b"k" * 32)
        server.provider_token = provider_token
        config = uvicorn.Config(server.app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)
        freeze_startup_heap()  # as `serve()` does
        await uvicorn.Server(config).serve()


async def _time_calls(url: str, token: str, version: str, tool: str, calls: int,
                      server: psutil.Process) -> tuple[float, float]:
    """Median wall ms per call and the server's CPU ms per call over `calls` calls."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http), cache=None,
                          mode="legacy" if version == "2025-11-25" else version) as client:
            for _ in range(5):  # warm: connection, token cache, first graph run
                assert not (await client.call_tool(tool, {})).is_error
            walls = []
            cpu0 = sum(server.cpu_times()[:2])
            for _ in range(calls):
                t0 = time.perf_counter()
                result = await client.call_tool(tool, {})
                walls.append((time.perf_counter() - t0) * 1000)
                assert not result.is_error and "vault-agent-demo" in result.content[0].text
            cpu = (sum(server.cpu_times()[:2]) - cpu0) * 1000 / calls
    return statistics.median(walls), cpu


async def run(calls: int, repeats: int) -> dict[str, Any]:
    with SandboxProcess() as sandbox:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        sandbox.control.create_api(base + "/mcp")
        settings = Settings(_env_file=None, **{k.lower(): v for k, v in sandbox.env.items()})
        user = sandbox.control.create_user()
        sandbox.control.seed_tokenset(user["user_id"], "github", ["repo"])
        token = sandbox.control.session(user["user_id"], audience=base + "/mcp")["access_token"]
        async with Services.create(settings, InMemoryStore()) as services:
            provider = await services.vault.get_token(UserCredentials(user["user_id"], access_token=token),
                                                      GITHUB.name, ["repo"])
        env = {**os.environ, **sandbox.env}
        proc = subprocess.Popen([sys.executable, "-m", "bench.mcp_call", "--serve", base, str(port)], env=env,
                                stdin=subprocess.PIPE, text=True)
        proc.stdin.write(provider.access_token + "\n")
        proc.stdin.close()
        try:
            for _ in range(300):
                try:
                    httpx.get(base + "/.well-known/oauth-protected-resource/mcp", timeout=1)
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            server = psutil.Process(proc.pid)
            samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
            for _ in range(repeats):
                for version in VERSIONS:
                    for tool in (BARE, "list_github_repositories"):
                        samples.setdefault((version, tool), []).append(
                            await _time_calls(base + "/mcp", token, version, tool, calls, server))
        finally:
            proc.terminate()
            proc.wait(15)
    return {f"{v} {t}": s for (v, t), s in samples.items()}


def _ratio(value: float, floor: float) -> str:
    """`value / floor` as "1.23×"; "—" when the floor is zero (CPU is counted in clock ticks: few calls)."""
    return f"{value / floor:.2f}×" if floor > 0 else "—"


def report(samples: dict[str, list[tuple[float, float]]]) -> str:
    lines = ["| protocol | tool | wall ms per call (min / med / max) | server CPU ms per call (min / med / max) "
             "| × bare (wall, med) | × bare (server CPU, med) |", "| --- | --- | --- | --- | --- | --- |"]
    for version in VERSIONS:
        bare_wall = statistics.median(w for w, _ in samples[f"{version} {BARE}"])
        bare_cpu = statistics.median(c for _, c in samples[f"{version} {BARE}"])
        for tool, label in ((BARE, "bare"), ("list_github_repositories", "**protected**")):
            walls = sorted(w for w, _ in samples[f"{version} {tool}"])
            cpus = sorted(c for _, c in samples[f"{version} {tool}"])
            lines.append(f"| {version} | {label} | {walls[0]:.2f} / {statistics.median(walls):.2f} / {walls[-1]:.2f} "
                         f"| {cpus[0]:.2f} / {statistics.median(cpus):.2f} / {cpus[-1]:.2f} "
                         f"| {_ratio(statistics.median(walls), bare_wall)} | {_ratio(statistics.median(cpus), bare_cpu)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        asyncio.run(_serve(sys.argv[2], int(sys.argv[3]), sys.stdin.readline().strip()))
        sys.exit(0)
    args = [int(a) for a in sys.argv[1:3]]
    calls, repeats = (args + [200, 5][len(args):])[:2]
    print(report(asyncio.run(run(calls, repeats))))
