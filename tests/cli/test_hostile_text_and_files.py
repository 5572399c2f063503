"""What a hostile provider, a careless argument or another local user can do to the terminal and the
files: control characters from a provider shown escaped (never raw), long arguments clipped when echoed,
Ctrl-C while the agent starts is one line, and the session file never written through a planted symlink.
Driven through the real `vault-agent` in a pseudo-terminal against the sandbox."""

from __future__ import annotations

import os
import stat
import uuid

import pexpect

PROMPT = "you ›"
CAL_WRITE = "https://www.googleapis.com/auth/calendar.events"
CAL_READ = "https://www.googleapis.com/auth/calendar.readonly"
HOSTILE = "ctl\x1b[31mred\x1b[0m\x00"
SHOWN = r"ctl\x1b[31mred\x1b[0m\x00"  # what the user sees instead: the escapes, spelled out


def _paste(child, text: str) -> None:
    """Type `text` the way a terminal pastes it (bracketed paste), so control characters reach the prompt
    as text rather than as keys, then press Enter."""
    child.send("\x1b[200~" + text + "\x1b[201~")
    child.send("\r")


def _quit(child) -> int:
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def test_provider_text_with_escape_sequences_is_shown_escaped(cli, control):
    control.seed_tokenset(cli.user["user_id"], "google-oauth2", [CAL_WRITE, CAL_READ])
    tag = uuid.uuid4().hex[:6]
    child = cli.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    _paste(child, f'Create an event "{tag} {HOSTILE}" tomorrow at 3pm')
    child.expect("Created event")
    child.expect_exact(f"{tag} {SHOWN}")
    child.expect(PROMPT)
    [event] = [e for e in control.provider_data(cli.user["user_id"])["events"] if e["summary"].startswith(tag)]
    assert event["summary"] == f"{tag} {HOSTILE}"  # the provider really holds the raw title
    child.sendline("What's on my calendar tomorrow?")  # a later listing of the same event
    child.expect("Team standup")
    child.expect_exact(f"{tag} {SHOWN}")
    child.expect(PROMPT)
    assert _quit(child) == 0
    with open(cli.transcript.name, encoding="utf-8", errors="replace") as raw:
        screen = raw.read()
    assert "red\x1b[0m" not in screen and "\x1b[31mred" not in screen and "\x00" not in screen


def test_a_100_kb_argument_is_not_echoed_back(cli):
    huge = "x" * 100_000
    child = cli.spawn("connections", "connect", huge, "--no-browser")
    child.expect(pexpect.EOF)
    child.close()
    assert "Unknown provider 'xxxx" in child.before and "…'" in child.before
    assert len(child.before) < 2_000 and child.exitstatus == 1

    chat = cli.spawn("chat", "--no-browser")
    chat.expect(PROMPT)
    chat.sendline("/resume " + "y" * 5_000)  # the prompt itself takes it; the answer names it briefly
    chat.expect(r"No conversation 'y+…': /threads lists yours")
    chat.expect(PROMPT)
    chat.sendline("/" + "z" * 5_000)
    chat.expect(r"Unknown command /z+… — /help lists the commands")
    chat.expect(PROMPT)
    assert _quit(chat) == 0


def test_ctrl_c_while_the_agent_starts_is_one_line_and_the_chat_goes_on(cli, control):
    control.seed_tokenset(cli.user["user_id"], "google-oauth2", [CAL_READ])
    cli.env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    # Start-up refreshes the session: hold that answer so "Starting the agent…" is surely on screen.
    control.add_fault("auth0", "^/oauth/token$", "latency", method="POST", delay_ms=8000, times=1,
                      grant_type="refresh_token")
    login = cli.spawn("whoami")  # a stored session first, so that the chat's start-up refreshes it
    login.expect(pexpect.EOF)
    child = cli.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    child.sendline("What's on my calendar tomorrow?")
    child.expect("Starting the agent")
    child.sendintr()
    child.expect("Interrupted while the agent was starting: nothing was sent")
    child.expect(PROMPT)
    child.sendline("What's on my calendar tomorrow?")
    child.expect("Team standup")
    child.expect(PROMPT)
    assert _quit(child) == 0


def test_session_file_symlink_in_a_world_writable_config_dir_is_not_written_through(cli, tmp_path):
    config = tmp_path / "config"
    config.mkdir(mode=0o777)
    config.chmod(0o777)  # as another local user could have left it (umask aside)
    target = tmp_path / "attacker-reads-this"
    target.write_text("")
    (config / "session.json").symlink_to(target)
    child = cli.spawn("whoami")  # loads (refuses the link), signs in to the sandbox, saves the session
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert target.read_text() == "", "the refresh token was written through the planted symlink"
    session = config / "session.json"
    assert not session.is_symlink() and "refresh_token" in session.read_text()
    assert stat.S_IMODE(session.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.stat().st_mode) == 0o700
    state = tmp_path / "state"
    if state.exists():
        assert stat.S_IMODE(state.stat().st_mode) == 0o700


def test_existing_loose_state_dir_is_tightened_and_a_planted_history_link_replaced(cli, tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    target = tmp_path / "elsewhere"
    target.write_text("")
    (state / "history").symlink_to(target)
    child = cli.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    child.sendline("hello there")
    child.expect("sandbox model")
    child.expect(PROMPT)
    assert _quit(child) == 0
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert target.read_text() == "" and not (state / "history").is_symlink()
    assert "hello there" in (state / "history").read_text()
    assert os.stat(state / "history").st_uid == os.getuid()


def test_repeated_ctrl_c_in_turns_never_ends_the_chat(cli, control):
    """asyncio's own handler cancels only the first Ctrl-C and turns the next ones into a KeyboardInterrupt
    that ended the chat: every one must stop just the turn."""
    control.seed_tokenset(cli.user["user_id"], "google-oauth2", [CAL_READ])
    control.add_fault("google", r"^/calendar/v3/calendars/[^/]+/events$", "latency", method="GET", delay_ms=8000,
                      times=10)
    child = cli.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    for _ in range(3):
        child.sendline("What's on my calendar tomorrow?")
        child.expect("Reading your Google Calendar|Thinking")
        child.expect(pexpect.TIMEOUT, timeout=1.5)  # the read is held by the sandbox now
        child.sendintr()
        child.expect(r"Interrupted\.")
        child.expect(PROMPT)
    control.clear_faults()
    child.sendline("What's on my calendar tomorrow?")
    child.expect("Team standup")
    child.expect(PROMPT)
    assert _quit(child) == 0
