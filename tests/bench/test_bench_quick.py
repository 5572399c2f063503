"""The benchmarks in quick mode: checks counts and that every side of each comparison runs.
Timings are reported by `make bench`, never asserted here."""

from __future__ import annotations

import pytest

from bench.suite import run
from bench.wire import AUTH0AI


@pytest.mark.slow
async def test_quick_bench_runs_every_side_and_single_flight_holds():
    report = await run(quick=True)
    assert report.data["c_exchanges"] == 1
    cells = report.data["wire"]["latencies"]["100"]["sizes"]["10"]
    assert {"hand-written asyncio (floor)", "aiohttp ClientSession", "ours: TokenVault.get_token", AUTH0AI} <= set(cells)
    assert "auth0ai_error" not in report.data["wire"]["latencies"]["100"]
    assert report.data["wire"]["latencies"]["100"]["auth0ai_ok"]["10"][:2] == [20, 20]
    assert all(cell["round_trips"]["n"] == 2 for cell in cells.values())
    assert report.data["d_callback_to_tool_ms"]["max"] < float("inf")
    assert report.data["f_full_run"]["ours"]["wall_ms"]["n"] == 5
    assert report.data["g_pause"]["client_cpu_ms"]["n"] == 5


@pytest.mark.slow
async def test_mcp_call_bench_runs_both_tools_on_both_protocol_versions():
    from bench import mcp_call

    samples = await mcp_call.run(calls=3, repeats=1)
    assert set(samples) == {f"{v} {t}" for v in mcp_call.VERSIONS
                            for t in (mcp_call.BARE, "list_github_repositories")}
    assert len(mcp_call.report(samples).splitlines()) == 6
