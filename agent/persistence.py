"""Checkpointer and store chosen by one URL (`VAULT_AGENT_DB_URL`).

- empty: a SQLite file under the user's state directory (the CLI's default);
- `sqlite:///path/to/file.db` or a bare path: that SQLite file;
- `postgresql://…`: PostgreSQL for both, so a run paused on one worker resumes on another.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

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
        """Only one resumer of a thread at a time, across processes sharing this database: a Postgres
        advisory lock, or an exclusive file lock beside the SQLite file."""
        if self.url.startswith(("postgresql://", "postgres://")):
            import psycopg

            async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                await conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (thread_id,))
                try:
                    yield
                finally:
                    await conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (thread_id,))
            return
        import asyncio
        import fcntl
        import hashlib

        lock_dir = Path(self.url.removeprefix("sqlite:///")).parent / "locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        path = lock_dir / hashlib.sha256(thread_id.encode()).hexdigest()[:32]
        handle = open(path, "a+")
        try:
            await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


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
            from langgraph.store.sqlite.aio import AsyncSqliteStore

            path = Path(url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True)
            saver = await stack.enter_async_context(AsyncSqliteSaver.from_conn_string(str(path)))
            store = await stack.enter_async_context(AsyncSqliteStore.from_conn_string(str(path)))
        else:
            raise ValueError(f"VAULT_AGENT_DB_URL must be a sqlite:/// path or a postgresql:// URL, not {url!r}")
        await saver.setup()
        await store.setup()
        yield Persistence(saver, store, url)
