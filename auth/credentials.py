"""The user as the agent sees them: who they are and the Auth0 token that Token Vault exchanges.

It travels in LangGraph's *runtime context*, never in state or checkpoints, and its repr never shows a
token, so an accidental log line or traceback cannot leak one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True, repr=False)
class UserCredentials:
    sub: str
    id_token: str = field(default="", compare=False)
    refresh_token: str | None = field(default=None, compare=False)  # CLI and notebooks
    access_token: str | None = field(default=None, compare=False)  # the LangGraph server
    # Connected Accounts on the LangGraph server: the client's My Account API token (no refresh token there).
    my_account_token: str | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        kinds = [k for k in ("refresh_token", "access_token", "my_account_token") if getattr(self, k)]
        return f"UserCredentials(sub={self.sub!r}, has={kinds})"

    __str__ = __repr__

    @property
    def subject_token(self) -> tuple[str, str]:
        """(token, RFC 8693 token type) for the Token Vault exchange: the refresh token when there is one."""
        if self.refresh_token:
            return self.refresh_token, "urn:ietf:params:oauth:token-type:refresh_token"
        if self.access_token:
            return self.access_token, "urn:ietf:params:oauth:token-type:access_token"
        raise ValueError("UserCredentials carry no refresh or access token")

    @property
    def fingerprint(self) -> str:
        """A short hash of the subject token: a cache key part that is not the token itself."""
        token, _ = self.subject_token
        return hashlib.sha256(token.encode()).hexdigest()[:16]
