"""What both chats (local and `--remote`) need from the terminal: the prompt with its history, the
countdown while a link waits, Ctrl-C that stops waiting instead of killing a task, and text from
elsewhere (the model, a provider, the user's own arguments) made safe to print."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from rich.text import Text

# C0 controls but newline and tab, DEL, and the C1 range: what a terminal would act on (colours, cursor
# moves, title changes, a NUL) instead of showing.
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x00, 0x09), *range(0x0b, 0x20), *range(0x7f, 0xa0))}


def plain(text: str) -> str:
    """Text from the model or a provider (an event title, an issue, a profile name), safe to print: every
    control character but newline and tab is shown as an escape (`\\x1b`), never sent raw. A chunk of a
    streamed answer is safe on its own, so an escape sequence split across chunks is defused too."""
    return text.replace("\r\n", "\n").translate(_CONTROLS)


def clip(value: str, limit: int = 60) -> str:
    """Something the user typed, echoed back in a message: escaped, at most `limit` characters (a 100 KB
    argument is named, not printed back)."""
    return plain(value if len(value) <= limit else value[: limit - 1] + "…")


def shown(value: str, limit: int = 60) -> str:
    """`clip`, quoted: `No conversation 'abc…'`."""
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


def prompt_session(runtime: Any) -> Any:
    """A prompt_toolkit session whose history lives in the state directory (0700)."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    from auth.files import private_dir

    history = private_dir(runtime.settings.vault_agent_state_dir) / "history"
    if history.is_symlink():  # planted while the directory was open to others: never write through it
        history.unlink()
    return PromptSession(history=FileHistory(str(history)))


@contextlib.contextmanager
def ctrl_c_sets() -> Iterator[asyncio.Event]:
    """While waiting for the browser, Ctrl-C sets an event instead of cancelling tasks — asyncio's own
    handler would cancel the chat, and a second Ctrl-C would kill whatever task it lands in (such as the
    callback receiver)."""
    loop = asyncio.get_running_loop()
    event = asyncio.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: loop.call_soon_threadsafe(event.set))
    try:
        yield event
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def typed_lines() -> Iterator[asyncio.Queue[str]]:
    """Lines the user types (or pastes) while the chat waits for the browser, with no prompt running: on a
    remote host the browser cannot reach the loopback receiver, so the user pastes the address it ended
    on. Read from the terminal in its usual line mode, without blocking the loop."""
    import os
    import sys

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()
    try:
        fd = sys.stdin.fileno()
    except (OSError, ValueError, AttributeError):
        yield queue
        return
    buffer = b""

    def readable() -> None:
        nonlocal buffer
        try:
            chunk = os.read(fd, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:  # end of input: stop listening
            loop.remove_reader(fd)
            return
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                queue.put_nowait(line.decode("utf-8", "replace").strip())

    try:
        loop.add_reader(fd, readable)
    except (OSError, ValueError, NotImplementedError, RuntimeError):
        yield queue
        return
    try:
        yield queue
    finally:
        loop.remove_reader(fd)


def looks_like_callback(text: str) -> bool:
    """A pasted address the browser ended on after answering (it carries the link's `state`)."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(text.strip())
    return parts.scheme in ("http", "https") and bool(parts.netloc) and "state" in parse_qs(parts.query)


@contextlib.contextmanager
def ctrl_c_cancels() -> Iterator[None]:
    """For a chat's whole life, every Ctrl-C cancels what the chat is doing — the turn or command catches
    that and the chat goes on. asyncio's own handler cancels only on the first Ctrl-C; from the second on
    it raises KeyboardInterrupt wherever the program happens to be, which ended the chat."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is None:
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda *_: loop.call_soon_threadsafe(task.cancel))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def stop_cancelled_turn() -> bool:
    """In an `except asyncio.CancelledError` of a chat turn: True (and the task uncancelled) when Ctrl-C
    cancelled it, False when something else is cancelling the task (then re-raise)."""
    task = asyncio.current_task()
    if task is None or not task.cancelling():
        return False
    task.uncancel()
    return True


@contextlib.contextmanager
def own_terminal() -> Iterator[None]:
    """Ctrl-C belongs to the chat alone. Started by `make chat`, the chat shares make's process group, so a
    Ctrl-C that only leaves a pause for later would also end make, which then reports an "Interrupt" when
    the chat ends. In a process group of its own, in the terminal's foreground, the chat is the only one
    that hears it; the foreground goes back to make's group on the way out. (Started from a shell, the chat
    already leads its own group: nothing changes.)"""
    import os
    import sys

    try:
        fd = sys.stdin.fileno()
        before = os.tcgetpgrp(fd)
    except (AttributeError, OSError, ValueError):
        yield
        return
    if before != os.getpgrp() or os.getpgrp() == os.getpid():
        yield
        return

    def foreground(group: int) -> None:
        previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # a background group may not otherwise
        try:
            os.tcsetpgrp(fd, group)
        finally:
            signal.signal(signal.SIGTTOU, previous)

    try:
        os.setpgid(0, 0)
        foreground(os.getpgrp())
    except OSError:
        yield
        return
    # Ctrl-Z would stop a group the shell does not know as a job, leaving nobody to read the terminal.
    suspend = signal.signal(signal.SIGTSTP, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGTSTP, suspend)
        with contextlib.suppress(OSError):
            foreground(before)


def parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def countdown(expires: datetime) -> Text:
    left = max(0, int((expires - datetime.now(timezone.utc)).total_seconds()))
    return Text(f"⏳ Waiting for your authorization… link expires in {left // 60}:{left % 60:02d}", style="yellow")
