"""The sandbox's shared in-memory world: the one thing all stand-ins see.

The Auth0 tenant mints provider access tokens when it answers a Token Vault exchange; Google and GitHub
accept exactly those tokens (and the scopes they carry). Every app also shares the request log and the
fault table, which the control API reads and writes.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ProviderAccount:
    """An account at a provider (Google, GitHub), i.e. a would-be secondary identity."""

    connection: str  # "google-oauth2" | "github"
    user_id: str  # provider's own id, without prefix (Auth0 identity `user_id`)
    email: str
    name: str
    login: str = ""  # GitHub login; empty for Google


@dataclass
class ProviderGrant:
    """What a provider access token stands for."""

    connection: str
    user_id: str
    scopes: frozenset[str]
    expires_at: float

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at


@dataclass
class LoggedRequest:
    """One request as a stand-in saw it (for tests: "exactly one exchange")."""

    service: str
    method: str
    path: str
    query: str
    status: int
    at: float
    form: dict[str, Any] = field(default_factory=dict)


@dataclass
class Fault:
    """A fault injected on matching requests. `times` None = until removed."""

    service: str  # "auth0" | "google" | "github" | "openai" | "*"
    path: str  # regular expression matched against the path (search)
    kind: str  # "latency" | "status" | "rate_limit" | "drop" | "drop_after" (processed, then dropped)
    method: str = "*"
    grant_type: str = "*"  # only `/oauth/token` requests of this grant (urn:… or refresh_token, …)
    delay_ms: int = 0
    status: int = 500
    retry_after: int = 1
    body: Any = None
    times: int | None = None
    id: str = field(default_factory=lambda: secrets.token_hex(4))

    def matches(self, service: str, method: str, path: str, grant_type: str = "") -> bool:
        return (
            (self.service in ("*", service))
            and (self.method in ("*", method.upper()))
            and (self.grant_type in ("*", grant_type))
            and re.search(self.path, path) is not None
        )


class World:
    """All mutable sandbox state. One per running sandbox; apps receive it at construction."""

    def __init__(self) -> None:
        self.provider_accounts: dict[tuple[str, str], ProviderAccount] = {}
        self.provider_grants: dict[str, ProviderGrant] = {}
        self.requests: list[LoggedRequest] = []
        self.faults: list[Fault] = []
        self.lock = asyncio.Lock()
        # Free-form per-service data (seeded events, repositories, …), owned by each stand-in.
        self.data: dict[str, Any] = {}
        self.changed = False  # set after a request that may have changed something (a snapshot is due)

    # what a snapshot keeps (sandbox/snapshot.py): the world, not the test aids
    _TEST_AIDS = ("requests", "faults", "lock", "changed")

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in self._TEST_AIDS}
        state["data"] = {k: v for k, v in self.data.items() if k != "openai_requests"}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.requests, self.faults, self.lock, self.changed = [], [], asyncio.Lock(), False

    # provider accounts -------------------------------------------------------------------------
    def add_provider_account(self, account: ProviderAccount) -> ProviderAccount:
        self.provider_accounts[(account.connection, account.user_id)] = account
        return account

    def provider_account(self, connection: str, user_id: str) -> ProviderAccount | None:
        return self.provider_accounts.get((connection, user_id))

    # provider tokens ---------------------------------------------------------------------------
    def issue_provider_token(
        self, connection: str, user_id: str, scopes: frozenset[str] | set[str], ttl: float
    ) -> str:
        prefix = {"google-oauth2": "ya29.sbx-", "github": "gho_sbx"}.get(connection, "tok_sbx")
        token = prefix + secrets.token_urlsafe(24)
        self.provider_grants[token] = ProviderGrant(
            connection, user_id, frozenset(scopes), time.time() + ttl
        )
        return token

    def lookup_provider_token(self, connection: str, token: str) -> ProviderGrant | None:
        """The grant behind a live token of this connection, or None (unknown, expired, revoked)."""
        grant = self.provider_grants.get(token)
        if grant is None or grant.connection != connection or grant.expired:
            return None
        return grant

    def revoke_provider_tokens(self, connection: str, user_id: str) -> int:
        doomed = [
            t for t, g in self.provider_grants.items() if g.connection == connection and g.user_id == user_id
        ]
        for token in doomed:
            del self.provider_grants[token]
        return len(doomed)

    # request log -------------------------------------------------------------------------------
    def log_request(self, entry: LoggedRequest) -> None:
        self.requests.append(entry)
        self.changed = True  # any answered request may have changed the world (a code, a session, a link)

    def find_requests(self, service: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        return [
            r
            for r in self.requests
            if (service is None or r.service == service) and (path is None or re.search(path, r.path))
        ]

    # faults ------------------------------------------------------------------------------------
    def add_fault(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def take_fault(self, service: str, method: str, path: str, grant_type: str = "") -> Fault | None:
        """The first fault matching this request, consuming one of its `times`."""
        for fault in self.faults:
            if fault.matches(service, method, path, grant_type):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return fault
        return None
