"""A token endpoint that costs almost nothing, in a process of its own: the wire benchmarks' server.

`python -m bench.stub` prints its port and serves HTTP/1.1 keep-alive on loopback. `POST /oauth/token`
answers a fixed Token Vault success body after the configured delay (the stand-in for a tenant's
latency, without any of the sandbox's form, JWT and refresh-token work), so what the benchmarks measure
is the client. `POST /_delay?ms=N` sets the delay; `GET /_cpu` returns this process's CPU seconds, so the
bench can report server CPU per exchange beside the client's. Written on bare `asyncio.Protocol` (uvloop
when installed) to stay out of the way of the measurement.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

BODY = json.dumps({
    "access_token": "stub-provider-access-token", "expires_in": 3600, "scope": "repo",
    "token_type": "Bearer",
    "issued_token_type": "http://auth0.com/oauth/token-type/federated-connection-access-token",
}).encode()


def _response(body: bytes, status: str = "200 OK") -> bytes:
    return (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "cache-control: no-store\r\n\r\n").encode() + body


TOKEN_RESPONSE = _response(BODY)


class _State:
    delay = 0.0


class StubProtocol(asyncio.Protocol):
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.buffer = b""
        self.loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            self.buffer = self.buffer[end:]
            self._answer(request_line)

    def _answer(self, request_line: str) -> None:
        method, target, _ = request_line.split(" ", 2)
        if target.endswith("/oauth/token"):
            if _State.delay:
                self.loop.call_later(_State.delay, self._write, TOKEN_RESPONSE)
            else:
                self._write(TOKEN_RESPONSE)
        elif target.startswith("/_delay"):
            _State.delay = float(target.partition("ms=")[2] or 0) / 1000
            self._write(_response(b"{}"))
        elif target.startswith("/_cpu"):
            self._write(_response(json.dumps({"cpu": time.process_time()}).encode()))
        else:
            self._write(_response(b'{"error":"not_found"}', "404 Not Found"))

    def _write(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)


async def main() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(StubProtocol, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
