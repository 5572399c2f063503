"""The least GitHub scope per capability, through the real chat and the sandbox's GitHub rules: reading a
public repository's issues asks for no scope (GitHub allows it), a private repository steps up to `repo`
(GitHub answers 404 for what the token may not see)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pexpect

PROMPT = "you ›"
URL_RE = r"AUTHORIZE_URL (\S+)\s"  # the whole URL: pexpect may match before all of it arrived


def _requested(url: str) -> list[str]:
    raw = parse_qs(urlsplit(url).query).get("requested_connection_scope", [""])[0]
    return [s for s in re.split(r"[ ,]", raw) if s]


def test_public_issues_need_no_scope_and_a_private_repo_steps_up_to_repo(cli, control):
    login = cli.user["github"]["login"]
    child = cli.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    child.sendline("What issues are open in my vault-agent-demo repo?")
    child.expect("Authorization needed: GitHub")
    child.expect("see what is public")
    child.expect(URL_RE)
    url = child.match.group(1)
    assert _requested(url) == []  # not `repo`: nothing beyond what is public
    assert httpx.get(control.authorize(url, cli.user["user_id"], "approve"), timeout=30).status_code == 200
    child.expect("✓ GitHub allowed — carrying on")
    child.expect(f"Open issues in {login}/vault-agent-demo")
    child.expect(PROMPT)
    assert "repo" not in control.tokensets(cli.user["user_id"])[0]["scopes"]

    child.sendline("What issues are open in my notes repo?")  # private: GitHub shows a 404 without `repo`
    child.expect("Authorization needed: GitHub")
    child.expect("needs more access to your GitHub")
    child.expect(URL_RE)
    url = child.match.group(1)
    assert _requested(url) == ["repo"]
    assert httpx.get(control.authorize(url, cli.user["user_id"], "approve"), timeout=30).status_code == 200
    child.expect("✓ GitHub allowed — carrying on")
    child.expect(f"issues in {login}/notes")
    child.expect(PROMPT)
    child.sendline("/quit")
    child.expect(pexpect.EOF)
