"""The server store (`auth/server_store.py`) on both of its databases: a single-use value is claimed by
exactly one of several processes presenting it at once, and nothing outlives its use — claims and TTL'd
records are gone after `sweep` (on PostgreSQL an expired record is no longer read even before)."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from auth import resume_credential
from auth.linking.pending import PendingLink, PendingLinks
from auth.server_store import CLAIMS_TABLE, ServerStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return "sqlite:///" + str(tmp_path / "server.sqlite")
    return request.getfixturevalue("postgres_url")


async def _stores(url: str, count: int) -> list[ServerStore]:
    """`count` stores on one database, each with its own connections, as `count` server processes have."""
    stores = [ServerStore(url) for _ in range(count)]
    for store in stores:
        await store.aget(("probe",), "open")
    return stores


async def test_one_claim_wins_among_processes_presenting_it_at_once(store_url):
    stores = await _stores(store_url, 3)
    try:
        key, until = f"test:{uuid.uuid4().hex}", time.time() + 120
        won = await asyncio.gather(*(store.claim(key, until) for store in stores for _ in range(4)))
        assert won.count(True) == 1
        assert await stores[0].claim(f"test:{uuid.uuid4().hex}", until)  # another value: its own claim

        grant = uuid.uuid4().hex  # the resume credential's use of it
        await resume_credential.consume(stores[1], grant, until)
        with pytest.raises(resume_credential.InvalidResumeCredential):
            await resume_credential.consume(stores[2], grant, until)
    finally:
        for store in stores:
            await store.aclose()


async def test_sweep_deletes_expired_claims_and_records(store_url):
    [store] = await _stores(store_url, 1)
    try:
        expired_key, live_key = f"test:{uuid.uuid4().hex}", f"test:{uuid.uuid4().hex}"
        assert await store.claim(expired_key, time.time() - 1)
        assert await store.claim(live_key, time.time() + 120)

        pending = PendingLinks(store)
        link = PendingLink(state=uuid.uuid4().hex, user_sub="auth0|someone", connection="github", scopes=["repo"],
                           redirect_uri="http://127.0.0.1/auth/callback", expires_at=time.time() + 600)
        await pending.put(link)
        assert await pending.get(link.state) == link
        # Its TTL: the request's life plus a day. Make it end now, as the database would a day after expiry.
        await store.aput(("vault_agent", "link_requests"), link.state, link.to_record(), ttl=1 / 600)
        await asyncio.sleep(1.1)  # SQLite compares with CURRENT_TIMESTAMP, to the second
        if store_url.startswith("postgresql"):
            assert await pending.get(link.state) is None  # expired: not read any more

        await store.sweep()
        assert await pending.get(link.state) is None
        assert await _claim_keys(store, expired_key, live_key) == {live_key}
        assert await store.claim(expired_key, time.time() + 120)  # swept: the key is free again
    finally:
        await store.aclose()


async def _claim_keys(store: ServerStore, *keys: str) -> set[str]:
    """Which of `keys` still have a claim row (read straight from the table)."""
    found: set[str] = set()
    for key in keys:
        if store._pool is not None:
            async with store._pool.connection() as conn:
                rows = await (await conn.execute(f"SELECT key FROM {CLAIMS_TABLE} WHERE key = %s", (key,))).fetchall()
        else:
            rows = await (await store._sqlite.execute(f"SELECT key FROM {CLAIMS_TABLE} WHERE key = ?", (key,))).fetchall()
        found |= {key} if rows else set()
    return found
