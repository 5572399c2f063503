"""The tenant's signing keys: two RS256 keys in the JWKS (as during a rotation), the first one signs."""

from __future__ import annotations

import time
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey


class SigningKeys:
    def __init__(self) -> None:
        self.keys = [
            RSAKey.generate_key(2048, parameters={"kid": f"sbx-key-{i}", "alg": "RS256", "use": "sig"})
            for i in (1, 2)
        ]
        self.keyset = KeySet(self.keys)

    def __getstate__(self) -> dict[str, Any]:  # a snapshot keeps the keys, so stored sessions stay valid
        return {"keys": [k.as_dict(private=True) for k in self.keys]}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.keys = [RSAKey.import_key(k) for k in state["keys"]]
        self.keyset = KeySet(self.keys)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.as_dict(private=False) for k in self.keys]}

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.keys[0]
        return jwt.encode({"alg": "RS256", "typ": "JWT", "kid": key.kid}, claims, key)

    def verify(self, token: str) -> dict[str, Any] | None:
        """Claims of a token this tenant signed and that has not expired; None otherwise."""
        try:
            claims = jwt.decode(token, self.keyset, algorithms=["RS256"]).claims
        except (JoseError, ValueError, TypeError):
            return None
        if claims.get("exp", 0) < time.time():
            return None
        return claims
