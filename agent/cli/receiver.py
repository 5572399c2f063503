"""The loopback callback receiver: a tiny HTTP server on 127.0.0.1 where Auth0 sends the browser back.

It hands each callback URL to the CLI, which completes the linking and resumes the run by itself; the
browser gets a short page saying whether it worked.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from html import escape
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

PAGE = ("<!doctype html><html><head><meta charset='utf-8'><title>vault-agent</title></head>"
        "<body style='font-family:system-ui;max-width:30rem;margin:4rem auto'><h1>{title}</h1><p>{body}</p>"
        "</body></html>")


class ReceiverError(Exception):
    """The callback address cannot be served (bad URL or port in use)."""


class CallbackReceiver:
    def __init__(self, callback_url: str, handle: Callable[[str], Awaitable[tuple[bool | str, str]]]) -> None:
        parts = urlsplit(callback_url)
        if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost") or not parts.port:
            raise ReceiverError(f"AUTH0_CALLBACK_URL must be a loopback http URL with a port for the CLI, "
                                f"not {callback_url!r}")
        self.url, self.host, self.port, self.path = callback_url, parts.hostname, parts.port, parts.path or "/"
        self.handle = handle
        app = Starlette(routes=[Route(self.path, self._callback)])
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="critical", access_log=False,
                                                     lifespan="off"))
        self._task: asyncio.Task | None = None

    async def _callback(self, request: Request) -> HTMLResponse:
        """`handle` answers (True, …) done, (False, …) refused, or ("retry", …): Auth0 could not finish
        yet and the link is still good, so the page asks for a reload (503, never cached)."""
        ok, message = await self.handle(str(request.url))
        if ok == "retry":
            return HTMLResponse(PAGE.format(title="Almost there — reload this page", body=escape(message)), 503,
                                headers={"cache-control": "no-store", "retry-after": "2"})
        title = "Done — you can close this tab" if ok else "That did not work"
        return HTMLResponse(PAGE.format(title=escape(title), body=escape(message)), 200 if ok else 400)

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms delayed-ACK stalls
        try:
            sock.bind(("127.0.0.1", self.port))
        except OSError as exc:
            sock.close()
            raise ReceiverError(f"Port {self.port} for the authorization callback is in use: close the other "
                                "vault-agent, or set AUTH0_CALLBACK_URL to another loopback port.") from exc
        sock.listen(16)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is not None:
            self._server.should_exit = True
            await self._task
            self._task = None
