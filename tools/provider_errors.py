"""What a provider API answered, in the terms the vault wrapper acts on."""

from __future__ import annotations


class ProviderError(Exception):
    """The provider failed in a way the user should hear about (its message is safe to show)."""


class ProviderUnauthorized(ProviderError):
    """401: the provider token is invalid, expired or revoked. Invalidate it and fetch a fresh one."""


class ProviderInsufficientScope(ProviderError):
    """403 for missing scopes: the user must grant more (a step-up linking request)."""
