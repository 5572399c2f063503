"""The callback's resume credential: a short-lived, single-use bearer the server issues to itself.

When the user answers a linking request, the callback must resume the paused thread as its owner. It
does so through the engine's public API over HTTP (`agent/engine_resume.py`), like any client — so the
same authorization rules apply and no engine internals are needed — with this credential as its bearer:

- sealed as a JWE under `VAULT_AGENT_ENCRYPTION_KEY` (`auth/sealing.py`, `typ` of its own, so neither an
  envelope nor anything else opens as one), so only a process holding the server key can make one;
- bound to the thread, its owner (`sub`) and the linking request (`state`) it answers, and carrying the
  run's sealed credential envelope, which becomes the resumed run's;
- valid for two minutes, for reading that one thread and creating one run on it, once: the first run
  created with it claims its id in the server store (one conditional insert, so two processes cannot
  both win; the claim is deleted once the credential has expired), and any later use is refused.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from .sealing import JweSealer, Unsealable
from .server_store import ServerStore

TYP = "vault-agent-resume+jwe"
LIFETIME_SECONDS = 120


class InvalidResumeCredential(Exception):
    """Not a resume credential of this server, expired, or already used."""


@dataclass(frozen=True, repr=False)
class ResumeGrant:
    owner: str
    thread_id: str
    state: str
    envelope: str
    grant_id: str
    expires_at: float

    def __repr__(self) -> str:
        return f"ResumeGrant(owner={self.owner!r}, thread_id={self.thread_id!r})"


def issue(sealer: JweSealer, owner: str, thread_id: str, state: str, envelope: str, *,
          lifetime: float = LIFETIME_SECONDS) -> str:
    return sealer.seal({"sub": owner, "thread_id": thread_id, "state": state, "env": envelope,
                        "jti": uuid.uuid4().hex, "exp": time.time() + lifetime}, TYP)


def open_grant(sealer: JweSealer, value: str, *, now: float | None = None) -> ResumeGrant:
    try:
        claims = sealer.open(value, TYP)
    except Unsealable as exc:
        raise InvalidResumeCredential("not a resume credential of this server") from exc
    try:
        grant = ResumeGrant(str(claims["sub"]), str(claims["thread_id"]), str(claims["state"]), str(claims["env"]),
                            str(claims["jti"]), float(claims["exp"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidResumeCredential("incomplete resume credential") from exc
    if grant.expires_at <= (time.time() if now is None else now):
        raise InvalidResumeCredential("expired resume credential")
    return grant


async def consume(store: ServerStore, grant_id: str, expires_at: float) -> None:
    """Claim the credential for the run it creates; refuse (InvalidResumeCredential) one already claimed."""
    if not await store.claim(f"resume-credential:{grant_id}", expires_at):
        raise InvalidResumeCredential("resume credential already used")
