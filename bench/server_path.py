"""The server path under load, on both engines: `users` users at once, each pause → authorize → callback →
resumed run, on a fresh server and on one holding 1,000 and 5,000 threads — beside the engine's own floor.

`python -m bench.server_path [--users 50] [--repeats 5] [--held 0,1000,5000] [--engines langgraph-dev,aegra-1,aegra-2]
[--variants ours,floor] [--baseline DIR] [--profile DIR] [--logs DIR]`
starts a sandbox (its own process), then for each engine a fresh server per variant: `langgraph dev` (one
process, in memory), Aegra with one process, Aegra with two processes (PostgreSQL + Redis, a fresh database
each; clients alternate between the two processes as behind a load balancer, the callback lands on the
second). Variants: *ours* is this tree's agent with its auth and callback; *floor* is the same engine serving
`bench/floor_graph.py` (one node that pauses with `interrupt()`, no model, no custom auth) driven with the
SDK calls a flow needs (create thread, create run, join, read state, resume run — on the second process,
where our callback lands — join, read state): the engine's own minimum for the same request pattern;
*base* (with `--baseline DIR`, a checkout of another commit, e.g. `git worktree add /tmp/base main`) is
the agent of that checkout, for a before/after in one run.

For each number of threads held it fills every variant's server up to that many (threads with a short
conversation, created with their state in one request each), then repeats the flow phase, the variants
one after the other within each repeat (so a repeat's phases share the machine's load of that moment).
Ours: every user asks for their GitHub repositories at once (not linked, so the run pauses), waits with
`runs.join`, authorizes at the sandbox tenant, lands on the server's `/auth/callback` (which resumes the
thread), joins the resumed run; the answer must list repos. Figures: flows/s (users / wall time of the
phase), server CPU per flow (the server processes' user+system time across the phase, psutil, / users;
PostgreSQL's and Redis's own CPU are not included), and per repeat the ratio of a variant's CPU per flow
to the floor's. Each phase's flows add `users` threads to what the server holds. `--profile DIR`: after
the measured repeats, one more phase per variant with py-spy recording every server process (raw
collapsed stacks in DIR, and a breakdown by package printed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from langgraph_sdk import get_client

from sandbox.aegra import Aegra, fresh_database
from sandbox.langgraph_dev import LangGraphDev
from sandbox.runner import SandboxProcess

AUDIENCE = "https://vault-agent.sandbox/api"
ENGINES = ("langgraph-dev", "aegra-1", "aegra-2")
ROOT = Path(__file__).resolve().parents[1]
FLOOR_GRAPH = ROOT / "bench" / "floor_graph.py"


@dataclass
class Server:
    variant: str
    urls: list[str]
    pids: list[int]
    graph: str = "agent"
    as_node: str = "call_model"
    extra: dict[str, Any] = field(default_factory=dict)


def _tree_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in procs:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
    return total


def _client(url: str, session: dict[str, Any] | None):
    return get_client(url=url, headers={"Authorization": f"Bearer {session['access_token']}"} if session else {})


async def _flow(urls: list[str], i: int, control, user: dict[str, Any], session: dict[str, Any]) -> bool:
    client = _client(urls[i % len(urls)], session)
    thread = await client.threads.create()
    tid = thread["thread_id"]
    run = await client.runs.create(tid, "agent", input={"messages": [
        {"role": "user", "content": "List my GitHub repositories"}]})
    await client.runs.join(tid, run["run_id"])
    state = await client.threads.get_state(tid)
    [interrupt] = state["interrupts"]
    redirect = await asyncio.to_thread(control.authorize, interrupt["value"]["authorize_url"], user["user_id"])
    async with httpx.AsyncClient(timeout=300) as http:
        page = await http.get(redirect)
    if page.status_code != 200:
        return False
    runs = await client.runs.list(tid, limit=1)  # the run the callback started (created before it answered)
    await client.runs.join(tid, runs[0]["run_id"])
    final = await client.threads.get_state(tid)
    return "Repositories" in str(final["values"]["messages"][-1]["content"])


async def _floor_flow(urls: list[str], i: int) -> bool:
    """The engine's minimum for the same pattern: the resume goes to the last process, as our callback does."""
    client, resumer = _client(urls[i % len(urls)], None), _client(urls[-1], None)
    thread = await client.threads.create()
    tid = thread["thread_id"]
    run = await client.runs.create(tid, "floor", input={"messages": [
        {"role": "user", "content": "List my GitHub repositories"}]})
    await client.runs.join(tid, run["run_id"])
    state = await client.threads.get_state(tid)
    [interrupt] = state["interrupts"]
    resumed = await resumer.runs.create(tid, "floor", command={"resume": {"repos": "octo/hello"}})
    await client.runs.join(tid, resumed["run_id"])
    final = await client.threads.get_state(tid)
    return bool(interrupt["value"]["authorize_url"]) and "Repositories" in str(
        final["values"]["messages"][-1]["content"])


