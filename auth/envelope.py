"""The credential envelope: a user's tokens, sealed so they can travel with a LangGraph run.

On the LangGraph server the process that authenticates a request is not necessarily the one that runs
the graph (API server and queue workers are separate processes, possibly several replicas, and a run
can resume after a restart). So what a run needs to act for its user — the access token that Token
Vault exchanges, the ID token for `id_token_hint`, optionally a My Account API token — travels *with*
the run, inside the authenticated user that LangGraph persists with it. It must not be readable there,
so it is sealed with AES-256-GCM under a key from configuration (`VAULT_AGENT_ENCRYPTION_KEY`):

- the user's `sub` is the associated data, so an envelope opens only for the user it was made for;
- it carries its own expiry (the access token's), checked on opening;
- any change to the ciphertext, nonce or version makes opening fail (GCM's tag).

Several keys may be configured, comma-separated: the first seals, all of them open (key rotation).
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .credentials import UserCredentials
from .errors import AuthError, Misconfigured

VERSION = "v1"
_AAD_PREFIX = b"vault-agent/credential-envelope/v1\x00"
KEY_HELP = ("set VAULT_AGENT_ENCRYPTION_KEY to a 32-byte key in URL-safe base64, e.g. the output of "
            "`python -c \"import secrets,base64;print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())\"`")


class EnvelopeError(AuthError):
    """An envelope that cannot be used. `code`: "malformed", "tampered", "wrong_user", "expired"."""

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


def generate_key() -> str:
    """A fresh key in the form VAULT_AGENT_ENCRYPTION_KEY expects."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def parse_keys(value: str) -> list[bytes]:
    """The configured keys, first one sealing. Raises Misconfigured with what to do."""
    keys = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        try:
            key = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        except ValueError:
            key = b""
        if len(key) != 32:
            raise Misconfigured("VAULT_AGENT_ENCRYPTION_KEY is not a 32-byte URL-safe base64 key: " + KEY_HELP)
        keys.append(key)
    if not keys:
        raise Misconfigured("VAULT_AGENT_ENCRYPTION_KEY is not set: " + KEY_HELP)
    return keys


class EnvelopeSealer:
    """Seals and opens envelopes with the configured keys."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise Misconfigured("VAULT_AGENT_ENCRYPTION_KEY is not set: " + KEY_HELP)
        self._aeads = [AESGCM(k) for k in keys]

    @classmethod
    def from_setting(cls, value: str) -> "EnvelopeSealer":
        return cls(parse_keys(value))

    def seal(self, envelope: Envelope) -> str:
        body = json.dumps({"sub": envelope.sub, "at": envelope.access_token, "it": envelope.id_token,
                           "mat": envelope.my_account_token, "exp": envelope.expires_at},
                          separators=(",", ":")).encode()
        nonce = os.urandom(12)
        sealed = self._aeads[0].encrypt(nonce, body, _aad(envelope.sub))
        return VERSION + "." + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, sealed: str, sub: str, *, now: float | None = None) -> Envelope:
        """The envelope sealed for `sub`, or EnvelopeError (never another user's tokens)."""
        version, _, data = (sealed or "").partition(".")
        if version != VERSION or not data:
            raise EnvelopeError("malformed", "The run carries no usable credentials: call again with a valid "
                                             "access token.")
        try:
            raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
        except ValueError as exc:
            raise EnvelopeError("malformed", "The run's credentials are unreadable: call again.") from exc
        body = None
        for aead in self._aeads:
            try:
                body = aead.decrypt(raw[:12], raw[12:], _aad(sub))
                break
            except (InvalidTag, ValueError):
                continue
        if body is None:
            # A wrong sub and a changed byte look the same to GCM; neither reveals anything.
            raise EnvelopeError("tampered", "The run's credentials do not belong to this user or were altered: "
                                            "call again with your own access token.")
        values = json.loads(body)
        if values.get("sub") != sub:
            raise EnvelopeError("wrong_user", "The run's credentials belong to another user.")
        if float(values.get("exp", 0)) <= (time.time() if now is None else now):
            raise EnvelopeError("expired", "Your access token for this conversation has expired: send your next "
                                           "message with a fresh token (log in again) and the assistant carries on.")
        return Envelope(values["sub"], values.get("at", ""), values.get("it", ""), values.get("mat", ""),
                        float(values["exp"]))


def _aad(sub: str) -> bytes:
    return _AAD_PREFIX + sub.encode()
