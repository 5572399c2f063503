"""Side-by-side benchmarks, all in one run. Each figure is min/median/max over repeats and is read next to
its baseline measured in the same run (a ratio), so the shared machine's speed largely cancels out.
Benchmarks report; they never fail a build on timing (the quick mode checks only counts and that each
side runs).

Two servers, each in its own process: `bench/stub.py` (a token endpoint that costs almost nothing: the
wire table, where what is measured is the client) and the sandbox (the agent's real flows: cache hits,
single flight, full runs, pauses, callbacks)."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command
from typing_extensions import TypedDict

from auth.credentials import UserCredentials
from auth.settings import Settings
from sandbox.runner import SandboxProcess as SandboxServer
from tools.context import Context
from tools.providers import GITHUB
from tools.services import Services
from tools.vault import call_with_token

from .wire import format_wire, run_wire, spread

BENCH_DIR = Path(__file__).resolve().parent
AUTH0AI_VENV = BENCH_DIR / ".venv-auth0ai"
LATENCY_MS = 100
REPEATS = 5


def mmm(values: list[float], unit: str = "ms", scale: float = 1000.0, digits: int = 1) -> str:
    """min / median / max of `values` (seconds unless scale says otherwise) as text."""
    v = [x * scale for x in values]
    return f"{min(v):.{digits}f} / {statistics.median(v):.{digits}f} / {max(v):.{digits}f} {unit}"


@dataclass
class Report:
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)  # name, value, target, verdict
    data: dict[str, Any] = field(default_factory=dict)
    wire_text: str = ""

    def add(self, name: str, value: str, target: str, ok: bool | None) -> None:
        verdict = "—" if ok is None else ("meets" if ok else "MISSES")
        self.rows.append((name, value, target, verdict))

    def table(self) -> str:
        widths = [max(len(r[i]) for r in [("benchmark", "result", "target", "verdict"), *self.rows]) for i in range(4)]
        lines = [" | ".join(h.ljust(w) for h, w in zip(("benchmark", "result", "target", "verdict"), widths))]
        lines.append("-+-".join("-" * w for w in widths))
        lines += [" | ".join(c.ljust(w) for c, w in zip(row, widths)) for row in self.rows]
        return "\n".join(lines)


class _S(TypedDict):
    n: int


def _users(sandbox: SandboxServer, count: int, linked: bool = True) -> list[UserCredentials]:
    users = []
    for _ in range(count):
        user = sandbox.control.create_user()
        if linked:
            sandbox.control.seed_tokenset(user["user_id"], "github", ["repo"])
        s = sandbox.control.session(user["user_id"])
        users.append(UserCredentials(user["user_id"], s["id_token"], refresh_token=s["refresh_token"]))
    return users


def _one_node_graph(body):
    """A graph whose single node runs `body()`: the real LangGraph runtime around our wrapper."""
    builder = StateGraph(_S, context_schema=Context)

    async def node(state: _S) -> dict:
        await body()
        return {"n": state["n"] + 1}

    builder.add_node("node", node)
    builder.add_edge(START, "node")
    return builder.compile()


async def bench_cache_hit_overhead(services: Services, user: UserCredentials, calls: int, report: Report) -> None:
    """(a) per-call cost of the vault wrapper on a cache hit, over the bare tool body."""
    async def bare_call(_token=None) -> str:
        return "ok"

    async def wrapped_loop() -> None:
        for i in range(calls):
            await call_with_token("bench", f"c{i}", GITHUB, ["repo"], bare_call)

    async def bare_loop() -> None:
        for _ in range(calls):
            await bare_call()

    context = Context(user=user, services=services)
    await _one_node_graph(wrapped_loop).ainvoke({"n": 0}, context=context)  # warm the cache
    graphs = {"bare": _one_node_graph(bare_loop), "wrapped": _one_node_graph(wrapped_loop)}
    per_call = []
    for _ in range(REPEATS):
        timings = {}
        for name, graph in graphs.items():
            started = time.perf_counter()
            await graph.ainvoke({"n": 0}, context=context)
            timings[name] = time.perf_counter() - started
        per_call.append((timings["wrapped"] - timings["bare"]) / calls)
    report.data["a_cache_hit_overhead_ms"] = spread([x * 1000 for x in per_call])
    report.add("(a) cache-hit overhead per tool call (min/med/max)", mmm(per_call, digits=3), "≤ 1 ms",
               statistics.median(per_call) <= 0.001)


async def bench_graph_concurrent(sandbox: SandboxServer, settings: Settings, runs: int, report: Report) -> None:
    """Context for the wire table: `runs` concurrent one-node LangGraph runs on the sandbox, each needing a
    fresh token, 100 ms at the sandbox's token endpoint. The sandbox does real work per exchange (form,
    refresh-token lookup, JSON), so this is slower than the wire table and the difference is the server's."""
    sandbox.control.add_fault("auth0", "^/oauth/token$", "latency", delay_ms=LATENCY_MS)
    try:
        services = Services.create(settings, InMemoryStore())

        async def body() -> None:
            await call_with_token("bench", "c", GITHUB, ["repo"], _noop)

        graph = _one_node_graph(body)  # compiled once, like a deployed agent

        async def one(user: UserCredentials) -> None:
            await graph.ainvoke({"n": 0}, context=Context(user=user, services=services))

        singles = []
        for user in _users(sandbox, REPEATS + 2):
            started = time.perf_counter()
            await one(user)
            singles.append(time.perf_counter() - started)
        round_trip = statistics.median(singles[1:])  # warm: the first one opened the connection
        await asyncio.gather(*(one(u) for u in _users(sandbox, runs)))  # warm pool, like a running agent
        walls, cpus = [], []
        for _ in range(REPEATS):
            users = _users(sandbox, runs)
            cpu, started = time.process_time(), time.perf_counter()
            await asyncio.gather(*(one(u) for u in users))
            walls.append(time.perf_counter() - started)
            cpus.append((time.process_time() - cpu) / runs)
        await services.aclose()
        report.data["b_graph"] = {"round_trip_s": spread(singles[1:]), "wall_s": spread(walls),
                                  "client_cpu_ms": spread([c * 1000 for c in cpus])}
        report.add(f"(b) {runs} concurrent one-node LangGraph runs on the sandbox, fresh tokens, 100 ms",
                   f"{mmm([w / round_trip for w in walls], 'round trips', 1, 2)}; client CPU/run {mmm(cpus, digits=2)}",
                   "(context)", None)
    finally:
        sandbox.control.clear_faults()


