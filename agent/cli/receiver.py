"""The loopback callback receiver: a tiny HTTP server on 127.0.0.1 where Auth0 sends the browser back.

It hands each callback URL to the CLI, which completes the linking and resumes the run by itself; the
browser gets a short page saying what happened. It is bound only while something waits for a callback,
and another vault-agent that needs the port can ask an idle holder to let go of it (`POST /vault-agent/
release`): that is how `vault-agent resume` in a second terminal works while a chat is still open.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from auth.error_body import error_field

RELEASE_PATH = "/vault-agent/release"


class ReceiverError(Exception):
    """The callback address cannot be served (bad URL or port in use)."""


class CallbackReceiver:
    """`handle(url)` answers a callback with (what happened, a sentence for the browser). What happened
    is a linking outcome (`auth.linking.LinkOutcome`: the page is that outcome's, as on every surface,
    the sentence says what vault-agent does next), or for a plain login True (done) / False (refused).
    `may_release()` says whether another vault-agent may take the port now (None: yes; a sentence: no,
    and why)."""

    def __init__(self, callback_url: str, handle: Callable[[str], Awaitable[tuple[Any, str]]],
                 may_release: Callable[[], str | None] | None = None, *, return_to: str = "the terminal") -> None:
        parts = urlsplit(callback_url)
        if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost") or not parts.port:
            raise ReceiverError(f"AUTH0_CALLBACK_URL must be a loopback http URL with a port for the CLI, "
                                f"not {callback_url!r}")
        self.url, self.host, self.port, self.path = callback_url, parts.hostname, parts.port, parts.path or "/"
        self.handle = handle
        self.return_to = return_to  # where the last page sends the user back to
        self.may_release = may_release or (lambda: None)
        self._server = None
        self._task: asyncio.Task | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _app(self):
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import HTMLResponse, JSONResponse
        from starlette.routing import Route

        from agent.pages import outcome_page, page
        from auth.linking import LinkOutcome
        from auth.settings import get_settings

        async def callback(request: Request) -> HTMLResponse:
            what, message = await self.handle(str(request.url))
            if isinstance(what, LinkOutcome):
                return outcome_page(what, next_step=message, app_url=get_settings().vault_agent_app_url,
                                    return_to=self.return_to)
            return page("Done — you can close this tab" if what else "That did not work", message,
                        200 if what else 400)

        async def release(_request: Request) -> JSONResponse:
            busy = self.may_release()
            if busy:
                return JSONResponse({"released": False, "reason": busy}, 409)
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self.stop()))
            return JSONResponse({"released": True})

        return Starlette(routes=[Route(self.path, callback), Route(RELEASE_PATH, release, methods=["POST"])])

    def _bind(self) -> socket.socket | None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms delayed-ACK stalls
        try:
            sock.bind(("127.0.0.1", self.port))
        except OSError:
            sock.close()
            return None
        return sock

    async def _ask_holder_to_release(self) -> None:
        """The port is taken: if another vault-agent holds it and is idle, it lets go; else say who holds it."""
        import httpx

        in_use = ReceiverError(f"Port {self.port} for the authorization callback is in use: close the other "
                               "program, or set AUTH0_CALLBACK_URL to another loopback port.")
        try:
            async with httpx.AsyncClient(timeout=3) as http:
                answer = await http.post(f"http://127.0.0.1:{self.port}{RELEASE_PATH}")
        except httpx.HTTPError:
            raise in_use from None
        if answer.status_code == 409:
            raise ReceiverError(error_field(answer, "reason") or "Another vault-agent is waiting for an "
                                "authorization right now: answer it there, or Ctrl-C it, then try again.")
        if answer.status_code != 200:
            raise in_use

    async def start(self) -> None:
        """Bind the port (idempotent). Raises ReceiverError with what to do when it cannot."""
        if self.running:
            return
        sock = self._bind()
        if sock is None:
            await self._ask_holder_to_release()
            for _ in range(100):  # the holder closes its socket right after answering
                await asyncio.sleep(0.05)
                if (sock := self._bind()) is not None:
                    break
            else:
                raise ReceiverError(f"Port {self.port} for the authorization callback is still in use.")
        import uvicorn

        sock.listen(16)
        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self):  # Ctrl-C belongs to the chat, never to this little server
                yield

        self._server = Server(uvicorn.Config(self._app(), log_level="critical", access_log=False,
                                                     lifespan="off"))
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            self._server.should_exit = True
            await task
