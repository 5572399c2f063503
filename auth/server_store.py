"""The LangGraph server's own store: pending links, and resume credentials already used.

A run that pauses writes its pending link; the callback — in whichever process, on whichever engine the
browser lands — must read it back. An engine's own store is reachable from a custom route only through
that engine's internals (and its HTTP store API is per user by our rules), so the server keeps these
records in a store of its own, opened from `VAULT_AGENT_DB_URL`:

- `postgresql://…`: PostgreSQL (LangGraph's Postgres store, a small pool) — what several processes need
  (Aegra; it may be the engine's own database);
- `sqlite:///path` or a bare path: that SQLite file;
- empty: `server.sqlite` in `VAULT_AGENT_STATE_DIR` (one `langgraph dev` process). The folder is made
  0700 and the file 0600 (the pending link's PKCE verifier is in there).

It is opened lazily, once per event loop, on first use, and lives as long as the process.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from langgraph.store.base import BaseStore, Op, Result

from .settings import Settings, get_settings


def server_store_url(settings: Settings) -> str:
    url = settings.vault_agent_db_url.strip()
    if not url:
        return "sqlite:///" + str(Path(settings.vault_agent_state_dir) / "server.sqlite")
    return url if "://" in url else "sqlite:///" + url


class ServerStore(BaseStore):
    """A BaseStore that opens the configured database on first use (async only)."""

    supports_ttl = False

    def __init__(self, url: str) -> None:
        self.url = url
        self._store: BaseStore | None = None
        self._opening = asyncio.Lock()
        self._resources: list[Any] = []

    async def _open(self) -> BaseStore:
        if self._store is not None:
            return self._store
        async with self._opening:
            if self._store is None:
                self._store = await self._connect()
        return self._store

    async def _connect(self) -> BaseStore:
        if self.url.startswith(("postgresql://", "postgres://")):
            from langgraph.store.postgres.aio import AsyncPostgresStore
            from psycopg.rows import dict_row
            from psycopg_pool import AsyncConnectionPool

            pool = AsyncConnectionPool(self.url, min_size=1, max_size=4, open=False,
                                       kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row})
            await pool.open()
            self._resources.append(pool)
            store: BaseStore = AsyncPostgresStore(conn=pool)
            async with pool.connection() as conn:  # several processes may open it at once: one migrates
                await conn.execute("SELECT pg_advisory_lock(hashtextextended('vault-agent server store', 0))")
                try:
                    await store.setup()  # type: ignore[attr-defined]
                finally:
                    await conn.execute("SELECT pg_advisory_unlock(hashtextextended('vault-agent server store', 0))")
            return store
        elif self.url.startswith("sqlite:///"):
            import aiosqlite
            from langgraph.store.sqlite.aio import AsyncSqliteStore

            path = Path(self.url.removeprefix("sqlite:///"))
            await asyncio.to_thread(_private_file, path)  # no blocking file call on the event loop
            conn = await aiosqlite.connect(str(path), isolation_level=None)
            await conn.execute("PRAGMA busy_timeout = 60000")
            await conn.execute("PRAGMA journal_mode = WAL")
            self._resources.append(conn)
            store = AsyncSqliteStore(conn)
        else:
            raise ValueError(f"VAULT_AGENT_DB_URL must be a sqlite:/// path or a postgresql:// URL, not {self.url!r}")
        await store.setup()  # type: ignore[attr-defined]
        return store

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await (await self._open()).abatch(ops)

    def batch(self, ops: Iterable[Op]) -> list[Result]:  # noqa: ARG002 - BaseStore's signature
        raise NotImplementedError("The server store is async only.")

    async def aclose(self) -> None:
        for resource in reversed(self._resources):
            await resource.close()
        self._resources.clear()
        self._store = None


def _private_file(path: Path) -> None:
    """The folder 0700 and the database 0600 before SQLite creates it (its -wal/-shm files follow)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.parent.stat().st_uid == os.getuid():
        path.parent.chmod(0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))


_per_loop: dict[int, ServerStore] = {}


def server_store(settings: Settings | None = None) -> ServerStore:
    """The server store for the running event loop."""
    loop = asyncio.get_running_loop()
    store = _per_loop.get(id(loop))
    if store is None:
        store = _per_loop[id(loop)] = ServerStore(server_store_url(settings or get_settings()))
    return store
