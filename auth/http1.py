"""A small keep-alive HTTP/1.1 client for the one request on the hot path: POST a form, read JSON back.

Why not httpx or aiohttp here: measured side by side (bench/README.md), httpx spends 20–35× the CPU of a
hand-written asyncio client per Token Vault exchange and aiohttp ≈ 3–4×; with hundreds of runs fetching
tokens at once, that CPU — not the tenant — sets the wall time. The exchange needs little of HTTP: one
POST with a form body, a JSON answer with Content-Length (or chunked), TLS, keep-alive. This does only
that, on `asyncio.Protocol`, and everything else in the project keeps using httpx.

`auth/transport.py` puts the same client under httpx's API for the agent's other calls (GitHub, linking,
Management API): they keep httpx's interface and lose most of its per-request CPU.

What it does not do: proxies (with HTTP(S)_PROXY set, the Token Vault and the shared client use httpx's
own transport instead), HTTP/2, streaming request or response bodies (both are read whole), decompression
and redirects (httpx does them above the transport).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MAX_RESPONSE_BYTES = 32 * 1024 * 1024  # a response is read whole: a broken or hostile peer cannot make it unbounded
IDLE_SECONDS = 20.0  # a kept connection idle longer than this is closed rather than reused


class HTTPError(Exception):
    """The request did not get an answer: refused, reset, timed out or a malformed response."""


class ConnectFailed(HTTPError):
    """No connection could be opened (nothing was sent)."""


class TimedOut(HTTPError):
    """No complete answer within the timeout."""


@dataclass(frozen=True)
class Response:
    status_code: int
    headers: dict[str, str]  # lower-cased names; the last value wins
    content: bytes
    raw_headers: list[tuple[bytes, bytes]] = ()  # as received, in order

    def json(self) -> Any:
        return json.loads(self.content)


class _Connection(asyncio.Protocol):
    """One keep-alive connection; parses one response at a time into `waiter`."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[Response] | None = None
        self.closed = False
        self.keep_alive = True
        self.received = False  # any byte of the current response
        self.no_body = False  # the current request was HEAD
        self.idle_since = 0.0

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            if not self.received or not self._finish(eof=True):
                waiter.set_exception(HTTPError(f"connection closed ({exc or 'EOF'})"))

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost completes a read-to-close body

    def data_received(self, data: bytes) -> None:
        self.received = True
        self.buffer += data
        if len(self.buffer) > MAX_RESPONSE_BYTES:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(HTTPError(f"response larger than {MAX_RESPONSE_BYTES} bytes"))
            self.transport.close()
            return
        if self.waiter is not None and not self.waiter.done():
            try:
                self._finish(eof=False)
            except (ValueError, IndexError) as exc:
                self.waiter.set_exception(HTTPError(f"malformed response: {exc}"))
                self.transport.close()

    # -- parsing -------------------------------------------------------------------------------
    def _finish(self, *, eof: bool) -> bool:
        """Complete the waiter if the buffer holds a whole response; True when it did."""
        buffer = self.buffer
        head_end = buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return False
        lines = bytes(buffer[:head_end]).decode("latin-1").split("\r\n")
        version, status, *_ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        raw: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip(), value.strip()
            headers[name.lower()] = value
            raw.append((name.encode("latin-1"), value.encode("latin-1")))
        start = head_end + 4
        if status.startswith("1"):  # an interim response: drop it, wait for the real one
            del buffer[:start]
            return self._finish(eof=eof)
        if self.no_body or status in ("204", "304"):
            body, end = b"", start
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body, end = _dechunk(buffer, start)
            if body is None:
                return False
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if length < 0:
                raise ValueError("negative Content-Length")
            end = start + length
            if len(buffer) < end:
                return False
            body = bytes(buffer[start:end])
        elif eof:
            end, body = len(buffer), bytes(buffer[start:])
            self.keep_alive = False
        else:
            return False  # the body runs to the end of the connection
        del buffer[:end]
        if headers.get("connection", "").lower() == "close" or version == "HTTP/1.0":
            self.keep_alive = False
        self.waiter.set_result(Response(int(status), headers, body, raw))
        return True