async def _noop(_token) -> str:
    return "ok"


def auth0ai_side(base_url: str, count: int, repeats: int) -> dict[str, Any]:
    """The auth0-ai-langchain row: `bench/auth0ai_side.py` in bench/.venv-auth0ai (built on first use)."""
    python = AUTH0AI_VENV / "bin" / "python"
    if not python.exists():
        uv = Path(sys.executable).parent / "uv"
        made = subprocess.run([str(uv), "venv", "-q", "--python", sys.executable, str(AUTH0AI_VENV)],
                              capture_output=True, text=True)
        installed = made.returncode == 0 and subprocess.run(
            [str(uv), "pip", "install", "-q", "--python", str(python), "-r", str(BENCH_DIR / "requirements-auth0ai.txt")],
            capture_output=True, text=True, timeout=600).returncode == 0
        if not installed:
            return {"error": "could not build bench/.venv-auth0ai (no registry access?)"}
    job = {"domain": base_url.removeprefix("http://"), "client_id": "bench-client", "client_secret": "bench-secret",
           "count": count, "repeats": repeats}
    out = subprocess.run([str(python), str(BENCH_DIR / "auth0ai_side.py")], input=json.dumps(job),
                         capture_output=True, text=True, timeout=1200)
    if out.returncode != 0:
        return {"error": "auth0-ai side failed: " + (out.stderr.strip().splitlines() or ["?"])[-1][:200]}
    return json.loads(out.stdout.strip().splitlines()[-1])


