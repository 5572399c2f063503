"""How a linking callback ended, as types, and the one resume policy every front end follows.

`AccountLinker.complete()` returns one of these instead of raising for anything a browser can bring
back; a front end shows the outcome's page (`agent/pages.py`, one table for all of them) and resumes the
paused thread with `resume_status(outcome)`.

The tenant refusing the request (an `id_token_hint` it will not accept, a login it refuses) is
`TenantRefused`, never `Declined`: only the user's own Deny is a decline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..credentials import UserCredentials
from .pending import PendingLink

#: The tenant's description when the linking Action refuses the `id_token_hint` (stale or another user's).
HINT_REFUSED_PREFIX = "ID_TOKEN_HINT"
#: Errors a tenant sends for a moment's trouble: the request stays pending, the user tries again.
RETRYABLE_ERRORS = frozenset({"server_error", "temporarily_unavailable"})


@dataclass(frozen=True)
class LinkOutcome:
    """Base of every outcome; `link` is the pending request it answers (None when none was found)."""

    link: PendingLink | None

    @property
    def state(self) -> str:
        return self.link.state if self.link else ""

    @property
    def thread_id(self) -> str | None:
        return self.link.thread_id if self.link else None

    @property
    def user_sub(self) -> str:
        return self.link.user_sub if self.link else ""

    @property
    def connection(self) -> str:
        return self.link.connection if self.link else ""

    @property
    def scopes(self) -> list[str]:
        return list(self.link.scopes) if self.link else []

    @property
    def status(self) -> str | None:
        """What this outcome tells a paused tool ("authorized", "declined", "expired", "reissue"), or
        None when it tells it nothing (the request still waits)."""
        return _status(self)


@dataclass(frozen=True)
class Authorized(LinkOutcome):
    """The user allowed. `credentials` are the code exchange's fresh tokens when there are any;
    `confirmed` is False when the tenant redirected with a code but the exchange's answer was lost
    (the account is linked all the same; the Token Vault exchange tells)."""

    credentials: UserCredentials | None = field(default=None, repr=False, compare=False)
    confirmed: bool = True


@dataclass(frozen=True)
class Declined(LinkOutcome):
    """The user clicked Deny."""

    description: str = ""


@dataclass(frozen=True)
class Expired(LinkOutcome):
    """The request outlived its link."""


@dataclass(frozen=True)
class RetryLater(LinkOutcome):
    """Auth0 could not answer or finish right now; the request is kept, trying again works.

    `allowed`: the tenant sent a code, so the user allowed — a front end carries on at once (the tool's
    Token Vault exchange confirms) instead of waiting for a reload."""

    message: str = ""
    allowed: bool = False


@dataclass(frozen=True)
class WrongAccount(LinkOutcome):
    """Someone signed in as another user than the one the request was made for."""


@dataclass(frozen=True)
class TenantRefused(LinkOutcome):
    """The tenant refused the request itself (the `id_token_hint`, the login): not the user's Deny."""

    description: str = ""


@dataclass(frozen=True)
class Failed(LinkOutcome):
    """Anything else: an unknown or used state, a malformed callback, an exchange that failed for good.
    `code` is stable for tests and UIs ("unknown_state", "bad_request", "exchange_failed",
    "invalid_id_token"); `message` is one sentence."""

    code: str = "bad_request"
    message: str = ""


def resume_status(outcome: LinkOutcome) -> str | None:
    """The one resume policy: what the paused thread is told, or None to leave it paused.

    - Authorized, and RetryLater after the user allowed → "authorized" (carry on now);
    - Declined → "declined"; Expired → "expired";
    - TenantRefused → "reissue": the link is dead through no fault of the user; the tool tries its token
      again and pauses with a fresh link;
    - WrongAccount, RetryLater before any answer, Failed → None: the right user can still answer (or try
      again), and a client that finds the link dead reissues it.
    """
    if outcome.link is None or not outcome.link.thread_id:
        return None
    return _status(outcome)


def _status(outcome: LinkOutcome) -> str | None:
    if isinstance(outcome, Authorized) or (isinstance(outcome, RetryLater) and outcome.allowed):
        return "authorized"
    if isinstance(outcome, Declined):
        return "declined"
    if isinstance(outcome, Expired):
        return "expired"
    if isinstance(outcome, TenantRefused):
        return "reissue"
    return None


def refused_by_tenant(error: str, description: str) -> bool:
    """An `access_denied` that the tenant sent on its own (the Action refusing the hint), not the user."""
    return error == "access_denied" and description.strip().upper().startswith(HINT_REFUSED_PREFIX)
