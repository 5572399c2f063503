"""Entry point of the `vault-agent` console script (placeholder until the chat lands)."""

from __future__ import annotations

import sys


def run() -> None:
    print("vault-agent: the chat is not built yet; see README.md", file=sys.stderr)
    sys.exit(2)
