"""The notebooks run top to bottom, headless, in a fresh kernel — and are committed without outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def run(name: str, tmp_path: Path, env: dict[str, str] | None = None) -> str:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith(("AUTH0_", "OPENAI_", "SANDBOX_"))]:
        del os.environ[key]
    os.environ.update(env or {})
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return "\n".join(out.get("text", "") + json.dumps(out.get("data", {}))
                     for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", []))


@pytest.mark.slow
def test_quickstart_pauses_authorizes_resumes_and_pauses_again(tmp_path):
    text = run("01_quickstart.ipynb", tmp_path, {"NOTEBOOK_CLICK_WAIT": "0"})  # nobody clicks: the sandbox does
    assert "Warning" not in text, "library warnings leaked into the notebook's outputs"
    assert "listening on http://127.0.0.1:" in text
    assert "linking: authorized" in text
    assert "connection: google-oauth2" in text
    assert "Team standup" in text and "Design review with Priya" in text
    assert "paused again for: google-oauth2" in text


@pytest.mark.slow
def test_server_notebook_sees_the_callback_resume_the_thread(tmp_path):
    text = run("02_langgraph_server.ipynb", tmp_path)
    assert "paused for: google-oauth2" in text and "Team standup" in text
    assert "Warning" not in text
    assert ("200 — the browser shows: Access granted — Google Calendar is connected. — The assistant carries on."
            in text)  # what it got


def test_real_tenant_notebook_stops_early_with_a_clear_message(tmp_path):
    with pytest.raises(CellExecutionError) as err:
        run("03_real_tenant.ipynb", tmp_path)
    assert err.value.ename == "TenantNotConfigured"
    assert "needs a real Auth0 tenant" in str(err.value)


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_committed_notebooks_have_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name} has outputs in cells {dirty}: run scripts/build_notebooks.py"
