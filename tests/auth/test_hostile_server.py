"""The HTTP client against a hostile loopback server: every malformed answer ends with a typed error (one
sentence) in bounded time and memory, while the event loop stays responsive (a ticker task keeps ticking).

Each case is an asyncio server in this test that reads one request and answers it with the bytes under
test. The same answers reach `TokenVault.get_token` (the Token Vault exchange) and the agent's shared
httpx client (`auth.transport`), where they must come out as the types those callers handle."""

from __future__ import annotations

import asyncio
import time
import tracemalloc

import httpx
import pytest

from auth.credentials import UserCredentials
from auth.errors import (
    AnswerTooLarge,
    AuthError,
    HTTPError,
    InvalidRequest,
    MalformedAnswer,
    TransientError,
    UnexpectedAnswer,
)
from auth.http1 import MAX_HEAD_BYTES, MAX_INTERIM, OriginClient
from auth.settings import Settings
from auth.token_endpoint import token_request
from auth.token_vault import TokenVault
from auth.transport import Http1Transport

TOKEN = b'{"access_token": "provider-token", "expires_in": 3600, "scope": "repo"}'
CASE_SECONDS = 10.0  # every case must end well within this; the ticker shows the loop never stalled
LOOP_STALL_SECONDS = 2.0  # longest pause between ticks allowed (the old parser stalled the loop for good)


