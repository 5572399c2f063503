"""auth.http1.OriginClient's pool against loopback servers that answer the ways real servers do: keep-alive,
`Connection: close`, a body that runs to the end of the connection, a kept connection the server has
closed meanwhile, HEAD, TLS, no answer at all. Malformed and hostile answers: `test_hostile_server.py`."""

from __future__ import annotations

import asyncio

import pytest

from auth.http1 import ConnectFailed, HTTPError, OriginClient, TimedOut


async def _serve(answer):
    """A server that reads one request head+body per call of `answer(writer, body)`; returns (url, hits, stop)."""
    hits: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nth = 0
        try:
            while True:
                nth += 1
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next(l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")))
                body = await reader.readexactly(length)
                hits.append(head + body)
                if await answer(writer, body, nth) == "close":
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/tenant", hits, server


async def test_content_length_keep_alive_and_request_shape():
    async def answer(writer, body, nth):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\": 1}  ")

    url, hits, server = await _serve(answer)
    client = OriginClient(url)
    for _ in range(3):
        response = await client.post("/oauth/token", b"a=1&b=two")
        assert response.status_code == 200 and response.json() == {"ok": 1}
    assert len(client._idle) == 1  # one connection, reused
    assert hits[0].startswith(b"POST /tenant/oauth/token HTTP/1.1\r\n")
    assert b"Content-Type: application/x-www-form-urlencoded" in hits[0] and hits[0].endswith(b"\r\n\r\na=1&b=two")
    await client.aclose()
    server.close()


async def test_connection_close_and_body_to_eof():
    async def answer(writer, body, nth):
        if body == b"n=1":
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}")
        else:
            writer.write(b"HTTP/1.0 403 Forbidden\r\n\r\n{\"error\": \"access_denied\"}")
        return "close"

    url, hits, server = await _serve(answer)
    client = OriginClient(url)
    assert (await client.post("/oauth/token", b"n=1")).json() == {}
    assert client._idle == []  # not kept after Connection: close
    response = await client.post("/oauth/token", b"n=2")
    assert response.status_code == 403 and response.json() == {"error": "access_denied"}
    await client.aclose()
    server.close()


async def test_kept_connection_closed_by_server_is_retried_once_on_a_new_one():
    async def answer(writer, body, nth):
        if nth == 2:  # the server gave up on the kept connection just as the request arrived
            return "close"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    url, hits, server = await _serve(answer)
    client = OriginClient(url)
    await client.post("/oauth/token", b"n=1")
    response = await client.post("/oauth/token", b"n=2")
    assert response.status_code == 200
    assert [h.rsplit(b"\n", 1)[1] for h in hits] == [b"n=1", b"n=2", b"n=2"]  # sent again, once, on a new connection
    await client.aclose()
    server.close()


async def test_no_answer_times_out_and_refused_is_http_error():
    async def answer(writer, body, nth):
        await asyncio.sleep(5)

    url, hits, server = await _serve(answer)
    client = OriginClient(url, timeout=0.2)
    with pytest.raises(TimedOut, match=r"^127\.0\.0\.1 did not answer within 0\.2 s\.$"):
        await client.post("/oauth/token", b"x=1")
    assert client._idle == []  # a timed-out connection is never reused
    server.close()
    refused = OriginClient("http://127.0.0.1:9/")
    with pytest.raises(ConnectFailed, match="could not be reached"):
        await refused.post("/oauth/token", b"x=1")


async def test_tls_with_hostname_verification(tmp_path):
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")

    async def handle(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")))
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"tls\": 1} ")
        await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    trusted = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
    client = OriginClient(f"https://localhost:{port}", ssl_context=trusted)
    assert (await client.post("/oauth/token", b"a=1")).json() == {"tls": 1}
    await client.aclose()
    untrusted = OriginClient(f"https://localhost:{port}")  # the system's CAs: the self-signed cert fails
    with pytest.raises(HTTPError):
        await untrusted.post("/oauth/token", b"a=1")
    server.close()


async def test_requests_beyond_max_connections_wait_for_a_slot():
    in_flight = peak = 0

    async def answer(writer, body, nth):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    url, hits, server = await _serve(answer)
    client = OriginClient(url, max_connections=3)
    answers = await asyncio.gather(*(client.post("/oauth/token", b"n=%d" % i) for i in range(10)))
    assert [a.status_code for a in answers] == [200] * 10 and peak == 3
    await client.aclose()
    server.close()


async def test_head_answer_ends_at_its_headers_and_the_connection_is_not_reused():
    async def answer(writer, body, nth):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")  # a HEAD answer: no body follows

    url, hits, server = await _serve(answer)
    client = OriginClient(url)
    response = await client.send(b"HEAD", b"/x", [(b"Host", b"127.0.0.1"), (b"Content-Length", b"0")],
                                 resend_if_stale=True)
    assert (response.status_code, response.content, response.headers["content-length"]) == (200, b"", "99")
    assert client._idle == []
    await client.aclose()
    server.close()
