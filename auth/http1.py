"""A small keep-alive HTTP/1.1 connection pool for the hot path (the Token Vault exchange, and the agent's
shared httpx client through `auth/transport.py`); answers are parsed by llhttp (Node.js's parser, through
`httptools`).

Why a pool of our own under a parser instead of httpx or aiohttp: measured side by side (bench/README.md),
httpx spends 20–60× the CPU of a minimal asyncio client per Token Vault exchange and aiohttp 3–5×; with
hundreds of runs fetching tokens at once, that CPU — not the tenant — sets the wall time. The pool only
opens, reuses and closes connections and writes requests; every byte of an answer goes through llhttp,
which owns the framing (status line, header fields, Content-Length versus chunked, duplicate or negative
lengths, interim 1xx answers, keep-alive) and refuses what RFC 9112 calls an error.

Limits, so that a broken or hostile server costs bounded memory and time: the header section
(`MAX_HEAD_BYTES`, `MAX_HEADER_FIELDS`), the body (`max_body_bytes`, counted as llhttp hands it over, so
a chunked body is never re-read), interim answers per request (`MAX_INTERIM`), and the whole exchange
(`timeout`). Every failure is one of `auth.errors`' `HTTPError` types with one sentence; a request whose
header names, values or target could split the message (CR, LF, other control bytes) is refused with
`InvalidRequest` before anything is sent.

What it does not do: proxies (with HTTP(S)_PROXY set, the Token Vault and the shared client use httpx's
own transport instead), HTTP/2, streaming request or response bodies (both are whole), decompression and
redirects (httpx does them above the transport).
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httptools

from .errors import (
    AnswerTooLarge,
    ConnectFailed,
    ConnectionClosed,
    HTTPError,
    InvalidRequest,
    MalformedAnswer,
    TimedOut,
)

__all__ = ["AnswerTooLarge", "ConnectFailed", "ConnectionClosed", "HTTPError", "InvalidRequest",
           "MalformedAnswer", "OriginClient", "Response", "TimedOut", "request_head"]

MAX_HEAD_BYTES = 64 * 1024  # the status line and header fields of one answer
MAX_HEADER_FIELDS = 256
MAX_BODY_BYTES = 16 * 1024 * 1024  # a body is read whole; token answers are < 4 KB, GitHub pages < 1 MB
MAX_INTERIM = 16  # 1xx answers before the final one
IDLE_SECONDS = 20.0  # a kept connection idle longer than this is closed rather than reused

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §5.6.2: methods and field names
_NOT_FIELD_VALUE = re.compile(rb"[^\t\x20-\x7e\x80-\xff]")  # RFC 9110 §5.5: no CR, LF, NUL or other controls
_NOT_TARGET = re.compile(rb"[^\x21-\x7e]")  # a request target is visible ASCII, no spaces


def request_head(method: bytes, target: bytes, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The request line and header fields, checked: a name that is not a token, a value with CR, LF or
    another control byte, or a target with spaces or controls raises `InvalidRequest` (nothing is sent).
    Values are never quoted in the error: they may be credentials."""
    if not _TOKEN.fullmatch(method):
        raise InvalidRequest("The request method is not a valid HTTP token; nothing was sent.")
    if not target or _NOT_TARGET.search(target):
        raise InvalidRequest("The request target contains spaces or control characters; nothing was sent.")
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            raise InvalidRequest("A request header name is not a valid HTTP token; nothing was sent.")
        if _NOT_FIELD_VALUE.search(value):
            raise InvalidRequest(f"The request header {name.decode('ascii')} contains CR, LF or another control "
                                 "character; nothing was sent.")
        parts += [name, b": ", value, b"\r\n"]
    parts.append(b"\r\n")
    return b"".join(parts)


@dataclass(frozen=True)
class Response:
    status_code: int
    headers: dict[str, str]  # lower-cased names; the last value wins
    content: bytes
    raw_headers: list[tuple[bytes, bytes]] = ()  # as received, in order

    def json(self) -> Any:
        """The body as JSON; `ValueError` when it is not."""
        return json.loads(self.content)


