"""The authorization contract between a paused tool and whoever resumes it.

A tool that needs the user to link an account pauses the run with an `AuthorizationRequest` as the
LangGraph interrupt value; the client (CLI, notebook, server callback, `--remote`, Agent Chat UI, your own
UI) shows its link and, once the user answered, resumes the run with an answer per pending interrupt.
Both travel as plain JSON (checkpoints, the LangGraph server's API), so each class has `to_json()` /
`from_json()`, and `AuthorizationRequest.is_authorization(value)` tells a client whether an interrupt is
one of ours without reading keys by hand. `docs/interrupt.schema.json` publishes both as JSON Schema.

    interrupt value  {"type": "auth0/authorization_required", "connection", "scopes", "authorize_url",
                      "state", "expires_at", "tool", "message", "reason",
                      "action_requests": [{"name", "args", "description"}],
                      "review_configs": [{"action_name", "allowed_decisions": ["approve", "reject"]}]}
    resume value     {"state", "status": "authorized" | "declined" | "expired" | "reissue"}
                     or LangChain's human-in-the-loop decisions, as Agent Chat UI sends them:
                     {"decisions": [{"type": "approve"}]} | {"decisions": [{"type": "reject", "message"}]}

The second half of the interrupt value is LangChain's human-in-the-loop request (what its
`HumanInTheLoopMiddleware` raises and Agent Chat UI draws as a card with Approve/Reject): the human
sentence and the link as a markdown link, so a stock front end shows something a person can act on.

"reissue" is not an answer but a retry: the request's link is dead (expired, or used by a completion
whose run never resumed), so the tool tries its token again and, if still needed, pauses with a new link.
A front end's "approve" is not proof of anything either: it reads as "approved" — the user says they
answered — so the tool tries its token and carries on if the account is linked now, else pauses again
with the same link while it is live (a fresh one otherwise). "reject" reads as "declined".

A resume value answers the request whose `state` it carries: `answers()` is how the paused tool checks it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from .providers import find

INTERRUPT_TYPE = "auth0/authorization_required"
Status = Literal["authorized", "declined", "expired", "reissue", "approved"]
STATUSES: tuple[str, ...] = ("authorized", "declined", "expired", "reissue", "approved")
REISSUE = "reissue"  # the pause's link is dead (expired, used): try the token again, else pause with a fresh link
APPROVED = "approved"  # a front end's "approve": try the token again, else pause again with a live link
DECISIONS = ("approve", "reject")  # what a human-in-the-loop front end may answer (no "edit": nothing to edit)
MAX_NOTE = 500  # characters of a rejection's message passed on to the model


@dataclass(frozen=True)
class AuthorizationRequest:
    """The interrupt value: everything a client needs to ask the user, and no token."""

    connection: str
    scopes: list[str]
    authorize_url: str
    state: str
    expires_at: str  # RFC 3339, UTC ("2026-11-25T10:00:00Z")
    tool: str
    message: str
    reason: str = "not_linked"  # or "insufficient_scope" (a step-up)
    type: str = INTERRUPT_TYPE

    def to_json(self) -> dict[str, Any]:
        """Our typed fields plus LangChain's human-in-the-loop request derived from them."""
        return {**asdict(self), **self.review_request()}

    def review_request(self) -> dict[str, Any]:
        """LangChain's human-in-the-loop request (`action_requests` + `review_configs`): one action, the
        paused tool, described for a person — the sentence first, then the link as a markdown link."""
        provider = find(self.connection)
        label = _md_text(provider.label if provider else self.connection)
        words = _md_text(", ".join(provider.describe(self.scopes) if provider else self.scopes))
        more = "more " if self.reason == "insufficient_scope" else ""
        tool = f"`{self.tool}`" if self.tool and "`" not in self.tool else _md_text(self.tool or "the request")
        # No scope (GitHub's public reads) means no words: no dangling ": ." after the tool.
        sentence = f"The assistant needs {more}access to your {label} to run {tool}" + (f": {words}." if words else ".")
        link = f"[Allow {more}access to {label}]({_md_url(self.authorize_url)})"
        until = _clock(self.expires_at)
        description = (f"{sentence}\n\n{link} (the link works until {until}).\n\n"
                       "Once you have answered there, press **Approve** to carry on, or **Reject** to decline.")
        name = self.tool or f"authorize_{self.connection}"
        return {
            # Agent Chat UI shows `args` on the card itself (label, then markdown), `description` on demand.
            "action_requests": [{"name": name, "description": description, "args": {
                "request": sentence, "authorize": link, "link works until": until,
                "then": "Approve once you have answered there (Reject to decline)."}}],
            "review_configs": [{"action_name": name, "allowed_decisions": list(DECISIONS)}],
        }

    @staticmethod
    def is_authorization(value: Any) -> bool:
        return isinstance(value, Mapping) and value.get("type") == INTERRUPT_TYPE

    @classmethod
    def from_json(cls, value: Any) -> "AuthorizationRequest":
        """Parse an interrupt value; `ValueError` when it is not an authorization request."""
        if not cls.is_authorization(value):
            raise ValueError("not an authorization request")
        try:
            return cls(connection=str(value["connection"]), scopes=[str(s) for s in value["scopes"]],
                       authorize_url=str(value["authorize_url"]), state=str(value["state"]),
                       expires_at=str(value["expires_at"]), tool=str(value.get("tool", "")),
                       message=str(value.get("message", "")), reason=str(value.get("reason", "not_linked")))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed authorization request: {exc}") from None


