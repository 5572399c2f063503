"""httpx's API over `auth.http1`: the transport of the agent's shared HTTP client (GitHub, linking,
Management API).

httpx's default transport (httpcore, anyio, h11) costs 20–60× the CPU of a minimal asyncio client per
request (bench/README.md); this one hands the request, as httpx built it, to one `OriginClient` per
origin (llhttp parses the answer) and gives back an `httpx.Response`, so callers keep httpx (its errors,
redirects, decoding, auth) and lose most of the overhead. A kept connection found closed before any
answer is reused only for requests that are safe to repeat (GET, HEAD, OPTIONS, PUT, DELETE): a POST is
never sent twice. Failures come back as httpx's own errors with the `auth.errors` one as their cause: a
header value with CR or LF is `httpx.LocalProtocolError` (as with httpx's own transport) and nothing is
sent; a malformed answer is `httpx.RemoteProtocolError`.
Proxies: httpx reads HTTP(S)_PROXY only with its own transport, so `tools/services.py` uses this one only
when the environment sets no proxy.
"""

from __future__ import annotations

import httpx

from .http1 import ConnectFailed, HTTPError, InvalidRequest, OriginClient, TimedOut

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
        # The body is read whole and sent with a Content-Length, never chunked.
        headers = [(name, value) for name, value in request.headers.raw if name.lower() != b"transfer-encoding"]
        if (body or method in (b"POST", b"PUT", b"PATCH")) and "content-length" not in request.headers:
            headers.append((b"Content-Length", b"%d" % len(body)))
        timeouts = [t for t in (request.extensions.get("timeout") or {}).values() if t]
        try:
            answer = await origin.send(method, url.raw_path, headers, body, resend_if_stale=method in SAFE_TO_REPEAT,
                                       timeout=max(timeouts) if timeouts else 3600.0)
        except TimedOut as exc:
            raise httpx.ReadTimeout(str(exc), request=request) from exc
        except ConnectFailed as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except InvalidRequest as exc:
            raise httpx.LocalProtocolError(str(exc), request=request) from exc
        except HTTPError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        return httpx.Response(answer.status_code, headers=answer.raw_headers, stream=httpx.ByteStream(answer.content),
                              request=request, extensions={"http_version": b"HTTP/1.1"})

    async def aclose(self) -> None:
        origins, self._origins = self._origins, {}
        for origin in origins.values():
            await origin.aclose()
