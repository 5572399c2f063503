"""The one page every browser-facing link route answers with (the CLI's loopback receiver, the LangGraph
server's `/link/{id}` and `/auth/callback`, the MCP server's link and callback routes), and the one table
from a linking outcome to its page: the same outcome has the same title, words and HTTP status on every
surface.

Everything shown is escaped, the page is never cached and never leaks its URL (which carries `state` and
`code`) as a referrer. The last page of a flow offers the way back to the app when its address is
configured (`VAULT_AGENT_APP_URL`, where `{thread_id}` names the conversation), and says to return there
otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from starlette.responses import HTMLResponse

from auth.linking import (
    Authorized,
    Declined,
    Expired,
    Failed,
    LinkOutcome,
    RetryLater,
    TenantRefused,
    WrongAccount,
)
from tools.providers import label as provider_label

_STYLE = ("body{font-family:system-ui,sans-serif;background:#f6f7f9;color:#222;margin:0}"
          ".card{background:#fff;max-width:28rem;margin:4rem auto;border:1px solid #d9dce1;border-radius:10px;"
          "padding:1.5rem 1.75rem;box-shadow:0 1px 3px rgba(0,0,0,.06)}"
          "h1{font-size:1.3rem;margin:0 0 .75rem}p{line-height:1.45}"
          ".back{display:inline-block;margin-top:.5rem;padding:.5rem 1rem;border-radius:6px;background:#1f6feb;"
          "color:#fff;text-decoration:none}.app{color:#666;font-size:.8rem;margin-top:1.5rem}")
PAGE = ("<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
        "<title>{title}</title><style>{style}</style></head><body><main class='card'><h1>{title}</h1>"
        "{paragraphs}{back}<p class='app'>vault-agent</p></main></body></html>")


def page(title: str, body: str, status: int = 200, *, headers: dict[str, str] | None = None,
         back_url: str = "", back_text: str = "") -> HTMLResponse:
    """A card with a title, one or more paragraphs (`body`, split on blank lines) and, when given, a
    link back to the app."""
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in body.split("\n\n") if p.strip())
    back = f"<a class='back' href='{escape(back_url, quote=True)}'>{escape(back_text or 'Back to the app')}</a>" \
        if back_url.startswith(("https://", "http://")) else ""
    return HTMLResponse(PAGE.format(title=escape(title), style=_STYLE, paragraphs=paragraphs, back=back), status,
                        headers={"cache-control": "no-store", "referrer-policy": "no-referrer", **(headers or {})})


@dataclass(frozen=True)
class Look:
    title: str
    status: int
    words: str  # may name {label}, the provider


#: One entry per outcome: the title, HTTP status and first sentence every surface shows for it.
OUTCOME_PAGES: dict[type[LinkOutcome], Look] = {
    Authorized: Look("Access granted", 200, "{label} is connected."),
    Declined: Look("Access declined", 200, "You declined access to {label}. The assistant will tell you what "
                   "it could not do."),
    Expired: Look("This link has expired", 410, "Ask the assistant again for a new link."),
    RetryLater: Look("Please try again", 503, "{message}"),
    WrongAccount: Look("Wrong account", 403, "You signed in as another user than the one the assistant works "
                       "for. Sign in with that account and open the link again."),
    TenantRefused: Look("Auth0 refused the request", 400, "Auth0 did not accept this authorization request, so "
                        "nothing was decided ({message})."),
    Failed: Look("That did not work", 400, "{message}"),
}


def outcome_words(outcome: LinkOutcome, label: str = "") -> tuple[str, str]:
    """(title, first sentence) of `outcome`'s page: what a terminal says for it, in the same words."""
    look = OUTCOME_PAGES[type(outcome)]
    message = getattr(outcome, "message", "") or getattr(outcome, "description", "")
    named = label or (provider_label(outcome.connection) if outcome.connection else "the account")
    return look.title, look.words.format(label=named, message=message)


def outcome_page(outcome: LinkOutcome, *, label: str = "", next_step: str = "", app_url: str = "",
                 return_to: str = "the app") -> HTMLResponse:
    """The page for `outcome`: its table entry, then `next_step` (what happens now, in the surface's
    words), then the way back — a link to `app_url` when there is one, else "return to {return_to}".
    A page that asks to try again is not the end of the flow, so it has no way back."""
    look = OUTCOME_PAGES[type(outcome)]
    parts = [outcome_words(outcome, label)[1], next_step]
    final = not isinstance(outcome, RetryLater)
    if final and not app_url:
        parts.append(f"You can close this tab and return to {return_to}.")
    headers = {"retry-after": "2"} if isinstance(outcome, RetryLater) else None
    return page(look.title, "\n\n".join(p for p in parts if p), look.status, headers=headers,
                back_url=back_to(app_url, outcome) if final else "")


def back_to(app_url: str, outcome: LinkOutcome) -> str:
    """`app_url` with `{thread_id}` standing for the conversation the link belongs to, so the way back
    opens that conversation (Agent Chat UI: `http://localhost:3000/?threadId={thread_id}`) rather than a
    new one; empty when the link names no thread."""
    return app_url.replace("{thread_id}", quote(outcome.thread_id or "", safe=""))
