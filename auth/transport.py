"""An httpx transport that spreads requests over several connection pools.

httpcore's pool re-examines every connection (polling its socket) each time it assigns a request, so a
single pool holding ~100 keep-alive connections spends more CPU on bookkeeping than on HTTP when a
hundred runs fetch tokens at once. Several smaller pools keep each scan short; requests are spread round
robin, and keep-alive still works inside each pool.
"""

from __future__ import annotations

import itertools

import httpx


class ShardedTransport(httpx.AsyncBaseTransport):
    def __init__(self, shards: int = 8, max_connections: int = 200, max_keepalive: int = 64) -> None:
        per_shard = httpx.Limits(max_connections=max(1, max_connections // shards),
                                 max_keepalive_connections=max(1, max_keepalive // shards))
        self._pools = [httpx.AsyncHTTPTransport(limits=per_shard) for _ in range(shards)]
        self._next = itertools.cycle(self._pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await next(self._next).handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()
