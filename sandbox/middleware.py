"""ASGI middleware every stand-in wears: it applies injected faults and records the request log."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import parse_qsl

from .world import LoggedRequest, World

# Form/JSON fields recorded in the log: enough to tell grants and connections apart, never secrets.
_LOGGED_FIELDS = ("grant_type", "connection", "subject_token_type", "audience", "scope", "login_hint")


class SandboxMiddleware:
    """Wraps one stand-in app, named `service`, with fault injection and request logging."""

    def __init__(self, app, world: World, service: str) -> None:
        self.app = app
        self.world = world
        self.service = service

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method, path = scope["method"], scope["path"]
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)

        fault = self.world.take_fault(self.service, method, path, _grant_type(body))
        status_holder = {"status": 0}

        replayed = False

        async def replay():
            # The body once, then the real channel (which blocks until the client disconnects), as
            # Starlette's streaming responses wait on it.
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def recording_send(message):
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            await send(message)

        if fault is not None and fault.kind == "latency":
            await asyncio.sleep(fault.delay_ms / 1000)
            fault = None
        if fault is not None and fault.kind == "drop_after":
            # The request is processed (the event is created, the code is spent), then the connection
            # drops before the answer: what a client sees when a proxy times out or a link fails late.
            async def swallow(message):
                if message["type"] == "http.response.start":
                    status_holder["status"] = message["status"]

            await self.app(scope, replay, swallow)
            self._log(scope, body, status_holder["status"])
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
            await send({"type": "http.response.body", "body": b'{"', "more_body": True})
            raise ConnectionAbortedError("sandbox fault: connection dropped after processing")
        if fault is not None and fault.kind == "drop":
            # Promise a body, send part of it, then fail: the server closes the connection mid-response,
            # which is what a client sees when a peer or proxy drops it.
            self._log(scope, body, 0)
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
            await send({"type": "http.response.body", "body": b'{"access', "more_body": True})
            raise ConnectionAbortedError("sandbox fault: connection dropped")
        if fault is not None:
            await self._send_fault(fault, recording_send)
        else:
            await self.app(scope, replay, recording_send)
        self._log(scope, body, status_holder["status"])

    async def _send_fault(self, fault, send) -> None:
        headers = [(b"content-type", b"application/json")]
        if fault.kind == "rate_limit":
            status = 429
            payload = fault.body or {"error": "too_many_requests", "error_description": "Rate limit exceeded."}
            headers += [
                (b"retry-after", str(fault.retry_after).encode()),
                (b"x-ratelimit-limit", b"100"),
                (b"x-ratelimit-remaining", b"0"),
                (b"x-ratelimit-reset", str(int(time.time()) + fault.retry_after).encode()),
            ]
        else:
            status = fault.status
            payload = fault.body or {"error": "server_error", "error_description": "Injected sandbox fault."}
        raw = json.dumps(payload).encode()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": raw})

    def _log(self, scope, body: bytes, status: int) -> None:  # noqa: D102
        fields: dict = {}
        try:
            if body.startswith(b"{"):
                data = json.loads(body)
            else:
                data = dict(parse_qsl(body.decode("utf-8", "replace")))
            if isinstance(data, dict):
                fields = {k: data[k] for k in _LOGGED_FIELDS if k in data}
        except ValueError:
            pass
        self.world.log_request(
            LoggedRequest(
                service=self.service,
                method=scope["method"],
                path=scope["path"],
                query=scope.get("query_string", b"").decode("latin-1"),
                status=status,
                at=time.time(),
                form=fields,
            )
        )


def _grant_type(body: bytes) -> str:
    """The OAuth `grant_type` of a form or JSON body ("" if none), so a fault can target one grant of
    the shared `/oauth/token` route (say, the refresh but not the Token Vault exchange)."""
    try:
        data = json.loads(body) if body.startswith(b"{") else dict(parse_qsl(body.decode("utf-8", "replace")))
    except ValueError:
        return ""
    return str(data.get("grant_type", "")) if isinstance(data, dict) else ""
