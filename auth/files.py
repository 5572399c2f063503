"""Private files: the session (refresh token included) and the CLI's state, safe from other local users.

A directory another user can write to lets them plant `session.json -> /somewhere/they/read`; a plain
`open()` would then write the refresh token through the link. So the directories are made 0700 (also when
they exist already with looser modes), files are opened with `O_NOFOLLOW` (a symlink is refused when
read and replaced, never followed, when written), and a write goes to a fresh temporary file that is
renamed over the old name (a rename replaces a link, it does not follow it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

from .errors import Misconfigured


def private_dir(path: Path) -> Path:
    """`path` as a directory only this user can enter: created 0700, tightened to 0700 if it exists.
    A directory that belongs to someone else is refused (we could not keep them out of it)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)  # the mode applies to the last part only
    info = path.stat()
    if info.st_uid != os.getuid():
        raise Misconfigured(f"{path} belongs to another user: set VAULT_AGENT_CONFIG_DIR / VAULT_AGENT_STATE_DIR "
                            "to a directory of your own.")
    if stat.S_IMODE(info.st_mode) != 0o700:
        path.chmod(0o700)
    return path


def read_private(path: Path) -> str | None:
    """The file's text, or None when there is none — or when it is a symlink (never followed) or
    belongs to another user."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symlink where our file should be
            return None
        raise
    with os.fdopen(fd, encoding="utf-8") as handle:
        if os.fstat(handle.fileno()).st_uid != os.getuid():  # planted by someone else: not our session
            return None
        return handle.read()


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` as a 0600 file of this user, in a 0700 directory: a fresh file renamed over
    the old name, so a symlink planted there is replaced, not written through."""
    path = Path(path)
    private_dir(path.parent)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".")  # O_EXCL, 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def open_private(path: Path, flags: int = os.O_RDWR) -> int:
    """A file descriptor on `path`, created 0600 if missing, never through a symlink (OSError then)."""
    return os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW, 0o600)