async def bench_single_flight(sandbox: SandboxServer, settings: Settings, report: Report) -> None:
    """(c) exchange requests the tenant sees for 50 concurrent calls of one (user, connection)."""
    [user] = _users(sandbox, 1)
    services = Services.create(settings, InMemoryStore())
    sandbox.control.add_fault("auth0", "^/oauth/token$", "latency", delay_ms=LATENCY_MS, times=1)
    sandbox.control.clear_requests()

    async def body() -> None:
        await asyncio.gather(*(call_with_token("bench", f"c{i}", GITHUB, ["repo"], _noop) for i in range(50)))

    await _one_node_graph(body).ainvoke({"n": 0}, context=Context(user=user, services=services))
    count = len([r for r in sandbox.control.requests("auth0", "^/oauth/token$")
                 if r["form"].get("connection") == "github"])
    await services.aclose()
    sandbox.control.clear_faults()
    report.data["c_exchanges"] = count
    report.add("(c) exchanges for 50 concurrent calls, one key", str(count), "exactly 1", count == 1)


async def bench_callback_to_result(sandbox: SandboxServer, settings: Settings, report: Report) -> None:
    """(d) from the callback URL to the resumed tool's result, model excluded; one pause per repeat."""
    from agent.persistence import Persistence
    from agent.session_runner import AgentSession, AuthorizationNeeded

    persistence = Persistence(InMemorySaver(), InMemoryStore(), "memory://")
    services = Services.create(settings, persistence.store)
    samples = []
    for _ in range(REPEATS + 1):
        [user] = _users(sandbox, 1, linked=False)
        session = AgentSession(services, persistence, user)
        thread = str(uuid.uuid4())
        pauses = [e async for e in session.stream(thread, "List my GitHub repositories")
                  if isinstance(e, AuthorizationNeeded)]
        callback = sandbox.control.authorize(pauses[0].payload["authorize_url"], user.sub)
        started = time.perf_counter()
        result, values = await session.complete(callback)
        elapsed = None
        async for mode, chunk in session.graph.astream(Command(resume=values), session.config(thread),
                                                       context=session.context, stream_mode=["updates"]):
            if "tools" in chunk:
                elapsed = time.perf_counter() - started
                break
        samples.append(elapsed if elapsed is not None else float("inf"))
    await services.aclose()
    samples = samples[1:]  # the first one warms the linker's discovery/JWKS cache
    report.data["d_callback_to_tool_ms"] = spread([x * 1000 for x in samples])
    report.add("(d) callback → resumed tool result (model excluded)", mmm(samples), "≤ 50 ms",
               statistics.median(samples) <= 0.05)


REPOS_PROMPT = "List my GitHub repositories"


def _bare_react_graph(settings: Settings, http: httpx.AsyncClient, access_token: str):
    """The baseline of (f): a plain LangGraph ReAct loop (model node, ToolNode, tools_condition) calling
    the same GitHub endpoint with a token it already holds — no vault wrapper, no runtime context."""
    from langchain_core.messages import SystemMessage
    from langchain_core.tools import tool
    from langgraph.graph import END, MessagesState
    from langgraph.prebuilt import ToolNode, tools_condition

    from agent.model import make_model
    from agent.prompts import system_prompt

    @tool
    async def list_github_repositories() -> str:
        """List the user's GitHub repositories (name, visibility, open issues)."""
        response = await http.get(settings.github_api_url.rstrip("/") + "/user/repos",
                                  params={"per_page": 30, "sort": "full_name"},
                                  headers={"Authorization": f"Bearer {access_token}",
                                           "Accept": "application/vnd.github+json"})
        # the same text as tools/github.py, so the model's answer (and its streamed chunks) is the same
        lines = [f"- {r['full_name']} ({'private' if r.get('private') else 'public'}, "
                 f"{r.get('open_issues_count', 0)} open issues){': ' + r['description'] if r.get('description') else ''}"
                 for r in response.json()]
        return "Repositories:\n" + "\n".join(lines)

    from agent.graph import TOOLS

    # The model sees the same six tool definitions as ours (the same request); only the GitHub one runs.
    model = make_model(settings).bind_tools(TOOLS)

    async def call_model(state: MessagesState) -> dict:
        return {"messages": [await model.ainvoke([SystemMessage(system_prompt("UTC")), *state["messages"]])]}

    builder = StateGraph(MessagesState)
    builder.add_node("call_model", call_model)
    builder.add_node("tools", ToolNode([list_github_repositories]))
    builder.add_edge(START, "call_model")
    builder.add_conditional_edges("call_model", tools_condition, ["tools", END])
    builder.add_edge("tools", "call_model")
    return builder.compile(checkpointer=InMemorySaver())


