"""Checkpointer and store chosen by one URL (`VAULT_AGENT_DB_URL`).

- empty: a SQLite file under the user's state directory (the CLI's default);
- `sqlite:///path/to/file.db` or a bare path: that SQLite file;
- `postgresql://…`: PostgreSQL for both, so a run paused on one worker resumes on another.

SQLite is made to bear concurrency: the checkpointer and the store share one lock, so this process
never has two write transactions racing on the file (they would fail with "database is locked" rather
than wait, because a deferred transaction that read first cannot wait for the write lock); the file is in
WAL mode with a long busy timeout, so another process on the same file waits its turn. The pending
link's PKCE verifier lives in there: the directory is 0700 and the database files 0600.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auth.settings import Settings

if TYPE_CHECKING:  # annotations only: `vault-agent threads` imports this module and must not pay for LangGraph
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.store.base import BaseStore


@dataclass
class Persistence:
    checkpointer: BaseCheckpointSaver
    store: BaseStore
    url: str

    @asynccontextmanager
    async def thread_lock(self, thread_id: str) -> AsyncIterator[None]:
        """One run of a thread at a time, across processes sharing this database: a Postgres advisory lock,
        or an exclusive file lock beside the SQLite file (an asyncio lock for in-memory persistence)."""
        if self.url.startswith(("postgresql://", "postgres://")):
            import psycopg

            async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                await conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (thread_id,))
                try:
                    yield
                finally:
                    await conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (thread_id,))
            return
        if not self.url.startswith("sqlite:///"):  # in-memory persistence (tests, benchmarks): this process only
            async with _memory_lock(thread_id):
                yield
            return
        path = _lock_path(self.url, thread_id)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        async with _file_lock(path):
            yield


_MEMORY_LOCKS: dict[str, asyncio.Lock] = {}


def _memory_lock(thread_id: str) -> asyncio.Lock:
    return _MEMORY_LOCKS.setdefault(thread_id, asyncio.Lock())


def _lock_path(url: str, thread_id: str) -> Path:
    import hashlib

    return Path(url.removeprefix("sqlite:///")).parent / "locks" / hashlib.sha256(thread_id.encode()).hexdigest()[:32]


async def thread_busy(url: str, thread_id: str) -> bool:
    """Whether a live process holds the thread's lock right now (a run in progress). A process that died
    holds nothing: the kernel drops its file lock, Postgres its session's advisory lock."""
    if url.startswith(("postgresql://", "postgres://")):
        import psycopg

        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            cursor = await conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (thread_id,))
            (got,) = await cursor.fetchone()
            if got:
                await conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (thread_id,))
            return not got
    if not url.startswith("sqlite:///"):
        return _memory_lock(thread_id).locked()
    import fcntl

    try:
        fd = os.open(_lock_path(url, thread_id), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False  # never locked
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the lock if it was taken
    return False


RUNNING, INTERRUPTED = "running", "interrupted (resumable)"  # statuses of a conversation in the store


async def interrupted_status(url: str, thread_id: str, status: str) -> str:
    """A thread recorded as "running" that no live process runs was cut off mid-run (killed, Ctrl-C):
    shown as resumable (`vault-agent resume` finishes it)."""
    if status == RUNNING and not await thread_busy(url, thread_id):
        return INTERRUPTED
    return status


def resolve_url(settings: Settings) -> str:
    url = settings.vault_agent_db_url.strip()
    if not url:
        return "sqlite:///" + str(Path(settings.vault_agent_state_dir) / "threads.sqlite")
    if "://" not in url:
        return "sqlite:///" + url
    return url


@asynccontextmanager
async def open_persistence(settings: Settings) -> AsyncIterator[Persistence]:
    url = resolve_url(settings)
    async with AsyncExitStack() as stack:
        if url.startswith(("postgresql://", "postgres://")):
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
            from langgraph.store.postgres.aio import AsyncPostgresStore

            saver = await stack.enter_async_context(AsyncPostgresSaver.from_conn_string(url))
            store = await stack.enter_async_context(AsyncPostgresStore.from_conn_string(url))
        elif url.startswith("sqlite:///"):
            from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

            path = Path(url.removeprefix("sqlite:///"))
            _private_file(path)
            saver = await stack.enter_async_context(AsyncSqliteSaver.from_conn_string(str(path)))
            store = await stack.enter_async_context(_immediate_store_class().from_conn_string(str(path)))
            await _share_sqlite(saver, store)
        else:
            raise ValueError(f"VAULT_AGENT_DB_URL must be a sqlite:/// path or a postgresql:// URL, not {url!r}")
        async with _setup_lock(url):
            await saver.setup()
            await store.setup()
        yield Persistence(saver, store, url)


@asynccontextmanager
async def _setup_lock(url: str) -> AsyncIterator[None]:
    """Two processes opening a new SQLite file at once would both run LangGraph's migrations (and one
    fails with "duplicate column"): they take turns, under a file lock beside the database. Postgres
    needs none (its setup runs in transactions)."""
    if not url.startswith("sqlite:///"):
        yield
        return
    path = Path(url.removeprefix("sqlite:///"))
    async with _file_lock(path.with_name(path.name + ".setup-lock")):
        yield


@asynccontextmanager
async def _file_lock(path: Path) -> AsyncIterator[None]:
    """An exclusive lock on `path` (created 0600) across processes, waited for off the event loop."""
    import fcntl

    handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600), "r+")
    try:
        await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