class _Connection(asyncio.Protocol):
    """One keep-alive connection and its llhttp parser; one request at a time, answered into `waiter`.

    The methods named `on_*` are llhttp's callbacks (called from inside `feed_data`); an error raised in
    one stops the parser, and `data_received` turns it into the request's error."""

    def __init__(self, host: str, max_body: int) -> None:
        self.host = host
        self.max_body = max_body
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Response] | None = None
        self.closed = False
        self.keep_alive = True
        self.received = False  # any byte of an answer to the current request
        self.no_body = False  # the current request is HEAD
        self.idle_since = 0.0
        self.interim = 0
        self.head_bytes = 0
        self._answer_begins()

    def _answer_begins(self) -> None:
        self.status = 0
        self.in_head = True
        self.fields: list[tuple[bytes, bytes]] = []
        self.field_bytes = 0
        self.body: list[bytes] = []
        self.body_bytes = 0
        self.until_eof = False

    def start(self, waiter: asyncio.Future[Response], *, no_body: bool) -> None:
        """Before a request is written: its answer goes to `waiter`."""
        self.waiter = waiter
        self.received = False
        self.no_body = no_body
        self.interim = 0
        self.head_bytes = 0
        self._answer_begins()

    @property
    def reusable(self) -> bool:
        return self.keep_alive and not self.closed and not self.transport.is_closing()

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:  # noqa: ARG002 - asyncio.Protocol's signature
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.until_eof and not self.in_head:  # a body delimited by the end of the connection (RFC 9112 §6.3)
            self._complete(keep_alive=False)
        elif not self.received:
            waiter.set_exception(ConnectionClosed(f"{self.host} closed the connection without answering."))
        else:
            waiter.set_exception(MalformedAnswer(f"{self.host} closed the connection in the middle of its answer."))

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost completes a body delimited by the close

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():  # bytes no request asked for: never reuse this connection
            self._fail(None)
            return
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:  # one of our limits, raised in a callback
            cause = exc.__context__
            self._fail(cause if isinstance(cause, HTTPError) else
                       MalformedAnswer(f"{self.host} sent an answer that could not be read."))
        except httptools.HttpParserUpgrade:
            self._fail(MalformedAnswer(f"{self.host} switched protocols, which no request asked for."))
        except httptools.HttpParserError as exc:
            reason = str(exc).rstrip(".") or "unreadable"
            self._fail(MalformedAnswer(f"{self.host} sent an answer that is not valid HTTP/1.1 ({reason})."))
        else:
            if self.in_head and self.waiter is not None and not self.waiter.done():
                self.head_bytes += len(data)  # everything fed so far belongs to an unfinished header section
                if self.head_bytes > MAX_HEAD_BYTES:
                    self._fail(AnswerTooLarge(f"{self.host} sent a header section larger than {MAX_HEAD_BYTES} "
                                              "bytes."))

    # -- llhttp callbacks ----------------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self.waiter is None or self.waiter.done():
            raise MalformedAnswer(f"{self.host} sent more than one answer to one request.")
        self._answer_begins()

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self.fields) >= MAX_HEADER_FIELDS:
            raise AnswerTooLarge(f"{self.host} sent more than {MAX_HEADER_FIELDS} header fields.")
        self.field_bytes += len(name) + len(value)
        if self.field_bytes > MAX_HEAD_BYTES:
            raise AnswerTooLarge(f"{self.host} sent a header section larger than {MAX_HEAD_BYTES} bytes.")
        self.fields.append((name, value))

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.head_bytes = 0
        self.status = status = self.parser.get_status_code()
        if status < 200:
            if status == 101:
                raise MalformedAnswer(f"{self.host} switched protocols, which no request asked for.")
            self.interim += 1  # 100 Continue, 103 Early Hints: the final answer follows
            if self.interim > MAX_INTERIM:
                raise MalformedAnswer(f"{self.host} sent more than {MAX_INTERIM} interim (1xx) answers to one "
                                      "request.")
            return
        if self.no_body:
            # An answer to HEAD has no body whatever its Content-Length says; llhttp cannot be told so, so
            # the answer ends here and the connection is not reused.
            self._complete(keep_alive=False)
            return
        names = {name.lower() for name, _ in self.fields}
        self.until_eof = (b"content-length" not in names and b"transfer-encoding" not in names
                          and status not in (204, 304))

    def on_body(self, chunk: bytes) -> None:
        self.body_bytes += len(chunk)
        if self.body_bytes > self.max_body:
            raise AnswerTooLarge(f"{self.host} sent an answer larger than {self.max_body} bytes.")
        self.body.append(chunk)

    def on_message_complete(self) -> None:
        if self.status < 200 or self.waiter is None or self.waiter.done():
            return  # an interim answer (the final one follows), or HEAD's, already complete
        self._complete(keep_alive=self.parser.should_keep_alive())

    # -- outcomes ------------------------------------------------------------------------------
    def _complete(self, *, keep_alive: bool) -> None:
        self.keep_alive = keep_alive
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in self.fields}
        self.waiter.set_result(Response(self.status, headers, b"".join(self.body), self.fields))

    def _fail(self, error: HTTPError | None) -> None:
        self.keep_alive = False
        if error is not None and self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)
        self.transport.close()


