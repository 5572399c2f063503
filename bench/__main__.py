"""`python -m bench [--quick]`: run the benchmarks, print the table, write bench/results.json."""

import asyncio
import json
import sys
from pathlib import Path

from .suite import run

if __name__ == "__main__":
    report = asyncio.run(run(quick="--quick" in sys.argv))
    print(report.wire_text)
    print()
    print(report.table())
    (Path(__file__).parent / "results.json").write_text(json.dumps(report.data, indent=2) + "\n")
