"""The one small HTML page every browser-facing callback answers with (the CLI's loopback receiver, the
LangGraph server's `/auth/callback`, the MCP server's link and callback routes).

Everything shown is escaped, the page is never cached and never leaks its URL (which carries `state` and
`code`) as a referrer.
"""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

PAGE = ("<!doctype html><html><head><meta charset='utf-8'><title>vault-agent</title></head>"
        "<body style='font-family:system-ui;max-width:32rem;margin:4rem auto'><h1>{title}</h1><p>{body}</p>"
        "</body></html>")


def page(title: str, body: str, status: int = 200, *, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=escape(title), body=escape(body)), status,
                        headers={"cache-control": "no-store", "referrer-policy": "no-referrer", **(headers or {})})