async def bench_full_run(sandbox: SandboxServer, settings: Settings, report: Report, runs: int) -> None:
    """(f) a full warm run (model → one GitHub tool call → model), ours against the bare ReAct loop,
    interleaved repeat by repeat; wall time and this process's CPU per run."""
    from agent.graph import build_graph

    [user] = _users(sandbox, 1)
    services = Services.create(settings, InMemoryStore())
    token = await services.vault.get_token(user, "github", ["repo"])  # the bare loop's fixed token
    ours = build_graph(checkpointer=InMemorySaver(), store=services.store)
    bare = _bare_react_graph(settings, services.http, token.access_token)
    context = Context(user=user, timezone="UTC", services=services)

    async def ours_run() -> str:
        out = await ours.ainvoke({"messages": [("user", REPOS_PROMPT)]}, {"configurable": {"thread_id": str(uuid.uuid4())}},
                                 context=context)
        return out["messages"][-1].content

    async def bare_run() -> str:
        out = await bare.ainvoke({"messages": [("user", REPOS_PROMPT)]}, {"configurable": {"thread_id": str(uuid.uuid4())}})
        return out["messages"][-1].content

    sides = {"ours": ours_run, "bare": bare_run}
    for side in sides.values():  # warm: connections, the model's client, the token cache
        for _ in range(3):
            await side()
    answers = {name: await side() for name, side in sides.items()}
    assert answers["ours"] == answers["bare"] and "Repositories" in answers["ours"], answers
    wall = {k: [] for k in sides}
    cpu = {k: [] for k in sides}
    for _ in range(REPEATS):
        for name, side in sides.items():
            c, started = time.process_time(), time.perf_counter()
            for _ in range(runs):
                await side()
            wall[name].append((time.perf_counter() - started) / runs)
            cpu[name].append((time.process_time() - c) / runs)
    await services.aclose()
    ratio = [o / b for o, b in zip(wall["ours"], wall["bare"])]
    cpu_ratio = [o / b for o, b in zip(cpu["ours"], cpu["bare"])]
    report.data["f_full_run"] = {k: {"wall_ms": spread([x * 1000 for x in wall[k]]),
                                     "client_cpu_ms": spread([x * 1000 for x in cpu[k]])} for k in sides}
    report.data["f_full_run"]["ratio_wall"] = spread(ratio)
    report.data["f_full_run"]["ratio_cpu"] = spread(cpu_ratio)
    report.add("(f) full warm run, bare LangGraph ReAct loop: wall / client CPU per run",
               f"{mmm(wall['bare'])} / {mmm(cpu['bare'])}", "(baseline)", None)
    report.add("(f) full warm run, ours: wall / client CPU per run", f"{mmm(wall['ours'])} / {mmm(cpu['ours'])}",
               "(context)", None)
    report.add("(f) ours ÷ bare, per repeat: wall; client CPU",
               f"{mmm(ratio, '×', 1, 2)}; {mmm(cpu_ratio, '×', 1, 2)}", "≤ 1.1× (wall)",
               statistics.median(ratio) <= 1.1)


