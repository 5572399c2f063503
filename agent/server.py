"""Extra routes for the LangGraph server (`http.app` in langgraph.json).

`GET /auth/callback` is where Auth0 sends the browser after the user answered a linking request. It
trusts nothing but the single-use `state`: that binds the user, the thread and the interrupt. It completes
the linking, resumes the paused thread itself (as the user, with the fresh access token the linking code
exchange returned), and shows a short page. It never redirects anywhere, so it cannot be an open
redirect, and it escapes everything it echoes.
"""

from __future__ import annotations

import logging
from html import escape
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from auth.errors import LinkingError

from agent.services import default_services

log = logging.getLogger(__name__)
PAGE = ("<!doctype html><html><head><meta charset='utf-8'><title>vault-agent</title></head>"
        "<body style='font-family:system-ui;max-width:32rem;margin:4rem auto'><h1>{title}</h1><p>{body}</p>"
        "</body></html>")


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=escape(title), body=escape(body)), status,
                        headers={"cache-control": "no-store", "referrer-policy": "no-referrer"})


async def _server_store() -> Any:
    from langgraph_api.store import get_store  # the same store the graph's tools write to

    return await get_store()


async def _resume(base_url: str, thread_id: str, state: str, status: str, access_token: str | None,
                  id_token: str) -> int:
    """Resume every interrupt of `thread_id` that this state answers, as the user. Returns how many.

    It calls the server's own API over HTTP with the user's fresh access token, so the resumed run goes
    through the same authentication and ownership checks as any client's."""
    from langgraph_sdk import get_client

    headers = {"Authorization": f"Bearer {access_token}"} if access_token else {}
    if id_token:
        headers["X-Id-Token"] = id_token
    client = get_client(url=base_url, headers=headers)
    thread_state = await client.threads.get_state(thread_id)
    values = {i["id"]: {"state": state, "status": status}
              for i in thread_state.get("interrupts", []) if (i.get("value") or {}).get("state") == state}
    if values:
        await client.runs.create(thread_id, "agent", command={"resume": values})
    return len(values)


async def callback(request: Request) -> HTMLResponse:
    if len(str(request.url)) > 16384:
        return _page("That did not work", "The request is too large.", 400)
    linker = default_services().linker(await _server_store())
    try:
        result = await linker.complete(str(request.url))
    except LinkingError as exc:
        return _page("That did not work", str(exc), 400)
    if not result.thread_id:
        return _page("Connected", "You can close this tab.")
    creds = result.credentials
    try:
        resumed = await _resume(str(request.base_url).rstrip("/"), result.thread_id, result.state, result.status,
                                creds.access_token if creds else None, creds.id_token if creds else "")
    except Exception as exc:  # the link is done; say what failed instead of a bare 500
        log.warning("could not resume thread %s: %s", result.thread_id, type(exc).__name__)
        return _page("Authorized, but not resumed", "Go back to the app and ask again.", 502)
    if result.status == "declined":
        return _page("Access declined", "The assistant will tell you what it could not do. You can close this tab.")
    suffix = " The assistant carries on." if resumed else ""
    return _page("Done — you can close this tab", f"Access granted.{suffix}")


app = Starlette(routes=[Route("/auth/callback", callback)])
