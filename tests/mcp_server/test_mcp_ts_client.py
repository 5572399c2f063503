"""The official TypeScript MCP client (`@modelcontextprotocol/client` 2.x, Node) against the server: its default
negotiation picks 2026-07-28 and its automatic multi-round-trip handling runs the link → retry; forced to
the legacy handshake it gets -32042 and the completion notification; declaring form elicitation only it
gets the link in the text. Installed with npm from tests/mcp_server/ts_client/package-lock.json on first
use; skipped where Node.js is missing."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "ts_client"
TOMORROW = (date.today() + timedelta(days=1)).isoformat()

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("Node.js and npm are needed for the TypeScript client")
    if not (HERE / "node_modules" / "@modelcontextprotocol" / "client").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=HERE, check=True, timeout=600)
    return node


def run_ts(node: str, server: dict, sandbox, control, user: dict, *, mode: str, url_elicitation: bool = True) -> dict:
    token = control.session(user["user_id"], audience=server["mcp"])["access_token"]
    job = {"mcp": server["mcp"], "auth0": server["auth0"], "control": sandbox.env["SANDBOX_CONTROL_URL"],
           "user_id": user["user_id"], "token": token, "mode": mode, "url_elicitation": url_elicitation,
           "start": TOMORROW}
    out = subprocess.run([node, str(HERE / "client.mjs")], input=json.dumps(job), capture_output=True, text=True,
                         timeout=120, cwd=HERE)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_typescript_client_default_negotiates_2026_and_follows_the_link(node, mcp_server, sandbox, control, user):
    seen = run_ts(node, mcp_server, sandbox, control, user, mode="auto")
    assert seen["protocol_version"] == "2026-07-28"
    [asked] = seen["asked"]
    assert asked["mode"] == "url" and asked["url"].startswith(mcp_server["url"] + "/link/")
    assert "elicitationId" not in asked and seen["page_status"] == 200
    assert "error_code" not in seen and not seen["completed"]
    assert not seen["is_error"] and "Team standup" in seen["text"]


def test_typescript_client_legacy_gets_32042_and_the_notification(node, mcp_server, sandbox, control, user):
    seen = run_ts(node, mcp_server, sandbox, control, user, mode="legacy")
    assert seen["protocol_version"] == "2025-11-25"
    assert seen["error_code"] == -32042 and seen["error_url"].startswith(mcp_server["url"] + "/link/")
    assert seen["page_status"] == 200 and len(seen["completed"]) == 1
    assert not seen["is_error"] and "Team standup" in seen["text"]


def test_typescript_client_with_form_elicitation_only_gets_the_link_in_text(node, mcp_server, sandbox, control, user):
    seen = run_ts(node, mcp_server, sandbox, control, user, mode="auto", url_elicitation=False)
    assert seen["protocol_version"] == "2026-07-28" and not seen["asked"]
    assert mcp_server["url"] + "/link/" in seen["fallback_text"] and seen["page_status"] == 200
    assert not seen["is_error"] and "Team standup" in seen["text"]
