"""The server path under load: `users` users at once on `langgraph dev`, each pause → authorize →
callback → resumed run, beside the engine's trivial-run cost measured in the same run.

`python -m bench.server_path [USERS]` starts a sandbox and `langgraph dev` (each its own process), then:
1. baseline: every user runs one trivial turn ("hello": one model call, no tool) at once;
2. the flow: every user asks for their GitHub repositories at once (GitHub not linked, so the run
   pauses), waits for the run with `runs.join`, authorizes at the sandbox tenant, lands on the server's
   `/auth/callback` (which resumes the thread), and joins the resumed run; the answer must list repos.
Server CPU is the `langgraph dev` process tree's user+system time across each phase (psutil), divided by
the number of users. Clients wait with `runs.join`, never by polling. `--profile=FILE` records the server
with py-spy (if installed) during the flow, as collapsed stacks.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
from langgraph_sdk import get_client

from sandbox.langgraph_dev import LangGraphDev
from sandbox.runner import SandboxProcess

AUDIENCE = "https://vault-agent.sandbox/api"


def _tree_cpu(pid: int) -> float:
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


async def _trivial(url: str, session: dict[str, Any]) -> bool:
    client = get_client(url=url, headers={"Authorization": f"Bearer {session['access_token']}"})
    thread = await client.threads.create()
    out = await client.runs.wait(thread["thread_id"], "agent",
                                 input={"messages": [{"role": "user", "content": "hello"}]})
    return bool(out and out.get("messages"))


async def _flow(url: str, control, user: dict[str, Any], session: dict[str, Any]) -> bool:
    client = get_client(url=url, headers={"Authorization": f"Bearer {session['access_token']}"})
    thread = await client.threads.create()
    tid = thread["thread_id"]
    run = await client.runs.create(tid, "agent", input={"messages": [
        {"role": "user", "content": "List my GitHub repositories"}]})
    await client.runs.join(tid, run["run_id"])
    state = await client.threads.get_state(tid)
    [interrupt] = state["interrupts"]
    redirect = await asyncio.to_thread(control.authorize, interrupt["value"]["authorize_url"], user["user_id"])
    async with httpx.AsyncClient(timeout=120) as http:
        page = await http.get(redirect)
    if page.status_code != 200:
        return False
    runs = await client.runs.list(tid, limit=1)  # the run the callback started
    await client.runs.join(tid, runs[0]["run_id"])
    final = await client.threads.get_state(tid)
    return "Repositories" in str(final["values"]["messages"][-1]["content"])


async def run_server_path(users: int = 100, profile: str | None = None) -> dict[str, Any]:
    """`profile`: write a py-spy sampling profile (raw collapsed stacks) of the server during the flow."""
    with SandboxProcess() as sandbox:
        control = sandbox.control
        people = [control.create_user() for _ in range(users)]
        sessions = [control.session(p["user_id"], audience=AUDIENCE) for p in people]
        with LangGraphDev(dict(sandbox.env, VAULT_AGENT_TIMEZONE="UTC")) as server:
            pid = server._proc.pid
            await _trivial(server.url, sessions[0])  # warm: graph loaded, model client, JWKS
            before, started = _tree_cpu(pid), time.perf_counter()
            trivial = await asyncio.gather(*(_trivial(server.url, s) for s in sessions), return_exceptions=True)
            trivial_wall, trivial_cpu = time.perf_counter() - started, _tree_cpu(pid) - before
            spy = None
            if profile:
                import shutil
                import subprocess

                spy = subprocess.Popen([shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"), "record",
                                        "--format", "raw", "-o", profile, "-r", "200", "--subprocesses", "-p", str(pid)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                await asyncio.sleep(1)
            before, started = _tree_cpu(pid), time.perf_counter()
            flows = await asyncio.gather(*(_flow(server.url, control, p, s) for p, s in zip(people, sessions)),
                                         return_exceptions=True)
            flow_wall, flow_cpu = time.perf_counter() - started, _tree_cpu(pid) - before
            if spy is not None:
                import signal

                spy.send_signal(signal.SIGINT)
                spy.wait(60)
    errors = sorted({type(x).__name__ + ": " + str(x)[:120] for x in [*trivial, *flows] if isinstance(x, BaseException)})
    return {"users": users, "trivial_ok": sum(1 for x in trivial if x is True), "trivial_wall_s": trivial_wall,
            "trivial_server_cpu_ms_per_run": trivial_cpu / users * 1000,
            "flow_ok": sum(1 for x in flows if x is True), "flow_wall_s": flow_wall,
            "flow_server_cpu_ms_per_flow": flow_cpu / users * 1000, "errors": errors}


if __name__ == "__main__":
    import json

    args = [a for a in sys.argv[1:] if not a.startswith("--profile=")]
    profile = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--profile=")), None)
    print(json.dumps(asyncio.run(run_server_path(int(args[0]) if args else 100, profile)), indent=2))