async def _fill(server: Server, sessions: list[dict[str, Any]], count: int, concurrency: int = 16) -> None:
    """`count` threads, each with a short conversation, created with their state in one request."""
    gate = asyncio.Semaphore(concurrency)
    floor = server.variant == "floor"
    clients = [_client(server.urls[i % len(server.urls)], None if floor else s) for i, s in enumerate(sessions)]

    async def one(i: int) -> None:
        async with gate:
            await clients[i % len(clients)].threads.create(graph_id=server.graph, supersteps=[{"updates": [{
                "values": {"messages": [{"type": "human", "content": f"hello {i}"},
                                        {"type": "ai", "content": "Hello! How can I help?"}]},
                "as_node": server.as_node}]}])

    await asyncio.gather(*(one(i) for i in range(count)))


async def _phase(server: Server, control, users: int, profile: Path | None = None) -> dict[str, Any]:
    if server.variant == "floor":
        people: list[Any] = [None] * users
        sessions: list[Any] = [None] * users
    else:
        people = [control.create_user() for _ in range(users)]
        sessions = [control.session(p["user_id"], audience=AUDIENCE) for p in people]
    spies = _spy(server, profile) if profile else []
    before, started = _tree_cpu(server.pids), time.perf_counter()
    if server.variant == "floor":
        flows = await asyncio.gather(*(_floor_flow(server.urls, i) for i in range(users)), return_exceptions=True)
    else:
        flows = await asyncio.gather(*(_flow(server.urls, i, control, p, s)
                                       for i, (p, s) in enumerate(zip(people, sessions))), return_exceptions=True)
    wall, cpu = time.perf_counter() - started, _tree_cpu(server.pids) - before
    for spy in spies:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)
    errors = sorted({type(x).__name__ + ": " + str(x)[:120] for x in flows if isinstance(x, BaseException)})
    return {"ok": sum(1 for x in flows if x is True), "flows_per_s": users / wall,
            "cpu_ms_per_flow": cpu / users * 1000, "errors": errors}


