"""The pending linking request: a typed record kept by its single-use `state` in a LangGraph `BaseStore`.

Every field has a name; nothing a caller needs is hidden in a free-form dict. The record holds no
readable token: the PKCE verifier (worthless without the code the tenant sends to the browser), the
run's credential envelope when the caller keeps one (sealed, `auth/envelope.py`), and — only for an
idempotent caller that may ask for it again — the URL it handed out.

Where the store keeps a TTL (the server's, `auth/server_store.py`), a record goes a day after its request
expired (`kept_until`): long enough for a late click to be told "expired", not forever.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from typing import Any

from langgraph.store.base import BaseStore

NAMESPACE = ("vault_agent", "link_requests")
KEYS_NAMESPACE = ("vault_agent", "link_request_keys")
KEPT_AFTER_EXPIRY_MINUTES = 24 * 60


def kept_until(store: BaseStore, expires_at: float, after_minutes: float = KEPT_AFTER_EXPIRY_MINUTES) -> dict:
    """`aput` keywords: a TTL ending `after_minutes` past `expires_at`, where the store keeps TTLs."""
    if not store.supports_ttl:
        return {}
    return {"ttl": max(1, math.ceil((expires_at - time.time()) / 60)) + after_minutes}


@dataclass(frozen=True)
class PendingLink:
    """One linking request waiting for its answer."""

    state: str
    user_sub: str
    connection: str
    scopes: list[str]
    redirect_uri: str
    expires_at: float
    nonce: str = field(default="", repr=False)
    code_verifier: str = field(default="", repr=False)
    #: The URL the user opens: the tenant's (CLI, notebooks) or this server's own link page, where the
    #: user signs in first (LangGraph server). Kept only for an idempotent caller (`request_key`).
    authorize_url: str = field(default="", repr=False)
    #: The link page signs the user in before sending them to the tenant (the server's `/link/{state}`).
    sign_in_at_click: bool = False
    thread_id: str | None = None
    tool_call_id: str | None = None
    tool: str | None = None
    #: The MCP elicitation this request answers.
    elicitation_id: str | None = None
    #: The run's credential envelope, sealed (LangGraph server): the callback resumes the thread with it.
    envelope: str = field(default="", repr=False)
    #: Connected Accounts: the connect transaction the completion names.
    auth_session: str | None = None
    #: A code exchange was sent and its answer lost: if the code turns out spent, the tenant did it.
    exchange_attempted: bool = False

    @property
    def expires(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, timezone.utc)

    def is_expired(self, margin_seconds: float = 0.0) -> bool:
        return self.expires_at <= time.time() + margin_seconds

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, state: str, value: dict[str, Any]) -> "PendingLink":
        known = {f.name for f in fields(cls)}
        return cls(**{**{k: v for k, v in value.items() if k in known}, "state": state})

    def but(self, **changes: Any) -> "PendingLink":
        return replace(self, **changes)


class PendingLinks:
    """The store of pending requests (shared by every process on the same database)."""

    def __init__(self, store: BaseStore) -> None:
        self.store = store

    async def get(self, state: str) -> PendingLink | None:
        item = await self.store.aget(NAMESPACE, state) if state and len(state) <= 4096 else None
        return PendingLink.from_record(state, item.value) if item is not None else None

    async def put(self, link: PendingLink) -> None:
        await self.store.aput(NAMESPACE, link.state, link.to_record(), **kept_until(self.store, link.expires_at))

    async def delete(self, state: str) -> None:
        await self.store.adelete(NAMESPACE, state)

    async def by_key(self, request_key: str) -> dict[str, Any] | None:
        item = await self.store.aget(KEYS_NAMESPACE, request_key)
        return item.value if item is not None else None

    async def put_key(self, request_key: str, link: PendingLink) -> None:
        await self.store.aput(KEYS_NAMESPACE, request_key, {"state": link.state, "connection": link.connection,
                                                            "scopes": list(link.scopes),
                                                            "expires_at": link.expires_at},
                              **kept_until(self.store, link.expires_at))
