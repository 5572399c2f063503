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

Records do not outlive their use: pending links, their keys and sign-ins are written with a TTL
(LangGraph's store TTL: PostgreSQL no longer returns an expired item, and `sweep` deletes them on both), and single-use values (a resume
credential's id) are claimed in a table of their own with one conditional insert — `claim` — so two
processes presenting the same value at the same moment cannot both succeed, and each claim is deleted
once the value it guards has expired.
"""

from __future__ import annotations

import asyncio
import os
import time
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


#: A record's TTL runs from its write (a read does not extend it); PostgreSQL no longer returns one past it
#: (SQLite does until `sweep`, which the callers' own expiry checks cover).
TTL = {"refresh_on_read": False, "omit_expired": True}
CLAIMS_TABLE = "vault_agent_claims"
CREATE_CLAIMS = (f"CREATE TABLE IF NOT EXISTS {CLAIMS_TABLE} (key TEXT PRIMARY KEY, "
                 "expires_at DOUBLE PRECISION NOT NULL)")


class ServerStore(BaseStore):
    """A BaseStore that opens the configured database on first use (async only)."""

    supports_ttl = True  # both databases' LangGraph stores keep a TTL

    def __init__(self, url: str) -> None:
        self.url = url
        self._store: BaseStore | None = None
        self._opening = asyncio.Lock()
        self._resources: list[Any] = []
        self._pool: Any = None  # PostgreSQL: the connection pool
        self._sqlite: Any = None  # SQLite: the connection

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
            self._pool = pool
            store: BaseStore = AsyncPostgresStore(conn=pool, ttl=TTL)  # type: ignore[arg-type]
            async with pool.connection() as conn:  # several processes may open it at once: one migrates
                await conn.execute("SELECT pg_advisory_lock(hashtextextended('vault-agent server store', 0))")
                try:
                    await store.setup()  # type: ignore[attr-defined]
                    await conn.execute(CREATE_CLAIMS)
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
            self._sqlite = conn
            store = AsyncSqliteStore(conn, ttl=TTL)  # type: ignore[arg-type]
            await conn.execute(CREATE_CLAIMS)
        else:
            raise ValueError(f"VAULT_AGENT_DB_URL must be a sqlite:/// path or a postgresql:// URL, not {self.url!r}")
        await store.setup()  # type: ignore[attr-defined]
        return store

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await (await self._open()).abatch(ops)

    async def claim(self, key: str, expires_at: float) -> bool:
        """Claim the single-use value `key` (valid until `expires_at`, epoch seconds): True for the first
        caller, False for every later one, in any process on the same database."""
        inserted = await self._execute(
            f"INSERT INTO {CLAIMS_TABLE} (key, expires_at) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
            (key, expires_at))
        return inserted == 1

    async def sweep(self) -> None:
        """Delete what has expired: TTL'd store items, and claims whose values can no longer be presented."""
        store = await self._open()
        await store.sweep_ttl()  # type: ignore[attr-defined]
        await self._execute(f"DELETE FROM {CLAIMS_TABLE} WHERE expires_at < %s", (time.time(),))

    async def _execute(self, sql: str, params: tuple[Any, ...]) -> int:
        """Run one statement (`%s` placeholders) on the store's own database; the rows it changed."""
        await self._open()
        if self._pool is not None:
            async with self._pool.connection() as conn:
                return (await conn.execute(sql, params)).rowcount
        return (await self._sqlite.execute(sql.replace("%s", "?"), params)).rowcount

    def batch(self, ops: Iterable[Op]) -> list[Result]:  # noqa: ARG002 - BaseStore's signature
        raise NotImplementedError("The server store is async only.")

    async def aclose(self) -> None:
        for resource in reversed(self._resources):
            await resource.close()
        self._resources.clear()
        self._store = self._pool = self._sqlite = None


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
