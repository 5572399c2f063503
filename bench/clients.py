"""The clients compared in the wire benchmark, each doing one Token Vault exchange per call.

- `FloorClient`: a hand-written asyncio HTTP/1.1 client (a `Protocol` per connection, a free list of
  keep-alive connections, Content-Length bodies only). It does what any client must — encode the form,
  write the request, parse status, headers and JSON — and nothing else: the wire floor.
- `AiohttpClient`: aiohttp's `ClientSession` used the plain way.
- `HttpxClient`: httpx's default `AsyncClient` (httpcore/anyio/h11), the HTTP path before #14.
- `HttpxHttp1Client`: httpx's API over `auth.transport.Http1Transport`, the agent's shared client (GitHub,
  linking, Management API).
- `VaultClient`: ours, `auth.token_vault.TokenVault.get_token` for a distinct user per call (so every
  call is a real exchange, with its cache, single-flight and error typing), on `auth/http1.py`'s pool with
  llhttp parsing the answers.

The floor is bench-only: the product parses no HTTP by hand.

Each exposes `async exchange(i)` and `aclose()`; all post the same form to the same endpoint.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode, urlsplit

from auth.token_vault import GRANT_TYPE, REQUESTED_TOKEN_TYPE


def token_form(i: int) -> dict[str, str]:
    return {
        "grant_type": GRANT_TYPE, "client_id": "bench-client", "client_secret": "bench-secret",
        "subject_token": f"refresh-token-of-user-{i:06d}",
        "subject_token_type": "urn:ietf:params:oauth:token-type:refresh_token",
        "requested_token_type": REQUESTED_TOKEN_TYPE, "connection": "github",
    }


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.waiter: asyncio.Future | None = None
        self.closed = False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:  # noqa: ARG002 - asyncio.Protocol's signature
        self.closed = True
        if self.waiter and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        length = 0
        lines = self.buffer[:head_end].split(b"\r\n")
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        end = head_end + 4 + length
        if len(self.buffer) >= end:
            status = int(lines[0].split(b" ", 2)[1])
            body, self.buffer = self.buffer[head_end + 4:end], self.buffer[end:]
            if self.waiter and not self.waiter.done():
                self.waiter.set_result((status, body))


class FloorClient:
    name = "hand-written asyncio (floor)"

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.path = parts.path + "/oauth/token"
        self.idle: list[_Connection] = []

    async def exchange(self, i: int) -> str:
        conn = None
        while self.idle:
            candidate = self.idle.pop()
            if not candidate.closed:
                conn = candidate
                break
        if conn is None:
            _, conn = await asyncio.get_running_loop().create_connection(_Connection, self.host, self.port)
        body = urlencode(token_form(i)).encode()
        conn.waiter = asyncio.get_running_loop().create_future()
        conn.transport.write(
            f"POST {self.path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
            f"content-type: application/x-www-form-urlencoded\r\ncontent-length: {len(body)}\r\n\r\n".encode() + body)
        status, payload = await conn.waiter
        conn.waiter = None
        self.idle.append(conn)
        if status != 200:
            raise RuntimeError(f"HTTP {status}")
        return json.loads(payload)["access_token"]

    async def aclose(self) -> None:
        for conn in self.idle:
            conn.transport.close()
        self.idle.clear()


class AiohttpClient:
    name = "aiohttp ClientSession"

    def __init__(self, base_url: str) -> None:
        import aiohttp

        self.url = base_url + "/oauth/token"
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def exchange(self, i: int) -> str:
        async with self.session.post(self.url, data=token_form(i)) as response:
            response.raise_for_status()
            return (await response.json())["access_token"]

    async def aclose(self) -> None:
        await self.session.close()


class HttpxClient:
    name = "httpx AsyncClient (default transport)"
    slow = True

    def __init__(self, base_url: str) -> None:
        import httpx

        self.url = base_url + "/oauth/token"
        self.http = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=None, max_keepalive_connections=None))

    async def exchange(self, i: int) -> str:
        response = await self.http.post(self.url, data=token_form(i))
        response.raise_for_status()
        return response.json()["access_token"]

    async def aclose(self) -> None:
        await self.http.aclose()


class VaultClient:
    name = "ours: TokenVault.get_token"

    def __init__(self, base_url: str) -> None:
        from auth.settings import Settings
        from auth.token_vault import TokenVault

        self.vault = TokenVault(Settings(_env_file=None, auth0_domain=base_url, auth0_client_id="bench-client",
                                         auth0_client_secret="bench-secret"))
        self.round = 0

    async def exchange(self, i: int) -> str:
        from auth.credentials import UserCredentials

        # a new subject token each call and round: never a cache hit, always an exchange
        user = UserCredentials(f"auth0|user-{i:06d}", refresh_token=f"refresh-{self.round}-{i:06d}")
        return (await self.vault.get_token(user, "github", ["repo"])).access_token

    def next_round(self) -> None:
        self.round += 1

    async def aclose(self) -> None:
        await self.vault.aclose()


class HttpxHttp1Client(HttpxClient):
    name = "httpx API over auth.transport (agent's shared client)"
    slow = False

    def __init__(self, base_url: str) -> None:
        import httpx

        from auth.transport import Http1Transport

        self.url = base_url + "/oauth/token"
        self.http = httpx.AsyncClient(timeout=60, transport=Http1Transport(max_idle_per_origin=2048))
