"""httpx's API over `auth.http1`: the transport of the agent's shared HTTP client (GitHub, linking,
Management API).

httpx's default transport (httpcore, anyio, h11) costs 20–35× the CPU of a hand-written asyncio client
per request (bench/README.md); this one hands the request, as httpx built it, to one `OriginClient` per
origin and gives back an `httpx.Response`, so callers keep httpx (its errors, redirects, decoding, auth)
and lose most of the overhead. A kept connection found closed before any answer is reused only for
requests that are safe to repeat (GET, HEAD, OPTIONS, PUT, DELETE): a POST is never sent twice.
Proxies: httpx reads HTTP(S)_PROXY only with its own transport, so `tools/services.py` uses this one only
when the environment sets no proxy.
"""

from __future__ import annotations

import httpx

from .http1 import ConnectFailed, HTTPError, OriginClient, TimedOut

SAFE_TO_REPEAT = {b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE"}


class Http1Transport(httpx.AsyncBaseTransport):
    def __init__(self, max_idle_per_origin: int = 256) -> None:
        self.max_idle_per_origin = max_idle_per_origin
        self._origins: dict[tuple[bytes, bytes, int | None], OriginClient] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}", request=request)
        key = (url.raw_scheme, url.raw_host, url.port)
        origin = self._origins.get(key)
        if origin is None:
            origin = self._origins[key] = OriginClient(f"{url.scheme}://{url.netloc.decode('ascii')}",
                                                       max_idle=self.max_idle_per_origin)
        body = await request.aread()
        method = request.method.encode()
        head = [method, b" ", url.raw_path, b" HTTP/1.1\r\n"]
        has_length = False
        for name, value in request.headers.raw:
            lowered = name.lower()
            if lowered == b"transfer-encoding":
                continue  # the body is read whole and sent with a Content-Length
            has_length |= lowered == b"content-length"
            head += [name, b": ", value, b"\r\n"]
        if not has_length and (body or method in (b"POST", b"PUT", b"PATCH")):
            head += [b"Content-Length: ", str(len(body)).encode(), b"\r\n"]
        head.append(b"\r\n")
        timeouts = [t for t in (request.extensions.get("timeout") or {}).values() if t]
        try:
            answer = await origin.send(b"".join(head) + body, resend_if_stale=method in SAFE_TO_REPEAT,
                                       head=method == b"HEAD", timeout=max(timeouts) if timeouts else 3600.0)
        except TimedOut as exc:
            raise httpx.ReadTimeout(str(exc), request=request) from None
        except ConnectFailed as exc:
            raise httpx.ConnectError(str(exc), request=request) from None
        except HTTPError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from None
        return httpx.Response(answer.status_code, headers=answer.raw_headers, stream=httpx.ByteStream(answer.content),
                              request=request, extensions={"http_version": b"HTTP/1.1"})

    async def aclose(self) -> None:
        origins, self._origins = self._origins, {}
        for origin in origins.values():
            await origin.aclose()
