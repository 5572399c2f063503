"""`threads` at 80 columns prints ids whole, `resume` takes a unique prefix (an ambiguous one lists the
candidates), and a second chat never shows a link whose answer would reach the first one."""

from __future__ import annotations

import re

import httpx
import pexpect

PROMPT = "you ›"
ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
URL_RE = r"AUTHORIZE_URL (\S+)\s"


def _quit(child) -> int:
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def test_threads_at_80_columns_and_resume_by_prefix(cli):
    child = cli.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    seen: list[str] = []
    child.sendline("List my GitHub repositories")  # one that waits for authorization: the longest status
    child.expect(rf"resume ({ID})")
    waiting = child.match.group(1)
    seen.append(waiting)
    child.sendintr()
    child.expect(r"New messages start a new conversation")
    child.expect(PROMPT)
    # Conversations until two ids share their first character (an ambiguous prefix exists).
    while len({i[0] for i in seen}) == len(seen):
        child.sendline("hello")
        child.expect(PROMPT)
        child.sendline("/new")
        child.expect(PROMPT)
        child.sendline("/threads")
        child.expect("Conversations")
        child.expect(PROMPT)
        seen = list(dict.fromkeys(re.findall(ID, child.before)))
    assert _quit(child) == 0

    listing = cli.spawn("threads", columns=80)
    listing.expect(pexpect.EOF)
    lines = listing.before.splitlines()
    whole = [line.strip() for line in lines if re.fullmatch(rf"\s*(\x1b\[[0-9;]*m)*{ID}(\x1b\[[0-9;]*m)*\s*", line)]
    assert len(whole) == len(seen) and set(re.findall(ID, listing.before)) == set(seen)  # each id on a line of its own
    assert "waiting for authorization" in listing.before
    assert all(len(re.sub(r"\x1b\[[0-9;]*m", "", line)) <= 80 for line in lines)

    unique = next(i for i in seen if i != waiting and sum(j.startswith(i[:8]) for j in seen) == 1)
    again = cli.spawn("resume", unique[:8], "--no-browser")
    again.expect(rf"Now in conversation {unique}; nothing is waiting there — its last answer:")
    again.expect("agent ›")
    again.expect(PROMPT)
    assert _quit(again) == 0

    first = next(i[0] for i in seen if sum(j[0] == i[0] for j in seen) > 1)
    ambiguous = cli.spawn("resume", first, "--no-browser")
    ambiguous.expect(pexpect.EOF)
    ambiguous.close()
    assert ambiguous.exitstatus == 1 and "Traceback" not in ambiguous.before
    line = re.search(rf"'{first}' is the start of (\d+) conversations \((.*)\): type more of the id", ambiguous.before)
    assert line and set(re.findall(ID, line.group(2))) == {i for i in seen if i.startswith(first)}


def test_a_second_chat_never_shows_a_link_it_cannot_complete(cli, control):
    first = cli.spawn("chat", "--no-browser")
    second = cli.spawn("chat", "--no-browser")  # the same callback address (AUTH0_CALLBACK_URL)
    first.expect(PROMPT)
    second.expect(PROMPT)
    first.sendline("What's on my calendar tomorrow?")
    first.expect(URL_RE)
    link = first.match.group(1)
    second.sendline("List my GitHub repositories")
    second.expect(rf"This chat cannot receive the authorization now:.*`/resume ({ID})` here once that is done")
    paused = second.match.group(1)
    second.expect(PROMPT)
    assert "AUTHORIZE_URL" not in second.before

    redirect = control.authorize(link, cli.user["user_id"], "approve")
    assert httpx.get(redirect, timeout=30).status_code == 200
    first.expect("✓ Google Calendar allowed — carrying on")
    first.expect("Team standup")
    first.expect(PROMPT)

    second.sendline(f"/resume {paused}")  # the first chat is idle now: it lets go of the port
    second.expect(URL_RE)
    redirect = control.authorize(second.match.group(1), cli.user["user_id"], "approve")
    assert httpx.get(redirect, timeout=30).status_code == 200
    second.expect("✓ GitHub allowed — carrying on")
    second.expect("vault-agent-demo")
    second.expect(PROMPT)
    assert _quit(first) == 0 and _quit(second) == 0
