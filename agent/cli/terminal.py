"""What both chats (local and `--remote`) need from the terminal: the prompt with its history, the
countdown while a link waits, and Ctrl-C that stops waiting instead of killing a task."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from rich.text import Text


def prompt_session(runtime: Any) -> Any:
    """A prompt_toolkit session whose history lives in the state directory."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    history = runtime.settings.vault_agent_state_dir / "history"
    history.parent.mkdir(parents=True, exist_ok=True)
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


def parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def countdown(expires: datetime) -> Text:
    left = max(0, int((expires - datetime.now(timezone.utc)).total_seconds()))
    return Text(f"⏳ Waiting for your authorization… link expires in {left // 60}:{left % 60:02d}", style="yellow")
