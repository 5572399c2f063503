"""The credential envelope: a user's tokens, sealed so they can travel with a LangGraph run.

On the LangGraph server the process that authenticates a request is not necessarily the one that runs
the graph (API server and queue workers are separate processes, possibly several replicas, and a run
can resume after a restart). So what a run needs to act for its user — the access token that Token
Vault exchanges, the ID token for `id_token_hint`, optionally a My Account API token — travels *with*
the run, inside the authenticated user that the engine persists with it. It must not be readable there,
so it is sealed as a JWE (`dir` + `A256GCM`, `auth/sealing.py`) under `VAULT_AGENT_ENCRYPTION_KEY`:

- it names the user's `sub` inside, and opens only for that user;
- it carries its own expiry (the access token's), checked on opening;
- any change to it makes opening fail (GCM's tag covers header and ciphertext).

Several keys may be configured, comma-separated: the first seals, all of them open (key rotation).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from .credentials import UserCredentials
from .errors import AuthError
from .sealing import KEY_HELP, JweSealer, Unsealable, generate_key, parse_keys

__all__ = ["KEY_HELP", "Envelope", "EnvelopeError", "EnvelopeSealer", "generate_key", "parse_keys"]

TYP = "vault-agent-envelope+jwe"


class EnvelopeError(AuthError):
    """An envelope that cannot be used. `code`: "malformed", "tampered", "expired"."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True, repr=False)
class Envelope:
    """What an envelope holds once opened. Its repr never shows a token."""

    sub: str
    access_token: str = field(compare=False)
    id_token: str = field(default="", compare=False)
    my_account_token: str = field(default="", compare=False)
    expires_at: float = 0.0

    def __repr__(self) -> str:
        return f"Envelope(sub={self.sub!r}, expires_at={self.expires_at:.0f})"

    def credentials(self) -> UserCredentials:
        return UserCredentials(self.sub, self.id_token, access_token=self.access_token,
                               my_account_token=self.my_account_token or None)


class EnvelopeSealer:
    """Seals and opens envelopes with the configured keys."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        self.jwe = JweSealer(keys)

    @classmethod
    def from_setting(cls, value: str) -> "EnvelopeSealer":
        return cls(parse_keys(value))

    def seal(self, envelope: Envelope) -> str:
        return self.jwe.seal({"sub": envelope.sub, "at": envelope.access_token, "it": envelope.id_token,
                              "mat": envelope.my_account_token, "exp": envelope.expires_at}, TYP)

    def open(self, sealed: str, sub: str, *, now: float | None = None) -> Envelope:
        """The envelope sealed for `sub`, or EnvelopeError (never another user's tokens)."""
        if not sealed:
            raise EnvelopeError("malformed", "The run carries no usable credentials: call again with a valid "
                                             "access token.")
        try:
            values = self.jwe.open(sealed, TYP)
        except Unsealable as exc:
            raise _foreign() from exc
        if values.get("sub") != sub:  # another user's envelope looks like an altered one: nothing revealed
            raise _foreign()
        try:
            expires_at = float(values.get("exp", 0))
        except (TypeError, ValueError) as exc:
            raise _foreign() from exc
        if expires_at <= (time.time() if now is None else now):
            raise EnvelopeError("expired", "Your access token for this conversation has expired: send your next "
                                           "message with a fresh token (log in again) and the assistant carries on.")
        return Envelope(sub, str(values.get("at", "")), str(values.get("it", "")), str(values.get("mat", "")),
                        expires_at)


def _foreign() -> EnvelopeError:
    return EnvelopeError("tampered", "The run's credentials do not belong to this user or were altered: "
                                     "call again with your own access token.")