async def bench_pause(sandbox: SandboxServer, settings: Settings, report: Report, pauses: int) -> None:
    """(g) client CPU to create one paused thread: model call, exchange (`tokenset_not_found`), linking
    request (PKCE, state, stored request), checkpoint, interrupt — the CLI's path with in-memory
    persistence."""
    from agent.persistence import Persistence
    from agent.session_runner import AgentSession, AuthorizationNeeded

    persistence = Persistence(InMemorySaver(), InMemoryStore(), "memory://")
    services = Services.create(settings, persistence.store)
    [user] = _users(sandbox, 1, linked=False)
    session = AgentSession(services, persistence, user)

    async def pause_one() -> None:
        events = [e async for e in session.stream(str(uuid.uuid4()), REPOS_PROMPT)]
        assert any(isinstance(e, AuthorizationNeeded) for e in events), events

    for _ in range(3):
        await pause_one()  # warm: discovery, connections, the model client
    cpu, wall = [], []
    for _ in range(REPEATS):
        c, started = time.process_time(), time.perf_counter()
        for _ in range(pauses):
            await pause_one()
        cpu.append((time.process_time() - c) / pauses)
        wall.append((time.perf_counter() - started) / pauses)
    await services.aclose()
    report.data["g_pause"] = {"client_cpu_ms": spread([x * 1000 for x in cpu]), "wall_ms": spread([x * 1000 for x in wall])}
    report.add("(g) create a paused thread: client CPU (wall)", f"{mmm(cpu)} ({mmm(wall)})", "≤ 15 ms CPU",
               statistics.median(cpu) <= 0.015)


def bench_startup(report: Report) -> None:
    """(e) `vault-agent --help`, and chat start-up to its first prompt (sandbox mode)."""
    import pexpect

    exe = str(Path(sys.executable).parent / "vault-agent")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH0_", "OPENAI_", "SANDBOX_"))}
    samples = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([exe, "--help"], env=env, capture_output=True, check=True)
        samples.append(time.perf_counter() - started)
    help_s = min(samples)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        env.update(VAULT_AGENT_STATE_DIR=tmp, VAULT_AGENT_CONFIG_DIR=tmp, PROMPT_TOOLKIT_NO_CPR="1",
                   PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
                   AUTH0_CALLBACK_URL=f"http://127.0.0.1:{_free_port()}/callback")
        started = time.perf_counter()
        child = pexpect.spawn(exe, ["chat", "--no-browser"], env=env, encoding="utf-8", timeout=30)
        child.expect("you ›")
        chat_s = time.perf_counter() - started
        child.sendline("/quit")
        child.expect(pexpect.EOF)
    report.data.update(e_help_s=help_s, e_chat_s=chat_s)
    report.add("(e) vault-agent --help", f"{help_s * 1000:.0f} ms", "≤ 0.5 s", help_s <= 0.5)
    report.add("(e) chat start-up to first prompt", f"{chat_s * 1000:.0f} ms", "≤ 2 s", chat_s <= 2)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run(quick: bool = False) -> Report:
    report = Report()
    wire = await run_wire(sizes=(10,) if quick else (10, 100, 1000), latencies_ms=(100,) if quick else (20, 100),
                          repeats=2 if quick else REPEATS, auth0ai=auth0ai_side)
    report.data["wire"] = wire
    report.wire_text = format_wire(wire)
    with SandboxServer() as sandbox:
        saved = dict(os.environ)
        os.environ.update(sandbox.env)
        os.environ["AUTH0_CALLBACK_URL"] = "http://127.0.0.1:8765/callback"
        try:
            settings = Settings(_env_file=None)
            services = Services.create(settings, InMemoryStore())
            [user] = _users(sandbox, 1)
            await bench_cache_hit_overhead(services, user, 200 if quick else 2000, report)
            await services.aclose()
            await bench_single_flight(sandbox, settings, report)
            await bench_callback_to_result(sandbox, settings, report)
            await bench_full_run(sandbox, settings, report, runs=2 if quick else 20)
            await bench_pause(sandbox, settings, report, pauses=2 if quick else 10)
            if not quick:
                await bench_graph_concurrent(sandbox, settings, 100, report)
                bench_startup(report)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    return report
