"""The demo sandbox's world on disk, so that every `vault-agent` command in sandbox mode sees one tenant.

Without it each command started a fresh in-memory sandbox: `connections connect google` said
"Connected" and the next `connections` said "No linked accounts yet". With a state directory the sandbox
keeps everything a user would expect a real tenant to keep — users, applications and their secrets, the
signing keys (so a stored session stays valid), refresh tokens, linked identities, Token Vault token sets,
calendars and repositories — and the ports it first chose, so issuers and callback URLs stay the same.
The request log, injected faults and the model's transcript are test aids and are not kept.

A world saved by other sandbox code (an upgrade) is not loaded: the demo starts afresh. The file is a
pickle: it is written and read only by this user's own sandbox, in the 0700 state directory, with mode
0600 (the same trust as the SQLite file of the user's conversations beside it).
The tests' sandbox passes no state directory and stays in memory.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import secrets
from pathlib import Path
from typing import Any


@functools.cache
def version() -> str:
    """The sandbox's code, fingerprinted: a world pickled by other code (an upgrade) may lack attributes
    this code relies on, so it is not loaded — the demo starts with a fresh world instead."""
    import hashlib

    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(source.name.encode() + source.read_bytes())
    return digest.hexdigest()


def load(path: Path) -> dict[str, Any] | None:
    """What `dumps()` made, or None for no usable snapshot (missing, unreadable, other code's)."""
    try:
        with open(path, "rb") as file:
            data = pickle.load(file)
    except FileNotFoundError:
        return None
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        return None  # from an older sandbox: start a fresh world rather than fail
    return data if isinstance(data, dict) and data.get("version") == version() else None


def dumps(**parts: Any) -> bytes:
    """The snapshot's bytes (taken on the sandbox's event loop, where nothing mutates meanwhile)."""
    return pickle.dumps({"version": version(), **parts}, protocol=pickle.HIGHEST_PROTOCOL)


def write(path: Path, data: bytes) -> None:
    """Atomically replace the snapshot: a crash leaves the previous one, never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
