"""Sealed values in a standard format: JWE compact serialization, `dir` + `A256GCM` (joserfc).

The server seals what must travel through storage it does not trust to keep secrets — the credential
envelope a run carries, the short-lived resume credential of the callback — under
`VAULT_AGENT_ENCRYPTION_KEY`. Several keys may be configured, comma-separated: the first seals, every one
opens (key rotation). Each JWE names its key in the protected header (`kid`, a prefix of the key's RFC 7638
thumbprint), so opening picks the right key instead of trying them all; `typ` says what the value is, so a
value sealed for one purpose never opens as another. GCM's tag covers the header and the ciphertext: any
change makes opening fail.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from typing import Any

from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey

from .errors import Misconfigured

KEY_HELP = ("set VAULT_AGENT_ENCRYPTION_KEY to a 32-byte key in URL-safe base64, e.g. the output of "
            "`python -c \"import secrets,base64;print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())\"`")
_REGISTRY = jwe.JWERegistry(algorithms=["dir", "A256GCM"])


class Unsealable(Exception):
    """The value is not a JWE this server sealed for this purpose with one of its keys (or was altered)."""


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


class JweSealer:
    """Seals JSON claims as JWE with the first key; opens with any configured key."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise Misconfigured("VAULT_AGENT_ENCRYPTION_KEY is not set: " + KEY_HELP)
        self._keys = [OctKey.import_key(k, {"kid": OctKey.import_key(k).thumbprint()[:16]}) for k in keys]
        self._keyset = KeySet(self._keys)

    @classmethod
    def from_setting(cls, value: str) -> "JweSealer":
        return cls(parse_keys(value))

    def seal(self, claims: dict[str, Any], typ: str) -> str:
        header = {"alg": "dir", "enc": "A256GCM", "kid": self._keys[0].kid, "typ": typ}
        body = json.dumps(claims, separators=(",", ":")).encode()
        return jwe.encrypt_compact(header, body, self._keys[0], registry=_REGISTRY)

    def open(self, value: str, typ: str) -> dict[str, Any]:
        """The claims, or Unsealable (wrong purpose, unknown key, altered, not a JWE)."""
        if not value or value.count(".") != 4 or len(value) > 65536:
            raise Unsealable("not a compact JWE")
        try:
            opened = jwe.decrypt_compact(value, self._keyset, registry=_REGISTRY)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise Unsealable(type(exc).__name__) from exc
        if opened.protected.get("typ") != typ:
            raise Unsealable("sealed for another purpose")
        try:
            claims = json.loads(opened.plaintext or b"")
        except ValueError as exc:
            raise Unsealable("not JSON") from exc
        if not isinstance(claims, dict):
            raise Unsealable("not a JSON object")
        return claims
