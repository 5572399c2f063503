"""auth.transport.Http1Transport under a real httpx.AsyncClient against a loopback server: what httpx
callers rely on (query strings, gzip decoding, redirects, HEAD, error types) and that a POST is never sent
twice when a kept connection turns out closed."""

from __future__ import annotations

import asyncio
import gzip

import httpx
import pytest

from auth.transport import Http1Transport


async def _server(answer):
    seen: list[tuple[bytes, bytes]] = []  # (request line, body)

    async def handle(reader, writer):
        nth = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                nth += 1
                lines = head.split(b"\r\n")
                length = next((int(l.split(b":")[1]) for l in lines if l.lower().startswith(b"content-length")), 0)
                body = await reader.readexactly(length)
                seen.append((lines[0], body))
                if await answer(writer, lines[0], nth) == "close":
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", seen, server


async def test_httpx_features_over_the_transport():
    packed = gzip.compress(b'{"repos": ["a/b"]}')

    async def answer(writer, line, nth):
        if line.startswith(b"GET /old"):
            writer.write(b"HTTP/1.1 302 Found\r\nLocation: /user/repos?page=2\r\nContent-Length: 0\r\n\r\n")
        elif line.startswith(b"HEAD"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nLink: <x>; rel=\"next\"\r\n"
                         b"Content-Length: " + str(len(packed)).encode() + b"\r\n\r\n" + packed)

    url, seen, server = await _server(answer)
    async with httpx.AsyncClient(transport=Http1Transport(), follow_redirects=True) as http:
        response = await http.get(url + "/user/repos", params={"per_page": 30, "sort": "full_name"})
        assert response.json() == {"repos": ["a/b"]} and 'rel="next"' in response.headers["link"]
        assert seen[-1][0] == b"GET /user/repos?per_page=30&sort=full_name HTTP/1.1"
        redirected = await http.get(url + "/old")
        assert redirected.json() == {"repos": ["a/b"]} and redirected.url.params["page"] == "2"
        assert (await http.head(url + "/x")).status_code == 200
        posted = await http.post(url + "/issues", json={"title": "t"})
        assert posted.status_code == 200 and seen[-1][1] == b'{"title":"t"}'
    server.close()


async def test_post_is_not_resent_on_a_stale_connection_but_get_is():
    async def answer(writer, line, nth):
        if nth == 2:
            return "close"  # closes the kept connection instead of answering the second request
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    url, seen, server = await _server(answer)
    async with httpx.AsyncClient(transport=Http1Transport()) as http:
        await http.get(url + "/a")
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(url + "/issues", content=b"x")
        assert [line for line, _ in seen].count(b"POST /issues HTTP/1.1") == 1
        await http.get(url + "/b")
        assert (await http.get(url + "/c")).status_code == 200  # second request on a kept connection: resent
        assert [line for line, _ in seen].count(b"GET /c HTTP/1.1") == 2
    server.close()


async def test_errors_are_httpx_errors():
    async with httpx.AsyncClient(transport=Http1Transport()) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("http://127.0.0.1:9/")

    async def silent(writer, line, nth):
        await asyncio.sleep(5)

    url, seen, server = await _server(silent)
    async with httpx.AsyncClient(transport=Http1Transport(), timeout=0.2) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(url + "/slow")
    server.close()
