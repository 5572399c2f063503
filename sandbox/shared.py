"""One demo sandbox per state directory, shared by every `vault-agent` command running meanwhile.

The first command that needs it becomes its owner: it holds an exclusive lock on `sandbox/owner.lock`,
serves the sandbox in-process with its world kept in `sandbox/world.pickle` (sandbox/snapshot.py), and
writes the variables pointing at it to `sandbox/env.json`. A command started while an owner runs (the
chat in one terminal, `vault-agent connections` in another) uses that owner's sandbox instead of
starting a second world. When the owner exits, the next waiting process takes over on the same ports
from the saved world, so a chat that outlives the command that started the sandbox keeps working.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from pathlib import Path

from .runner import SandboxServer
from .snapshot import write

WAIT = 10.0  # seconds a joining process waits for the owner to serve


class SandboxUnavailable(Exception):
    """Another process holds the sandbox of this state directory but does not serve it."""


class SharedSandbox:
    """`env` points at the sandbox; `stop()` stops it if this process serves it (and lets go of it)."""

    def __init__(self, folder: Path, lock_fd: int) -> None:
        self.folder, self._fd = folder, lock_fd
        self.server: SandboxServer | None = None
        self.env: dict[str, str] = {}
        self._stopped = threading.Event()
        self._guard = threading.Lock()

    @property
    def owner(self) -> bool:
        return self.server is not None

    def serve(self) -> "SharedSandbox":
        """Become the owner (the lock is held): serve the kept world and publish where it is."""
        self.server = SandboxServer(snapshot_path=self.folder / "world.pickle").start()
        self.env = self.server.env
        write(self.folder / "env.json", json.dumps(self.env).encode())
        return self

    def join(self) -> "SharedSandbox":
        """Use the owner's sandbox; take it over (same ports, saved world) when the owner exits."""
        import httpx

        deadline = time.monotonic() + WAIT
        while True:
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError, httpx.HTTPError):
                env = json.loads((self.folder / "env.json").read_text())
                httpx.get(env["SANDBOX_CONTROL_URL"] + "/control/config", timeout=1).raise_for_status()
                self.env = env
                break
            if time.monotonic() > deadline:
                raise SandboxUnavailable(f"The local sandbox another vault-agent serves (see {self.folder}) does "
                                         "not answer: quit the other vault-agent and try again.")
            time.sleep(0.1)
        threading.Thread(target=self._take_over, name="vault-agent-sandbox-takeover", daemon=True).start()
        return self

    def _take_over(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)  # returns once the owner has saved its world and exited
            with self._guard:
                if not self._stopped.is_set():
                    self.serve()
        except Exception:  # noqa: BLE001 - then this process's calls fail with one line, as without a takeover
            pass

    def stop(self) -> None:
        with self._guard:
            self._stopped.set()
            if self.server is not None:
                self.server.stop()  # saves the world
        os.close(self._fd)  # lets the next process take over


def open_shared(state_dir: Path) -> SharedSandbox:
    """The sandbox of `state_dir`: served by this process, or by another vault-agent already running."""
    folder = Path(state_dir) / "sandbox"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(folder / "owner.lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    shared = SharedSandbox(folder, fd)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return shared.join()
    except BaseException:
        os.close(fd)
        raise
    try:
        return shared.serve()
    except BaseException:
        os.close(fd)
        raise

