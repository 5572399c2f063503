"""The authorization contract between a paused tool and whoever resumes it.

A tool that needs the user to link an account pauses the run with an `AuthorizationRequest` as the
LangGraph interrupt value; the client (CLI, notebook, server callback, `--remote`, your own UI) shows its
URL and, once the linking callback completed, resumes the run with an `AuthorizationAnswer` per pending
interrupt. Both travel as plain JSON (checkpoints, the LangGraph server's API), so each class has
`to_json()` / `from_json()`, and `AuthorizationRequest.is_authorization(value)` tells a client whether an
interrupt is one of ours without reading keys by hand.

    interrupt value  {"type": "auth0/authorization_required", "connection", "scopes", "authorize_url",
                      "state", "expires_at", "tool", "message", "reason"}
    resume value     {"state", "status": "authorized" | "declined" | "expired" | "reissue"}

"reissue" is not an answer but a retry: the request's link is dead (expired, or used by a completion
whose run never resumed), so the tool tries its token again and, if still needed, pauses with a new link.

A resume value answers the request whose `state` it carries: `answers()` is how the paused tool checks it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

INTERRUPT_TYPE = "auth0/authorization_required"
Status = Literal["authorized", "declined", "expired", "reissue"]
STATUSES: tuple[str, ...] = ("authorized", "declined", "expired", "reissue")


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
        return asdict(self)

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
    """The resume value: which request it answers (`state`) and how it ended."""

    state: str
    status: Status

    def to_json(self) -> dict[str, str]:
        return {"state": self.state, "status": self.status}

    @classmethod
    def from_json(cls, value: Any) -> "AuthorizationAnswer":
        """Parse a resume value. A bare status string is accepted (with no state) for hand-written
        resumes; anything unrecognised reads as "expired", which never authorizes anything."""
        if isinstance(value, str):
            return cls("", value if value in STATUSES else "expired")  # type: ignore[arg-type]
        if isinstance(value, Mapping):
            status = value.get("status")
            return cls(str(value.get("state") or ""),
                       status if status in STATUSES else "expired")  # type: ignore[arg-type]
        return cls("", "expired")

    def answers(self, request_state: str) -> bool:
        """True when this answer is for the request with `request_state` (or names none)."""
        return not self.state or self.state == request_state


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