@dataclass(frozen=True)
class AuthorizationAnswer:
    """The resume value: which request it answers (`state`) and how it ended. `note` is what the user
    wrote when they rejected the request in a front end (passed on to the model, never trusted)."""

    state: str
    status: Status
    note: str = ""

    def to_json(self) -> dict[str, str]:
        return {"state": self.state, "status": self.status, **({"note": self.note} if self.note else {})}

    @classmethod
    def from_json(cls, value: Any) -> "AuthorizationAnswer":
        """Parse a resume value: ours, or LangChain's human-in-the-loop decisions. A bare status string is
        accepted (with no state) for hand-written resumes; anything unrecognised reads as "expired", which
        never authorizes anything."""
        if isinstance(value, str):
            return cls("", value if value in STATUSES else "expired")  # type: ignore[arg-type]
        if isinstance(value, Mapping) and "decisions" in value:
            return cls._from_decisions(value["decisions"])
        if isinstance(value, Mapping):
            status = value.get("status")
            return cls(str(value.get("state") or ""),
                       status if status in STATUSES else "expired")  # type: ignore[arg-type]
        return cls("", "expired")

    @classmethod
    def _from_decisions(cls, decisions: Any) -> "AuthorizationAnswer":
        """The first decision (one action per request): approve (or an edit, which has nothing to change)
        → "approved"; reject → "declined" with its message."""
        first = decisions[0] if isinstance(decisions, list) and decisions else None
        kind = first.get("type") if isinstance(first, Mapping) else None
        if kind in ("approve", "edit"):
            return cls("", APPROVED)
        if kind == "reject":
            return cls("", "declined", " ".join(str(first.get("message") or "").split())[:MAX_NOTE])
        return cls("", "expired")

    def answers(self, request_state: str) -> bool:
        """True when this answer is for the request with `request_state` (or names none)."""
        return not self.state or self.state == request_state


def _md_text(text: str) -> str:
    """Text that markdown shows as written (no link, emphasis or HTML made of it)."""
    return "".join("\\" + c if c in "\\`*_[]<>#|" else c for c in text)


def _md_url(url: str) -> str:
    """A URL as a markdown link destination: the characters that would end or break it, percent-encoded."""
    return "".join({"(": "%28", ")": "%29", " ": "%20", "<": "%3C", ">": "%3E"}.get(c, c) for c in url)


def _clock(expires_at: str) -> str:
    """"2026-11-25T10:00:00Z" → "Wed 25 Nov 10:00 UTC" (the value as it came when it is not that shape).
    The day is part of it: a server link lives a day, and "10:00 UTC" alone read as "expires now"."""
    try:
        moment = datetime.fromisoformat(expires_at)
    except ValueError:
        return expires_at
    if moment.utcoffset() is None or moment.utcoffset().total_seconds():
        return expires_at
    return moment.strftime("%a %d %b %H:%M UTC")


def resume_map(interrupts: Iterable[Any], state: str, status: Status) -> dict[str, dict[str, str]]:
    """The `Command(resume=…)` map for a completed linking: every pending interrupt whose request carries
    `state` gets the answer. `interrupts` are LangGraph `Interrupt` objects or the server API's dicts."""
    values: dict[str, dict[str, str]] = {}
    for item in interrupts:
        interrupt_id = item.get("id") if isinstance(item, Mapping) else getattr(item, "id", None)
        value = item.get("value") if isinstance(item, Mapping) else getattr(item, "value", None)
        if interrupt_id and AuthorizationRequest.is_authorization(value) and value.get("state") == state:
            values[str(interrupt_id)] = AuthorizationAnswer(state, status).to_json()
    return values