def _dechunk(buffer: bytearray, pos: int) -> tuple[bytes | None, int]:
    body = bytearray()
    while True:
        line_end = buffer.find(b"\r\n", pos)
        if line_end < 0:
            return None, 0
        size = int(bytes(buffer[pos:line_end]).split(b";", 1)[0], 16)
        pos = line_end + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n\r\n", pos - 2)
            if trailer_end < 0:
                return None, 0
            return bytes(body), trailer_end + 4
        if len(buffer) < pos + size + 2:
            return None, 0
        body += buffer[pos:pos + size]
        pos += size + 2


class OriginClient:
    """Requests to one origin over pooled keep-alive connections; `post` sends a url-encoded form.

    Connections are opened on demand, up to `max_connections` in use at once (so the exchanges of hundreds
    of concurrent runs go out together, without running out of file descriptors), and up to `max_idle` are
    kept for reuse. When a kept connection turns out closed before any byte of an answer, `post` (the
    token endpoint: no side effect a repeat could double) sends again once on a new connection; `send`
    does so only when the caller says the request is safe to repeat.
    """

    def __init__(self, base_url: str, *, timeout: float = 10.0, max_idle: int = 1024, max_connections: int = 1024,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme: {base_url!r}")
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = (ssl_context or ssl.create_default_context()) if parts.scheme == "https" else None
        default_port = self.port == (443 if parts.scheme == "https" else 80)
        self.host_header = self.host if default_port else f"{self.host}:{self.port}"
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.max_idle = max_idle
        self.max_connections = max_connections  # requests in flight at once; more wait for a slot
        self._slots: asyncio.Semaphore | None = None
        self._idle: list[_Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def post(self, path: str, body: bytes) -> Response:
        """POST a form; sent again once on a new connection if a kept one turns out closed (safe for the
        token endpoint, which has no side effect a repeat could double)."""
        head = (f"POST {self.prefix}{path} HTTP/1.1\r\nHost: {self.host_header}\r\nAccept: application/json\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        return await self.send(head + body, resend_if_stale=True)

    async def send(self, request: bytes, *, resend_if_stale: bool, head: bool = False,
                   timeout: float | None = None) -> Response:
        """Send one whole request (head and body) and read its response. `resend_if_stale` allows a second
        attempt when a reused keep-alive connection was closed before any byte of an answer: only for
        requests that are safe to repeat."""
        timeout = self.timeout if timeout is None else timeout
        if asyncio.get_running_loop() is not self._loop:  # connections belong to the loop that opened them
            self._idle.clear()
            self._loop = asyncio.get_running_loop()
            self._slots = asyncio.Semaphore(self.max_connections)
        try:
            async with asyncio.timeout(timeout), self._slots:
                conn, reused = await self._acquire()
                try:
                    return await self._send(conn, request, head)
                except HTTPError:
                    if not (resend_if_stale and reused and not conn.received):
                        raise
                conn, _ = await self._acquire(fresh=True)  # the server had closed the kept connection
                return await self._send(conn, request, head)
        except TimeoutError:
            raise TimedOut(f"no answer from {self.host} within {timeout:g} s") from None
        except OSError as exc:
            raise ConnectFailed(f"cannot reach {self.host}: {exc.strerror or exc}") from None

    async def _send(self, conn: _Connection, request: bytes, head: bool = False) -> Response:
        conn.waiter = self._loop.create_future()
        conn.received = False
        conn.no_body = head
        conn.transport.write(request)
        try:
            response = await conn.waiter
        except BaseException:
            conn.transport.close()  # a cancelled or failed request leaves the connection mid-response
            raise
        conn.waiter = None
        self._release(conn)
        return response

    async def _acquire(self, fresh: bool = False) -> tuple[_Connection, bool]:
        loop = self._loop
        now = time.monotonic()
        while self._idle and not fresh:
            conn = self._idle.pop()
            if not conn.closed and now - conn.idle_since < IDLE_SECONDS:
                return conn, True
            conn.transport.close()
        _, conn = await loop.create_connection(_Connection, self.host, self.port, ssl=self.ssl,
                                               server_hostname=self.host if self.ssl else None)
        return conn, False

    def _release(self, conn: _Connection) -> None:
        if conn.keep_alive and not conn.closed and not conn.buffer and len(self._idle) < self.max_idle:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            conn.transport.close()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.transport.close()
