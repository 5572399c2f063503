"""The wire benchmark: N concurrent Token Vault exchanges against a near-free token endpoint.

Every client (`bench/clients.py`) runs side by side in one process against one stub server in another
(`bench/stub.py`), interleaved repeat by repeat so that the shared machine's noise hits them alike.
For each latency and N it records, per repeat, the wall time, this process's CPU and the stub's CPU;
figures are reported as min/median/max. One "round trip" is the warm median of single exchanges by
the floor client at that latency, measured in the same run.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from .clients import AiohttpClient, FloorClient, HttpxClient, HttpxHttp1Client, VaultClient


class StubServer:
    """`bench.stub` in a child process (its own GIL and core)."""

    def __enter__(self) -> "StubServer":
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.stub"], stdout=subprocess.PIPE, text=True)
        self.base_url = f"http://127.0.0.1:{int(self.proc.stdout.readline())}"
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(10)

    def _call(self, method: str, path: str) -> dict:
        request = urllib.request.Request(self.base_url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())

    def set_delay(self, ms: float) -> None:
        self._call("POST", f"/_delay?ms={ms}")

    def cpu(self) -> float:
        return self._call("GET", "/_cpu")["cpu"]


def spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "n": len(values)}


@dataclass
class Cell:
    wall: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)


async def _measure(stub: StubServer, client, n: int, cell: Cell) -> None:
    """One timed round: `n` concurrent exchanges; wall time, this process's CPU and the stub's CPU."""
    if hasattr(client, "next_round"):
        client.next_round()
    gc.collect()  # garbage left by the previous client is not this one's cost
    server_before, cpu_before = stub.cpu(), time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(client.exchange(i) for i in range(n)))
    cell.wall.append(time.perf_counter() - started)
    cell.client_cpu.append((time.process_time() - cpu_before) / n)
    cell.server_cpu.append((stub.cpu() - server_before) / n)


async def _single_round_trip(client, repeats: int) -> list[float]:
    await client.exchange(0)  # warm: one open connection
    samples = []
    for k in range(repeats):
        started = time.perf_counter()
        await client.exchange(k)
        samples.append(time.perf_counter() - started)
    return samples


AUTH0AI = "auth0-ai-langchain with_token_vault"


async def run_wire(*, sizes=(10, 100, 1000), latencies_ms=(20, 100), repeats: int = 5,
                   factories=(FloorClient, AiohttpClient, VaultClient, HttpxHttp1Client, HttpxClient),
                   auth0ai=None, auth0ai_max_n: int = 100) -> dict[str, Any]:
    """`auth0ai(base_url, n, repeats)` runs the auth0-ai-langchain row in its own process (its exchanges
    go out one after another, so it is skipped above `auth0ai_max_n`: ≈ N round trips)."""
    results: dict[str, Any] = {"repeats": repeats, "latencies": {}}
    with StubServer() as stub:
        for delay in latencies_ms:
            stub.set_delay(delay)
            floor = FloorClient(stub.base_url)
            single = await _single_round_trip(floor, max(7, repeats))
            await floor.aclose()
            round_trip = statistics.median(single)
            per_latency = results["latencies"][str(delay)] = {"round_trip_s": spread(single), "sizes": {}}
            for n in sizes:
                clients = [factory(stub.base_url) for factory in factories]
                cells = {c.name: Cell() for c in clients}
                # Fast clients interleave repeat by repeat, after one warm round each (a running agent holds
                # open connections to its tenant). A slow one (httpx's default transport takes up to 30 s a
                # round at N=1000) is warmed and repeated after them: during its rounds the others' kept
                # connections would expire, and they would be measured cold.
                fast = [c for c in clients if not getattr(c, "slow", False)]
                slow = [c for c in clients if getattr(c, "slow", False)]
                for group in ([fast], [[c] for c in slow]):
                    for members in group:
                        for client in members:
                            await asyncio.gather(*(client.exchange(i) for i in range(n)))
                        for _ in range(repeats):
                            for client in members:
                                await _measure(stub, client, n, cells[client.name])
                for client in clients:
                    await client.aclose()
                if auth0ai is not None and n <= auth0ai_max_n:
                    server_before = stub.cpu()
                    theirs = await asyncio.to_thread(auth0ai, stub.base_url, n, repeats)
                    if "seconds" in theirs:
                        cells[AUTH0AI] = Cell(theirs["seconds"], [c / n for c in theirs["cpu"]],
                                              [(stub.cpu() - server_before) / (n * (repeats + 1))] * repeats)
                        per_latency.setdefault("auth0ai_ok", {})[str(n)] = [theirs["ok"], n * repeats, theirs["errors"]]
                    else:
                        per_latency.setdefault("auth0ai_error", theirs.get("error", "did not run"))
                per_latency["sizes"][str(n)] = {
                    name: {"round_trips": spread([w / round_trip for w in cell.wall]), "wall_s": spread(cell.wall),
                           "client_cpu_ms": spread([c * 1000 for c in cell.client_cpu]),
                           "server_cpu_ms": spread([c * 1000 for c in cell.server_cpu])}
                    for name, cell in cells.items()}
    return results


def format_wire(results: dict[str, Any]) -> str:
    lines = ["latency | N | client | round trips min/med/max | client CPU ms/exchange (med) | × floor CPU | server CPU ms/exchange (med)"]
    for delay, per_latency in results["latencies"].items():
        rt = per_latency["round_trip_s"]
        lines.append(f"{delay} ms: one round trip (floor, warm, median of {rt['n']}) = {rt['median'] * 1000:.1f} ms")
        for n, cells in per_latency["sizes"].items():
            floor_cpu = next(iter(cells.values()))["client_cpu_ms"]["median"]
            for name, cell in cells.items():
                r, c = cell["round_trips"], cell["client_cpu_ms"]
                lines.append(f"{delay} ms | {n} | {name} | {r['min']:.2f} / {r['median']:.2f} / {r['max']:.2f} | "
                             f"{c['median']:.3f} | {c['median'] / floor_cpu:.1f}× | {cell['server_cpu_ms']['median']:.3f}")
    return "\n".join(lines)


if __name__ == "__main__":
    # python -m bench.wire [10,100,1000] [--without-httpx-default]: the wire table alone (no auth0-ai-langchain row)
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    sizes = tuple(int(s) for s in args[0].split(",")) if args else (10, 100, 1000)
    factories = (FloorClient, AiohttpClient, VaultClient, HttpxHttp1Client)
    if "--without-httpx-default" not in sys.argv:
        factories += (HttpxClient,)
    out = asyncio.run(run_wire(sizes=sizes, factories=factories))
    print(format_wire(out))
