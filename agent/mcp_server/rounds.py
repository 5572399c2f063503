"""How a tool call that needs a linked account is answered, per the protocol version the client negotiated.

- **2026-07-28** (stateless): an input-required result (`resultType: "input_required"`) with one URL request
  under `inputRequests` and a `requestState` naming the pending link. The SDK seals that state (AES-GCM
  under the server's key, `request_state_key`) and binds it to the token's principal — client, issuer and
  user — to the tool and its arguments, with an expiry, so a client can neither forge it nor replay it for
  another user. The retry carrying it waits a while for the link to be answered (the callback may land on
  any process sharing the database), then runs the tool. While the user is still on the link page the
  answer is a state-only input-required result: the client retries without asking the user again.
  No `-32042`, no `elicitationId`, no completion notification on this version.
- **2025-11-25** (sessions): JSON-RPC error -32042 with the URL and an `elicitationId`; the completion
  notification follows when the callback lands (`elicitation.py`).
- A client that does not declare URL elicitation (e.g. one with form elicitation only) gets the link in
  the tool's text on either version: the model shows it to the user, who opens it and asks again.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from langgraph.store.base import BaseStore
from mcp.types import CallToolResult, ElicitRequest, ElicitRequestURLParams, InputRequiredResult, TextContent
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from .elicitation import ELICITATIONS

LINK_REQUEST = "link"  # the key of our one URL request in `inputRequests` / `inputResponses`
RETRY_WAIT_SECONDS = 20.0  # how long a 2026-07-28 retry waits for the link to be answered before saying "still waiting"
POLL_SECONDS = 0.25
KEYS = ("vault_agent", "mcp_keys")  # the request-state key, shared by every process on one database


def is_stateless(context: Any) -> bool:
    """True when this request speaks 2026-07-28 (or later): no session, no server-sent messages."""
    return context.protocol_version in MODERN_PROTOCOL_VERSIONS


def supports_url_elicitation(context: Any) -> bool:
    """Whether the client declared URL elicitation (per request on 2026-07-28, at initialize before)."""
    capabilities = context.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and elicitation.url is not None


def link_in_text(ask: ElicitRequestURLParams) -> CallToolResult:
    """The fallback: the link as the tool's answer, for the model to show."""
    return CallToolResult(content=[TextContent(type="text", text=f"{ask.message} Open {ask.url}")], is_error=True)


def input_required(ask: ElicitRequestURLParams, pending_id: str) -> InputRequiredResult:
    """Ask the client to send the user to the link page; `pending_id` is sealed by the SDK on the way out."""
    request = ElicitRequest(params=ElicitRequestURLParams(mode="url", message=ask.message, url=ask.url))
    return InputRequiredResult(input_requests={LINK_REQUEST: request}, request_state=pending_id)


def still_waiting(pending_id: str) -> InputRequiredResult:
    """The user has the link but has not finished: retry later, nothing new to ask."""
    return InputRequiredResult(request_state=pending_id)


def client_declined(context: Any) -> bool:
    """The user refused to open the link in the client (its URL request answered decline or cancel)."""
    answer = (context.input_responses or {}).get(LINK_REQUEST)
    return getattr(answer, "action", None) in ("decline", "cancel")


async def pending_record(store: BaseStore, pending_id: str, sub: str) -> dict[str, Any] | None:
    """The pending link named by a retry's state, if it is this user's (the state is already bound to the
    token's principal; this is the second lock)."""
    item = await store.aget(ELICITATIONS, pending_id) if pending_id else None
    if item is None or item.value.get("sub") != sub:
        return None
    return item.value


async def wait_until_answered(store: BaseStore, pending_id: str, sub: str,
                              timeout: float = RETRY_WAIT_SECONDS) -> None:
    """Return when the link is no longer pending (authorized links are deleted, declined ones marked), it
    expired, or `timeout` passed. Reads the shared store, so the callback may have landed anywhere."""
    deadline = time.monotonic() + timeout
    while True:
        record = await pending_record(store, pending_id, sub)
        if record is None or record.get("status") != "pending" or float(record.get("expires_at", 0)) <= time.time():
            return
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(POLL_SECONDS)


async def request_state_key(store: BaseStore) -> bytes:
    """The key the SDK seals `requestState` with: made once, kept in the database of `VAULT_AGENT_DB_URL`,
    so a state minted before a restart (or by another process on that database) still opens. Two processes
    starting at once may both write one; reading back after writing makes them agree on the last."""
    item = await store.aget(KEYS, "request_state")
    if item is None:
        await store.aput(KEYS, "request_state", {"key": os.urandom(32).hex()})
        item = await store.aget(KEYS, "request_state")
    assert item is not None
    return bytes.fromhex(item.value["key"])