def _spy(server: Server, folder: Path) -> list[subprocess.Popen]:
    """py-spy recording each server process (raw collapsed stacks), started before the phase's flows."""
    binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    folder.mkdir(parents=True, exist_ok=True)
    spies = [subprocess.Popen([binary, "record", "--format", "raw", "-r", "200", "--subprocesses", "--nonblocking", "--gil",
                               "-o", str(folder / f"{server.extra['engine']}-{server.variant}-{n}.txt"),
                               "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for n, pid in enumerate(server.pids)]
    time.sleep(1.5)
    return spies


OURS = "ours (agent/, auth/, tools/)"
PASS_THROUGH = ("RefuseInternalRoutes.__call__",)  # our middleware that every request passes (not its cost)
GROUPS = {  # py-spy names a frame's file from its import root: the first folder says whose code it is
    OURS: ("agent", "auth", "tools"),
    "JWT / JWE (joserfc, cryptography)": ("joserfc", "cryptography", "authlib"),
    "model client (openai, langchain_openai)": ("openai", "langchain_openai"),
    "Aegra": ("aegra_api",), "SQLAlchemy + asyncpg (Aegra's records)": ("sqlalchemy", "asyncpg"),
    "psycopg (checkpointer, store)": ("psycopg", "psycopg_pool", "postgres"),
    "Redis": ("redis",), "LangGraph": ("pregel", "graph", "channels", "langgraph", "base", "serde", "checkpoint"),
    "LangChain core": ("langchain_core",), "langgraph-api / runtime": ("langgraph_api", "langgraph_runtime_inmem"),
    "HTTP client (httpx, langgraph_sdk)": ("httpx", "httpcore", "langgraph_sdk", "h11"),
    "web stack (fastapi, starlette, uvicorn, middleware)": ("fastapi", "starlette", "uvicorn", "asgi_correlation_id",
                                                            "structlog", "httptools", "anyio"),
    "pydantic / orjson / json": ("pydantic", "pydantic_core", "orjson", "json"),
}
_GROUP_OF = {root: group for group, roots in GROUPS.items() for root in roots}


def breakdown(paths: list[Path]) -> tuple[int, list[tuple[str, float]], list[tuple[str, float]]]:
    """Busy samples in py-spy raw files; (samples, [(group, inclusive share)], [(import root, share of the
    samples whose innermost frame is there)]). Inclusive: the group's code is anywhere on the stack."""
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = [f for f in stack.split(";")[1:] if not any(m in f for m in PASS_THROUGH)]
            n, roots = int(count), [_root(frame) for frame in frames]
            total += n
            leaf[roots[-1] if roots else "?"] += n
            for group in {_GROUP_OF[r] for r in roots if r in _GROUP_OF}:
                inclusive[group] += n
            for name in {f.split(" (", 1)[0] for f, r in zip(frames, roots) if r in GROUPS[OURS]}:
                inclusive["  " + name] += n
    if not total:
        return 0, [], []
    return (total, [(g, c / total) for g, c in inclusive.most_common() if not g.startswith("  ")]
            + [(g.strip(), c / total) for g, c in inclusive.most_common(40) if g.startswith("  ")][:10],
            [(r, c / total) for r, c in leaf.most_common(12)])


def _root(frame: str) -> str:
    where = frame[frame.rfind("(") + 1:].rstrip(")") if "(" in frame else ""
    return where.split("/", 1)[0] if "/" in where else where.split(":", 1)[0]


def _config_langgraph(root: Path, workdir: Path, floor: bool) -> Path:
    if floor:
        config = {"dependencies": [str(ROOT)], "graphs": {"floor": f"{FLOOR_GRAPH}:graph"}}
    else:
        config = json.loads((root / "langgraph.json").read_text())
        config["dependencies"] = [str(root)]
        config["graphs"] = {k: str(root / v.removeprefix("./")) for k, v in config["graphs"].items()}
        config["auth"]["path"] = str(root / config["auth"]["path"].removeprefix("./"))
        config["http"]["app"] = str(root / config["http"]["app"].removeprefix("./"))
    path = workdir / "langgraph.json"
    path.write_text(json.dumps(config))
    return path


def _start(engine: str, variant: str, baseline: Path | None, sandbox_env: dict[str, str], stack: ExitStack,
           logs: Path | None = None) -> Server:
    root = baseline if variant == "base" and baseline else ROOT
    env = dict(sandbox_env, VAULT_AGENT_TIMEZONE="UTC", PYTHONPATH=str(root))
    if logs:  # kept: the servers' logs (and langgraph dev's state) stay for a look afterwards
        logs.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=f"{engine}-{variant}-", dir=logs))
    else:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"bench-{engine}-{variant}-")))
    floor = variant == "floor"
    graph = {"graph": "floor", "as_node": "ask"} if floor else {}
    if engine == "langgraph-dev":
        server = stack.enter_context(LangGraphDev(env, workdir=workdir, config=_config_langgraph(root, workdir, floor)))
        return Server(variant, [server.url], [server._proc.pid], **graph, extra={"engine": engine})  # type: ignore[union-attr]
    processes = int(engine.rsplit("-", 1)[1])
    config = None
    if floor:
        config = workdir / "aegra.json"
        config.write_text(json.dumps({"graphs": {"floor": f"{FLOOR_GRAPH}:graph"}}))
    elif root != ROOT:
        config = root / "aegra.json"
    database = stack.enter_context(fresh_database())
    aegra = Aegra(env, workdir, database, processes=processes, redis=True, short_lease=False, config=config)
    aegra.env["PYTHONPATH"] = str(root)  # the checkout of the variant (Aegra's default: the one it is in)
    stack.enter_context(aegra)
    return Server(variant, aegra.urls, [aegra.pid(i) for i in range(processes)], **graph, extra={"engine": engine})


