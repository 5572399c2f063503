"""What a provider API answered, in the terms the vault wrapper and the write tools act on."""

from __future__ import annotations


class ProviderError(Exception):
    """The provider failed in a way the user should hear about (its message is safe to show)."""


class ProviderUnauthorized(ProviderError):
    """401: the provider token is invalid, expired or revoked. Invalidate it and fetch a fresh one."""


class ProviderInsufficientScope(ProviderError):
    """403 for missing scopes: the user must grant more (a step-up linking request). `required`: scopes
    beyond the tool's own that would do (say GitHub's `repo` for a private repository), if known."""

    def __init__(self, message: str, required: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.required = tuple(required)


class ProviderUnreachable(ProviderError):
    """No complete answer (timeout, dropped connection, truncated body): a write may or may not have
    happened, so only a request with an idempotency key may be sent again."""


class ProviderConflict(ProviderError):
    """409: the resource with this client-chosen id already exists (an earlier attempt of ours)."""
