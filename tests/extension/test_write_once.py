"""`ToolCall.write_once`, the rule any protected tool's write can use when its provider has no idempotency
key: a slow attempt is awaited rather than repeated, a lost answer is looked for (by the call's key) before
one more attempt, and an attempt past the bound is never followed by a second one.

The provider is a loopback HTTP server that creates "contacts" (counted) and misbehaves on its first
create as each case says; the tool's client is httpx over `auth.transport`, with a short timeout."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from auth.transport import Http1Transport
from tools.protect import ToolCall, WriteUnconfirmed
from tools.provider_errors import ProviderUnreachable

CLIENT_TIMEOUT = 0.3


class Contacts:
    """POST /contacts {"name", "key"} creates one; GET /contacts?key=K lists those with that key. The first
    POST does `first` ("slow": answers after `delay` s, creating at the end; "drop_after": creates, then
    closes without answering; "drop_before": closes without creating)."""

    def __init__(self, first: str, delay: float = 0.0) -> None:
        self.first, self.delay = first, delay
        self.created: list[dict] = []
        self.posts = 0

    async def __aenter__(self) -> "Contacts":
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    async def _handle(self, reader, writer) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *fields = head.decode("latin-1").split("\r\n")
                length = next((int(f.split(":")[1]) for f in fields if f.lower().startswith("content-length:")), 0)
                body = await reader.readexactly(length)
                method, target, _ = line.split(" ")
                if method == "POST":
                    self.posts += 1
                    behaviour = self.first if self.posts == 1 else "ok"
                    if behaviour == "drop_before":
                        return
                    if behaviour == "slow":
                        await asyncio.sleep(self.delay)
                    contact = {**json.loads(body), "id": len(self.created) + 1}
                    self.created.append(contact)
                    if behaviour == "drop_after":
                        return
                    answer = contact
                else:
                    key = parse_qs(urlsplit(target).query).get("key", [""])[0]
                    answer = [c for c in self.created if c["key"] == key]
                data = json.dumps(answer).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(data), data))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def add_contact(http: httpx.AsyncClient, base: str, call: ToolCall, name: str, within: float) -> dict:
    """A write tool's body, as a developer would write it with `write_once`."""
    async def send() -> dict:
        try:  # no client timeout of its own: write_once bounds the attempt
            return (await http.post(f"{base}/contacts", json={"name": name, "key": call.key()}, timeout=None)).json()
        except httpx.TransportError as exc:
            raise ProviderUnreachable(f"Acme could not be reached ({type(exc).__name__})") from exc

    async def find() -> dict | None:
        found = (await http.get(f"{base}/contacts", params={"key": call.key()})).json()
        return found[0] if found else None

    return await call.write_once(send, find, provider="Acme", within=within)


@pytest.fixture
async def http():
    async with httpx.AsyncClient(transport=Http1Transport(), timeout=CLIENT_TIMEOUT) as client:
        yield client


@pytest.mark.parametrize("first", ["slow", "drop_after", "drop_before"])
async def test_one_contact_whatever_the_first_attempt_did(http, first):
    call = ToolCall("thread-1", f"call-{first}")
    async with Contacts(first, delay=4 * CLIENT_TIMEOUT) as acme:  # slow: well past the client's timeout
        contact = await add_contact(http, acme.url, call, "Ada", within=5.0)
        await asyncio.sleep(0.1)
    assert contact["name"] == "Ada" and contact["key"] == call.key()
    assert len(acme.created) == 1
    assert acme.posts == (2 if first == "drop_before" else 1)  # sent again only when nothing had landed


async def test_past_the_bound_it_is_not_sent_again_and_lands_once(http):
    call = ToolCall("thread-1", "call-bound")
    async with Contacts("slow", delay=1.0) as acme:
        with pytest.raises(WriteUnconfirmed) as err:
            await add_contact(http, acme.url, call, "Ada", within=0.3)
        assert "not sent again" in str(err.value) and "\n" not in str(err.value)
        assert acme.created == []  # still in flight at the provider when the tool gave its answer
        await asyncio.sleep(1.0)
    assert len(acme.created) == 1 and acme.posts == 1  # it landed, once
