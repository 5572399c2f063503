"""The product wheel holds the product; the sandbox is a distribution of its own."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _build(project: Path, out: Path) -> set[str]:
    uv = Path(sys.executable).parent / "uv"
    subprocess.run([str(uv), "build", "--wheel", "--quiet", str(project), "-o", str(out)], check=True,
                   capture_output=True, timeout=300)
    [wheel] = out.glob("*.whl")
    return {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}


def test_product_wheel_has_no_sandbox(tmp_path):
    top = _build(ROOT, tmp_path / "product")
    assert {"agent", "tools", "auth"} <= top
    assert "sandbox" not in top


def test_sandbox_is_its_own_wheel(tmp_path):
    top = _build(ROOT / "sandbox", tmp_path / "sandbox")
    assert "sandbox" in top and not {"agent", "tools", "auth"} & top
