"""The benchmarks in quick mode: checks counts and that every side of each comparison runs.
Timings are reported by `make bench`, never asserted here."""

from __future__ import annotations

import pytest

from bench.suite import run


@pytest.mark.slow
async def test_quick_bench_runs_both_sides_and_single_flight_holds():
    report = await run(quick=True)
    assert report.data["c_exchanges"] == 1
    assert report.data["b_ours_s"] > 0 and report.data["d_callback_to_tool_ms"] > 0
    auth0ai = report.data["b_auth0ai"]
    assert "error" not in auth0ai, auth0ai
    assert auth0ai["ok"] == 10