class OriginClient:
    """Requests to one origin over pooled keep-alive connections; `post` sends a url-encoded form.

    Connections are opened on demand, up to `max_connections` in use at once (so the exchanges of hundreds
    of concurrent runs go out together, without running out of file descriptors), and up to `max_idle` are
    kept for reuse. When a kept connection turns out closed before any byte of an answer, `post` (the
    token endpoint: no side effect a repeat could double) sends again once on a new connection; `send`
    does so only when the caller says the request is safe to repeat.
    """

    def __init__(self, base_url: str, *, timeout: float = 10.0, max_idle: int = 1024, max_connections: int = 1024,
                 max_body_bytes: int = MAX_BODY_BYTES, ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme: {base_url!r}")
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = (ssl_context or ssl.create_default_context()) if parts.scheme == "https" else None
        default_port = self.port == (443 if parts.scheme == "https" else 80)
        self.host_header = (self.host if default_port else f"{self.host}:{self.port}").encode("idna")
        self.prefix = parts.path.rstrip("/").encode("ascii")
        self.timeout = timeout
        self.max_idle = max_idle
        self.max_connections = max_connections  # requests in flight at once; more wait for a slot
        self.max_body_bytes = max_body_bytes
        self._slots: asyncio.Semaphore | None = None
        self._idle: list[_Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._form_heads: dict[bytes, bytes] = {}

    async def post(self, path: str, body: bytes) -> Response:
        """POST a url-encoded form; sent again once on a new connection if a kept one turns out closed
        (safe for the token endpoint, which has no side effect a repeat could double)."""
        target = path.encode("ascii")
        head = self._form_heads.get(target)
        if head is None:  # checked once per path; only the length changes between requests
            head = self._form_heads[target] = request_head(b"POST", self.prefix + target, [
                (b"Host", self.host_header), (b"Accept", b"application/json"),
                (b"Content-Type", b"application/x-www-form-urlencoded")])[:-2]
        return await self._request(b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body),
                                   no_body=False, resend_if_stale=True, timeout=None)

    async def send(self, method: bytes, target: bytes, headers: Iterable[tuple[bytes, bytes]], body: bytes = b"", *,
                   resend_if_stale: bool, timeout: float | None = None) -> Response:
        """Send one request (`headers` as given, Host included) and read its answer. `resend_if_stale`
        allows a second attempt when a reused keep-alive connection was closed before any byte of an
        answer: only for requests that are safe to repeat. `InvalidRequest` before sending when a header
        or the target could split the message."""
        head = request_head(method, target, headers)
        return await self._request(head + body, no_body=method == b"HEAD", resend_if_stale=resend_if_stale,
                                   timeout=timeout)

    async def _request(self, request: bytes, *, no_body: bool, resend_if_stale: bool,
                       timeout: float | None) -> Response:
        timeout = self.timeout if timeout is None else timeout
        if asyncio.get_running_loop() is not self._loop:  # connections belong to the loop that opened them
            self._idle.clear()
            self._loop = asyncio.get_running_loop()
            self._slots = asyncio.Semaphore(self.max_connections)
        try:
            async with asyncio.timeout(timeout), self._slots:
                conn, reused = await self._acquire()
                try:
                    return await self._exchange(conn, request, no_body)
                except ConnectionClosed:
                    if not (resend_if_stale and reused):
                        raise
                conn, _ = await self._acquire(fresh=True)  # the server had closed the kept connection
                return await self._exchange(conn, request, no_body)
        except TimeoutError:
            raise TimedOut(f"{self.host} did not answer within {timeout:g} s.") from None
        except OSError as exc:
            raise ConnectFailed(f"{self.host} could not be reached ({exc.strerror or exc}).") from None

    async def _exchange(self, conn: _Connection, request: bytes, no_body: bool) -> Response:
        waiter = self._loop.create_future()
        conn.start(waiter, no_body=no_body)
        conn.transport.write(request)
        try:
            response = await waiter
        except BaseException:
            conn.keep_alive = False
            conn.transport.close()  # a cancelled or failed request leaves the connection mid-answer
            raise
        finally:
            conn.waiter = None
        self._release(conn)
        return response

    async def _acquire(self, fresh: bool = False) -> tuple[_Connection, bool]:
        now = time.monotonic()
        while self._idle and not fresh:
            conn = self._idle.pop()
            if conn.reusable and now - conn.idle_since < IDLE_SECONDS:
                return conn, True
            conn.transport.close()
        _, conn = await self._loop.create_connection(lambda: _Connection(self.host, self.max_body_bytes),
                                                     self.host, self.port, ssl=self.ssl,
                                                     server_hostname=self.host if self.ssl else None)
        return conn, False

    def _release(self, conn: _Connection) -> None:
        if conn.reusable and len(self._idle) < self.max_idle:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            conn.transport.close()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.transport.close()