class Hostile:
    """A loopback server answering every request with `answer(writer)`; counts requests and bytes sent."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.connections = 0
        self.sent = 0

    async def __aenter__(self) -> "Hostile":
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                self.requests.append(head + await reader.readexactly(length))
                await self.answer(self, writer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        self.sent += len(data)
        writer.write(data)


def once(data: bytes, *, close: bool = False):
    async def answer(server: Hostile, writer: asyncio.StreamWriter) -> None:
        server.write(writer, data)
        if close:
            await writer.drain()
            writer.close()
    return answer


async def endless(server: Hostile, writer: asyncio.StreamWriter, head: bytes, unit: bytes) -> None:
    """`head`, then `unit` over and over until the client hangs up (or 200 MB have gone out)."""
    server.write(writer, head)
    while server.sent < 200 * 1024 * 1024:
        server.write(writer, unit)
        await writer.drain()


async def responsive(coro):
    """Run `coro` (bounded by CASE_SECONDS) beside a ticker; return its exception and the longest gap
    between ticks (how long the event loop was unavailable at a stretch)."""
    gaps: list[float] = []

    async def ticker():
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.005)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    try:
        async with asyncio.timeout(CASE_SECONDS):
            await coro
    except Exception as exc:  # noqa: BLE001 - the point is to look at what came out
        error = exc
    else:
        error = None
    await asyncio.sleep(0.02)  # the ticker's next ticks: the gap spanning the case is measured too
    ticking.cancel()
    assert gaps, "the ticker never ran: the event loop was blocked"
    return error, max(gaps)


def one_sentence(error: BaseException) -> bool:
    text = str(error)
    return text.endswith(".") and "\n" not in text and (text[0].isupper() or text[0].isdigit())


# -- the malformed answers, each at the pool ---------------------------------------------------------
ANSWERS = {
    "negative chunk size": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-6\r\nabcdef\r\n0\r\n\r\n",
                            MalformedAnswer, "not valid HTTP/1.1"),
    "two differing Content-Length": (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: "
                                     + str(len(TOKEN)).encode() + b"\r\n\r\n" + TOKEN, MalformedAnswer,
                                     "not valid HTTP/1.1"),
    "Content-Length and chunked": (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   b"2\r\n{}\r\n0\r\n\r\n", MalformedAnswer, "not valid HTTP/1.1"),
    "5,000 100 Continue": (b"HTTP/1.1 100 Continue\r\n\r\n" * 5000 + b"HTTP/1.1 200 OK\r\nContent-Length: "
                           + str(len(TOKEN)).encode() + b"\r\n\r\n" + TOKEN, MalformedAnswer,
                           f"more than {MAX_INTERIM} interim"),
    "garbage status line": (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", MalformedAnswer, "not valid HTTP/1.1"),
    "status without a code": (b"HTTP/1.1 OK\r\nContent-Length: 0\r\n\r\n", MalformedAnswer, "not valid HTTP/1.1"),
    "header line without a colon": (b"HTTP/1.1 200 OK\r\nContent-Length 2\r\n\r\n{}", MalformedAnswer,
                                    "not valid HTTP/1.1"),
    "bare LF in a header value": (b"HTTP/1.1 200 OK\r\nX-A: b\nInjected: 1\r\nContent-Length: 2\r\n\r\n{}",
                                  MalformedAnswer, "not valid HTTP/1.1"),
    "switching protocols": (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
                            MalformedAnswer, "switched protocols"),
}


@pytest.mark.parametrize("case", list(ANSWERS), ids=list(ANSWERS))
async def test_malformed_answer_is_a_typed_error(case):
    data, kind, words = ANSWERS[case]
    async with Hostile(once(data)) as server:
        client = OriginClient(server.url, timeout=CASE_SECONDS / 2)
        error, gap = await responsive(client.post("/oauth/token", b"a=1"))
        await client.aclose()
    assert isinstance(error, kind) and isinstance(error, TransientError), repr(error)
    assert words in str(error) and one_sentence(error) and "127.0.0.1" in str(error)
    assert gap < LOOP_STALL_SECONDS
    assert len(server.requests) == 1  # never sent again: the answer, not the connection, was at fault


async def test_body_cut_off_is_a_typed_error():
    async with Hostile(once(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"access", close=True)) as server:
        client = OriginClient(server.url)
        error, gap = await responsive(client.post("/oauth/token", b"a=1"))
    assert isinstance(error, MalformedAnswer) and "in the middle of its answer" in str(error) and gap < LOOP_STALL_SECONDS
    assert one_sentence(error)


async def test_chunked_body_cut_off_is_a_typed_error():
    async with Hostile(once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"acc", close=True)) as server:
        client = OriginClient(server.url)
        error, _ = await responsive(client.post("/oauth/token", b"a=1"))
    assert isinstance(error, MalformedAnswer) and "in the middle of its answer" in str(error)


async def test_huge_chunked_body_stops_at_the_size_limit_in_bounded_memory():
    limit = 1024 * 1024
    unit = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"  # 64 KiB chunks, forever

    async def answer(server, writer):
        await endless(server, writer, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", unit)

    async with Hostile(answer) as server:
        client = OriginClient(server.url, max_body_bytes=limit)
        tracemalloc.start()
        try:
            error, gap = await responsive(client.post("/oauth/token", b"a=1"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert isinstance(error, AnswerTooLarge) and f"larger than {limit} bytes" in str(error), repr(error)
    assert peak < 8 * limit, f"peak {peak} bytes while reading a body capped at {limit}"
    assert server.sent < 32 * limit  # the client hung up soon after the limit (socket buffers aside)
    assert gap < LOOP_STALL_SECONDS and one_sentence(error)


@pytest.mark.parametrize("unit", [b"X-Filler: " + b"y" * 50 + b"\r\n", b"z" * 4096],
                         ids=["endless header fields", "endless header value"])
async def test_endless_header_section_stops_at_the_limit(unit):
    async def answer(server, writer):
        await endless(server, writer, b"HTTP/1.1 200 OK\r\nX-Start: " if unit.startswith(b"z") else
                      b"HTTP/1.1 200 OK\r\n", unit)

    async with Hostile(answer) as server:
        client = OriginClient(server.url)
        error, gap = await responsive(client.post("/oauth/token", b"a=1"))
    assert isinstance(error, AnswerTooLarge) and "header" in str(error), repr(error)
    assert server.sent < 64 * MAX_HEAD_BYTES and gap < LOOP_STALL_SECONDS


async def test_well_formed_chunked_answer_after_interim_answers_is_read():
    """The control case: the same server, a valid answer (two 1xx, chunk extensions, a trailer) is read."""
    data = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"7\r\n{\"error\r\na;ext=1\r\n\": \"slow\"}\r\n0\r\nX-Trailer: 1\r\n\r\n")
    async with Hostile(once(data)) as server:
        client = OriginClient(server.url)
        response = await client.post("/oauth/token", b"a=1")
        again = await client.post("/oauth/token", b"a=2")  # the connection was kept and is reused
        await client.aclose()
    assert (response.status_code, response.headers["retry-after"], response.json()) == (429, "3", {"error": "slow"})
    assert again.status_code == 429 and server.connections == 1


# -- a request header that could split the message -----------------------------------------------------
@pytest.mark.parametrize("value", [b"a\r\nInjected: 1", b"a\nb", b"a\rb", b"a\x00b"], ids=["CRLF", "LF", "CR", "NUL"])
async def test_header_value_with_cr_or_lf_is_refused_before_sending(value):
    async with Hostile(once(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")) as server:
        client = OriginClient(server.url)
        with pytest.raises(InvalidRequest) as err:
            await client.send(b"GET", b"/user", [(b"Host", b"127.0.0.1"), (b"X-Note", value)], resend_if_stale=True)
        assert not isinstance(err.value, TransientError) and "X-Note" in str(err.value)
        assert value not in str(err.value).encode() and one_sentence(err.value)
        with pytest.raises(InvalidRequest):
            await client.send(b"GET", b"/a b", [(b"Host", b"127.0.0.1")], resend_if_stale=True)
        # Through httpx's API (the shared client): httpx's own error type, nothing sent either.
        async with httpx.AsyncClient(transport=Http1Transport()) as http:
            with pytest.raises(httpx.LocalProtocolError) as err:
                await http.get(server.url + "/user", headers={"X-Note": value.decode("latin-1")})
            assert isinstance(err.value.__cause__, InvalidRequest)
            assert (await http.get(server.url + "/user")).status_code == 200  # the client carries on
        await client.aclose()
    assert len(server.requests) == 1 and b"X-Note" not in server.requests[0]


async def test_malformed_answer_through_httpx_is_remote_protocol_error():
    async with Hostile(once(ANSWERS["negative chunk size"][0])) as server:
        async with httpx.AsyncClient(transport=Http1Transport()) as http:
            error, gap = await responsive(http.get(server.url + "/repos/a/b/issues"))
    assert isinstance(error, httpx.RemoteProtocolError) and isinstance(error.__cause__, MalformedAnswer)
    assert gap < LOOP_STALL_SECONDS


# -- the Token Vault exchange and the token endpoint on the same answers ---------------------------------
def settings_for(url: str) -> Settings:
    return Settings(_env_file=None, auth0_domain=url, auth0_client_id="cid", auth0_client_secret="secret",
                    http_timeout_seconds=CASE_SECONDS / 4)


USER = UserCredentials("auth0|hostile", refresh_token="refresh-token")


@pytest.mark.parametrize("case", ["negative chunk size", "two differing Content-Length", "5,000 100 Continue",
                                  "garbage status line"])
async def test_get_token_on_a_malformed_answer_is_a_transient_error(case):
    async with Hostile(once(ANSWERS[case][0])) as server:
        async with TokenVault(settings_for(server.url), backoff_base=0.01) as vault:
            error, gap = await responsive(vault.get_token(USER, "github", ["repo"]))
    assert type(error) is TransientError and "gave up after 3 attempts" in str(error), repr(error)
    assert isinstance(error.__cause__, HTTPError) or error.__cause__ is None
    assert len(server.requests) == 3 and gap < LOOP_STALL_SECONDS  # bounded retries, never a token


def _http_200(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


NOT_A_TOKEN = {
    "not JSON": b"<html>Service paused</html>",
    "empty object": b"{}",
    "array": b"[]",
    "expires_in abc": b'{"access_token": "t", "expires_in": "abc"}',
    "empty token": b'{"access_token": ""}',
    "token not a string": b'{"access_token": {"a": 1}}',
    "expires_in NaN": b'{"access_token": "t", "expires_in": NaN}',
    "expires_in negative": b'{"access_token": "t", "expires_in": -5}',
    "scope a list": b'{"access_token": "t", "scope": ["repo"]}',
}


@pytest.mark.parametrize("case", list(NOT_A_TOKEN), ids=list(NOT_A_TOKEN))
async def test_a_200_that_is_not_a_token_is_a_typed_error(case):
    async with Hostile(once(_http_200(NOT_A_TOKEN[case]))) as server:
        settings = settings_for(server.url)
        async with TokenVault(settings, backoff_base=0.01) as vault:
            with pytest.raises(UnexpectedAnswer) as err:
                await vault.get_token(USER, "github", ["repo"])
        assert "not a token" in str(err.value) and one_sentence(err.value) and err.value.retryable
        async with httpx.AsyncClient(transport=Http1Transport()) as http:  # login, refresh, code exchange
            with pytest.raises(UnexpectedAnswer):
                await token_request(http, settings, {"grant_type": "refresh_token", "refresh_token": "r"})
    assert len(server.requests) == 2  # one each: a 200 is an answer, not something to retry


async def test_a_well_formed_token_still_comes_back():
    async with Hostile(once(_http_200(TOKEN))) as server:
        async with TokenVault(settings_for(server.url)) as vault:
            token = await vault.get_token(USER, "github", ["repo"])
    assert token.access_token == "provider-token" and token.scopes == {"repo"}
    assert issubclass(UnexpectedAnswer, AuthError)
