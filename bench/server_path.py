"""The server path under load, on both engines: `users` users at once, each pause → authorize → callback →
resumed run, on a fresh server and on one holding 1,000 and 5,000 threads.

`python -m bench.server_path [--users 50] [--repeats 5] [--held 0,1000,5000] [--engines langgraph-dev,aegra-1,aegra-2]`
starts a sandbox (its own process), then for each engine a fresh server: `langgraph dev` (one process,
in memory), Aegra with one process, Aegra with two processes (PostgreSQL + Redis, a fresh database each;
clients alternate between the two processes as behind a load balancer, the callback lands on the second).
For each number of threads held it fills the server up to that many (threads with a short conversation,
created with their state in one request each), then repeats the flow phase: every user asks for their
GitHub repositories at once (not linked, so the run pauses), waits with `runs.join`, authorizes at the
sandbox tenant, lands on the server's `/auth/callback` (which resumes the thread), joins the resumed run;
the answer must list repos. Figures: flows/s (users / wall time of the phase) and server CPU per flow (the
server processes' user+system time across the phase, psutil, / users; PostgreSQL's and Redis's own CPU are
not included). Each phase's flows add `users` threads to what the server holds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from contextlib import ExitStack
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


def _client(url: str, session: dict[str, Any]):
    return get_client(url=url, headers={"Authorization": f"Bearer {session['access_token']}"})


async def _flow(url: str, control, user: dict[str, Any], session: dict[str, Any]) -> bool:
    client = _client(url, session)
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


async def _fill(urls: list[str], sessions: list[dict[str, Any]], count: int, concurrency: int = 16) -> None:
    """`count` threads, each with a short conversation, created with their state in one request."""
    gate = asyncio.Semaphore(concurrency)
    clients = [_client(urls[i % len(urls)], s) for i, s in enumerate(sessions)]

    async def one(i: int) -> None:
        async with gate:
            await clients[i % len(clients)].threads.create(graph_id="agent", supersteps=[{"updates": [{
                "values": {"messages": [{"type": "human", "content": f"hello {i}"},
                                        {"type": "ai", "content": "Hello! How can I help?"}]},
                "as_node": "call_model"}]}])

    await asyncio.gather(*(one(i) for i in range(count)))


async def _phase(urls: list[str], pids: list[int], control, users: int) -> dict[str, Any]:
    people = [control.create_user() for _ in range(users)]
    sessions = [control.session(p["user_id"], audience=AUDIENCE) for p in people]
    before, started = _tree_cpu(pids), time.perf_counter()
    flows = await asyncio.gather(*(_flow(urls[i % len(urls)], control, p, s)
                                   for i, (p, s) in enumerate(zip(people, sessions))), return_exceptions=True)
    wall, cpu = time.perf_counter() - started, _tree_cpu(pids) - before
    errors = sorted({type(x).__name__ + ": " + str(x)[:120] for x in flows if isinstance(x, BaseException)})
    return {"ok": sum(1 for x in flows if x is True), "flows_per_s": users / wall,
            "cpu_ms_per_flow": cpu / users * 1000, "errors": errors}


def _start(engine: str, sandbox_env: dict[str, str], stack: ExitStack) -> tuple[list[str], list[int]]:
    env = dict(sandbox_env, VAULT_AGENT_TIMEZONE="UTC")
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"bench-{engine}-")))
    if engine == "langgraph-dev":
        server = stack.enter_context(LangGraphDev(env, workdir=workdir))
        return [server.url], [server._proc.pid]  # type: ignore[union-attr]
    processes = int(engine.rsplit("-", 1)[1])
    database = stack.enter_context(fresh_database())
    aegra = stack.enter_context(Aegra(env, workdir, database, processes=processes, redis=True, short_lease=False))
    return aegra.urls, [aegra.pid(i) for i in range(processes)]


def _summary(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


async def run_matrix(users: int = 50, repeats: int = 5, held: tuple[int, ...] = (0, 1000, 5000),
                     engines: tuple[str, ...] = ENGINES) -> list[dict[str, Any]]:
    rows = []
    with SandboxProcess() as sandbox:
        control = sandbox.control
        fillers = [control.session(control.create_user()["user_id"], audience=AUDIENCE) for _ in range(8)]
        for engine in engines:
            with ExitStack() as stack:
                urls, pids = _start(engine, sandbox.env, stack)
                await _phase(urls, pids, control, 2)  # warm: graph loaded, model client, JWKS
                filled = 0
                for target in held:
                    started = time.perf_counter()
                    await _fill(urls, fillers, target - filled)
                    fill_s, filled = time.perf_counter() - started, target
                    phases = [await _phase(urls, pids, control, users) for _ in range(repeats)]
                    row = {"engine": engine, "held": target, "users": users, "repeats": repeats,
                           "fill_s": round(fill_s, 1), "ok": [p["ok"] for p in phases],
                           "flows_per_s": _summary([p["flows_per_s"] for p in phases]),
                           "cpu_ms_per_flow": _summary([p["cpu_ms_per_flow"] for p in phases]),
                           "errors": sorted({e for p in phases for e in p["errors"]})}
                    print(_line(row), flush=True)
                    rows.append(row)
    return rows


def _line(row: dict[str, Any]) -> str:
    f, c = row["flows_per_s"], row["cpu_ms_per_flow"]
    return (f"| {row['engine']} | {row['held']:,} | {f['min']:.1f} / {f['median']:.1f} / {f['max']:.1f} | "
            f"{c['min']:.0f} / {c['median']:.0f} / {c['max']:.0f} | {sum(row['ok'])}/{row['users'] * row['repeats']} |"
            + (f" {'; '.join(row['errors'])[:200]}" if row["errors"] else ""))


def main(argv: list[str] | None = None) -> None:
    import json

    parser = argparse.ArgumentParser(prog="python -m bench.server_path", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--held", default="0,1000,5000")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    print("| engine | threads held | flows/s min / median / max | server CPU ms per flow min / median / max | ok |")
    print("| --- | --- | --- | --- | --- |")
    rows = asyncio.run(run_matrix(args.users, args.repeats, tuple(int(h) for h in args.held.split(",")),
                                  tuple(args.engines.split(","))))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
