"""README's module table (Architecture) matches the tree: every product module is named there, and every
path it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("agent", "auth", "tools")


def _table_rows() -> list[str]:
    text = (ROOT / "README.md").read_text()
    start = text.index("| path | job |")
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append(line.split("|")[1])
    return rows


def test_every_product_module_is_in_the_table():
    rows = _table_rows()
    missing = []
    for path in sorted(p for package in PRODUCT for p in (ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if path.name == "__init__.py" or "__pycache__" in relative:
            continue
        folder = relative.rsplit("/", 1)[0] + "/"
        covered = any(f"`{relative}`" in row or f"`{folder}`" in row
                      or (f"`{path.name}`" in row and f"`{folder}" in row) for row in rows)
        if not covered:
            missing.append(relative)
    assert not missing, f"not in README's module table: {missing}"


def test_every_path_in_the_table_exists():
    named = [p for row in _table_rows() for p in re.findall(r"`([a-z_]+/[a-z_/.]*)`", row)]
    assert named
    assert [p for p in named if not (ROOT / p).exists()] == []
