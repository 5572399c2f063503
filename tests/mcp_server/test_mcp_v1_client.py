"""Clients of the `mcp` 1.x line against the server (which runs on 2.x): the official 1.x `ClientSession`
(initialize → protocol 2025-11-25, Dynamic Client Registration, -32042, the link page, the completion
notification, the retry; the link in the text without URL elicitation) and `langchain-mcp-adapters`.
They live in tests/mcp_server/.venv-mcp1 (requirements-mcp1.txt), built here with uv on first use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
VENV = HERE / ".venv-mcp1"
PYTHON = VENV / "bin" / "python"
TOMORROW_TOOL = "list_calendar_events"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def mcp1_python() -> Path:
    if not PYTHON.exists() or not (VENV / ".installed").exists():
        uv = Path(sys.executable).parent / "uv"
        subprocess.run([str(uv), "venv", "-q", "--python", sys.executable, str(VENV)], check=True, timeout=120)
        subprocess.run([str(uv), "pip", "install", "-q", "--python", str(PYTHON), "-r",
                        str(HERE / "requirements-mcp1.txt")], check=True, timeout=600)
        (VENV / ".installed").touch()
    return PYTHON


def run_v1(python: Path, scenario: str, server: dict, sandbox, user: dict) -> dict:
    job = {"scenario": scenario, "mcp": server["mcp"], "auth0": server["auth0"],
           "control": sandbox.env["SANDBOX_CONTROL_URL"], "user_id": user["user_id"]}
    out = subprocess.run([str(python), str(HERE / "v1_client.py")], input=json.dumps(job), capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_mcp_1x_client_link_notify_retry(mcp1_python, mcp_server, sandbox, control, user):
    seen = run_v1(mcp1_python, "link", mcp_server, sandbox, user)
    assert seen["mcp_version"].startswith("1.") and seen["protocol_version"] == "2025-11-25"
    assert seen["registered_client_id"].startswith("sbx-dcr-")  # it registered itself (DCR)
    assert seen["error_code"] == -32042 and seen["url"].startswith(mcp_server["url"] + "/link/")
    assert seen["page_status"] == 200 and seen["completed"]
    assert not seen["is_error"] and "Team standup" in seen["text"]


def test_mcp_1x_client_without_url_elicitation_gets_the_link_in_text(mcp1_python, mcp_server, sandbox, control, user):
    seen = run_v1(mcp1_python, "fallback", mcp_server, sandbox, user)
    assert mcp_server["url"] + "/link/" in seen["fallback_text"] and "Google Calendar" in seen["fallback_text"]
    assert seen["page_status"] == 200
    assert not seen["is_error"] and "Team standup" in seen["text"]


def test_langchain_mcp_adapters_load_and_call_the_tools(mcp1_python, mcp_server, sandbox, control, user):
    control.seed_tokenset(user["user_id"], "google-oauth2", ["https://www.googleapis.com/auth/calendar.readonly"])
    seen = run_v1(mcp1_python, "adapters", mcp_server, sandbox, user)
    assert {"list_calendar_events", "list_github_issues"} <= set(seen["tools"])
    assert "Team standup" in seen["text"]