SQLITE_BUSY_TIMEOUT_MS = 60_000


def _immediate_store_class() -> type:
    """LangGraph's SQLite store, with its transactions begun IMMEDIATE.

    The store runs a batch's reads and writes in one transaction. Begun DEFERRED, the transaction takes
    the write lock only at its first write, and if another process wrote in between SQLite answers
    "database is locked" at once (a snapshot cannot be upgraded, so the busy timeout does not apply).
    IMMEDIATE takes the write lock first and waits for it — the busy timeout then does its job."""
    from langgraph.store.sqlite.aio import AsyncSqliteStore

    class ImmediateSqliteStore(AsyncSqliteStore):
        @asynccontextmanager
        async def _cursor(self, *, transaction: bool = True) -> AsyncIterator[Any]:
            if not self.is_setup:
                await self.setup()
            async with self.lock:
                if transaction:
                    await self.conn.execute("BEGIN IMMEDIATE")
                async with self.conn.cursor() as cur:
                    try:
                        yield cur
                    finally:
                        if transaction:
                            await self.conn.execute("COMMIT")

    return ImmediateSqliteStore


def _private_file(path: Path) -> None:
    """Create the database's directory (0700) and file (0600) before SQLite does; SQLite gives its -wal
    and -shm files the database file's permissions."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    if path.parent.stat().st_uid == os.getuid():
        path.parent.chmod(0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)  # a planted symlink: refused (ELOOP)
    os.close(fd)
    for name in (path, Path(str(path) + "-wal"), Path(str(path) + "-shm")):
        if name.exists() and name.stat().st_uid == os.getuid():
            name.chmod(0o600)


async def _share_sqlite(saver: "object", store: "object") -> None:
    """One lock for both connections (they serialise every statement on it), WAL and a busy timeout."""
    lock = asyncio.Lock()
    saver.lock = lock  # type: ignore[attr-defined]
    store.lock = lock  # type: ignore[attr-defined]
    for conn in (saver.conn, store.conn):  # type: ignore[attr-defined]
        await _pragma(conn, f"busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    await _pragma(store.conn, "journal_mode = WAL")  # type: ignore[attr-defined]


async def _pragma(conn: "object", pragma: str) -> None:
    """Run a PRAGMA and read its answer: a statement left unread keeps its lock on the file."""
    async with conn.execute("PRAGMA " + pragma) as cursor:  # type: ignore[attr-defined]
        await cursor.fetchall()