def _summary(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


async def run_matrix(users: int = 50, repeats: int = 5, held: tuple[int, ...] = (0, 1000, 5000),
                     engines: tuple[str, ...] = ENGINES, variants: tuple[str, ...] = ("ours", "floor"),
                     baseline: Path | None = None, profile: Path | None = None,
                     logs: Path | None = None) -> list[dict[str, Any]]:
    rows = []
    with SandboxProcess() as sandbox:
        control = sandbox.control
        fillers = [control.session(control.create_user()["user_id"], audience=AUDIENCE) for _ in range(8)]
        for engine in engines:
            with ExitStack() as stack:
                servers = [_start(engine, v, baseline, sandbox.env, stack, logs) for v in variants]
                for server in servers:
                    await _phase(server, control, 2)  # warm: graph loaded, model client, JWKS
                filled = 0
                for target in held:
                    started = time.perf_counter()
                    for server in servers:
                        await _fill(server, fillers, target - filled)
                    fill_s, filled = time.perf_counter() - started, target
                    phases: dict[str, list[dict[str, Any]]] = {s.variant: [] for s in servers}
                    for _ in range(repeats):
                        for server in servers:
                            phases[server.variant].append(await _phase(server, control, users))
                    for server in servers:
                        got = phases[server.variant]
                        row = {"engine": engine, "held": target, "variant": server.variant, "users": users,
                               "repeats": repeats, "fill_s": round(fill_s, 1), "ok": [p["ok"] for p in got],
                               "flows_per_s": _summary([p["flows_per_s"] for p in got]),
                               "cpu_ms_per_flow": _summary([p["cpu_ms_per_flow"] for p in got]),
                               "errors": sorted({e for p in got for e in p["errors"]})}
                        if "floor" in phases and server.variant != "floor":
                            row["x_floor"] = _summary([p["cpu_ms_per_flow"] / f["cpu_ms_per_flow"]
                                                       for p, f in zip(got, phases["floor"])])
                        print(_line(row), flush=True)
                        rows.append(row)
                    if profile:
                        for server in servers:
                            await _phase(server, control, users, profile / f"held-{target}")
                            files = sorted((profile / f"held-{target}").glob(f"{engine}-{server.variant}-*.txt"))
                            samples, groups, leaves = breakdown(files)
                            print(f"profile {engine} {server.variant} held {target}, {samples} busy samples; "
                                  "on the stack: " + "; ".join(f"{g} {x:.0%}" for g, x in groups)
                                  + " | innermost frame: " + ", ".join(f"{r} {x:.0%}" for r, x in leaves), flush=True)
    return rows


def _line(row: dict[str, Any]) -> str:
    f, c, x = row["flows_per_s"], row["cpu_ms_per_flow"], row.get("x_floor")
    ratio = f"{x['min']:.2f} / {x['median']:.2f} / {x['max']:.2f}" if x else "—"
    return (f"| {row['engine']} | {row['held']:,} | {row['variant']} | {f['min']:.1f} / {f['median']:.1f} / "
            f"{f['max']:.1f} | {c['min']:.0f} / {c['median']:.0f} / {c['max']:.0f} | {ratio} | "
            f"{sum(row['ok'])}/{row['users'] * row['repeats']} |"
            + (f" {'; '.join(row['errors'])[:200]}" if row["errors"] else ""))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.server_path", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--held", default="0,1000,5000")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--variants", default="ours,floor", help="ours, floor, base (base needs --baseline)")
    parser.add_argument("--baseline", type=Path, help="a checkout of another commit, served as the variant 'base'")
    parser.add_argument("--profile", type=Path, help="record one more phase per variant with py-spy into this folder")
    parser.add_argument("--logs", type=Path, help="keep each server's folder (its logs) in this folder")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    variants = tuple(args.variants.split(","))
    if "base" in variants and not args.baseline:
        parser.error("the variant 'base' needs --baseline DIR")
    if args.baseline and "base" not in variants:
        variants = ("base", *variants)
    print("| engine | threads held | variant | flows/s min / median / max | server CPU ms per flow min / median / max "
          "| × floor per repeat min / median / max | ok |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    rows = asyncio.run(run_matrix(args.users, args.repeats, tuple(int(h) for h in args.held.split(",")),
                                  tuple(args.engines.split(",")), variants,
                                  args.baseline.resolve() if args.baseline else None,
                                  args.profile.resolve() if args.profile else None,
                                  args.logs.resolve() if args.logs else None))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
