"""The long-lived clients a run needs (Token Vault, account linking, HTTP), built once per event loop.

They live outside graph state so nothing here is ever checkpointed, and they are shared by every run
in the process so the Token Vault cache and single-flight work across users and threads.
"""

from __future__ import annotations

import asyncio
import urllib.request
from dataclasses import dataclass, field

import httpx
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from auth.closing import AsyncClosing
from auth.linking import AccountLinker
from auth.server_store import server_store
from auth.settings import Settings, get_settings
from auth.token_vault import TokenVault
from auth.transport import Http1Transport


@dataclass
class Services(AsyncClosing):
    settings: Settings
    http: httpx.AsyncClient
    vault: TokenVault
    store: BaseStore
    #: The LangGraph server's case: pending links go to this store (the server's own, auth/server_store.py)
    #: whatever store the engine gives the run, so its callback reads them without engine internals.
    own_link_store: bool = False
    _linkers: dict[int, AccountLinker] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings | None = None, store: BaseStore | None = None) -> "Services":
        settings = settings or get_settings()
        http = httpx.AsyncClient(timeout=settings.http_timeout_seconds, transport=_transport())
        return cls(settings, http, TokenVault(settings), store or InMemoryStore())

    def linker(self, store: BaseStore | None = None) -> AccountLinker:
        """The linker over `store` (the graph's store when it runs with one, else our own; always our own
        when `own_link_store`)."""
        store = self.store if self.own_link_store else (store or self.store)
        if id(store) not in self._linkers:
            self._linkers[id(store)] = AccountLinker(self.settings, store, http=self.http)
        return self._linkers[id(store)]

    async def aclose(self) -> None:
        await self.vault.aclose()
        await self.http.aclose()


def _transport() -> httpx.AsyncBaseTransport | None:
    """`auth.transport.Http1Transport` (a fraction of httpcore's CPU per request), unless the environment
    configures a proxy: httpx honours HTTP(S)_PROXY only with its own transport, so then it keeps that."""
    proxies = urllib.request.getproxies()
    return None if proxies.get("https") or proxies.get("http") else Http1Transport()


_per_loop: dict[int, Services] = {}


def default_services() -> Services:
    """Process-wide services for the running event loop (the LangGraph server's case: links are kept in
    the server's own store)."""
    loop = asyncio.get_running_loop()
    services = _per_loop.get(id(loop))
    if services is None:
        services = Services.create(store=server_store())
        services.own_link_store = True
        _per_loop[id(loop)] = services
    return services
