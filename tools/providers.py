"""The provider catalog: every fact about a connection that more than one layer needs, in one place.

Tools read the scopes they ask for from here, the CLI and notebooks read labels, aliases and the plain
words shown beside a scope. A developer protecting their own API adds a `Provider` with `register()`;
nothing else in the code base keeps a copy of these facts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

GOOGLE_SCOPE = "https://www.googleapis.com/auth/"


@dataclass(frozen=True)
class Provider:
    """One Auth0 connection as the agent uses it.

    `name` is the Auth0 connection name (what Token Vault and the linking URL carry); `capabilities` maps
    what a tool wants to do ("read", "write", …) to the provider scopes that allow it.
    """

    name: str
    label: str
    capabilities: Mapping[str, tuple[str, ...]]
    scope_words: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    def scopes(self, capability: str = "read") -> list[str]:
        """The scopes for `capability`; a `KeyError` names the ones that exist."""
        try:
            return list(self.capabilities[capability])
        except KeyError:
            raise KeyError(f"{self.label} has no capability {capability!r} "
                           f"(known: {', '.join(self.capabilities)})") from None

    def describe(self, scopes: Sequence[str]) -> list[str]:
        """Plain words for each scope (the scope itself when there are none)."""
        return [self.scope_words.get(s, s) for s in scopes]


GOOGLE = Provider(
    "google-oauth2", "Google Calendar",
    capabilities={"read": (GOOGLE_SCOPE + "calendar.readonly",), "write": (GOOGLE_SCOPE + "calendar.events",),
                  "freebusy": (GOOGLE_SCOPE + "calendar.freebusy",)},
    scope_words={GOOGLE_SCOPE + "calendar.readonly": "read your calendar",
                 GOOGLE_SCOPE + "calendar.events": "create and change events",
                 GOOGLE_SCOPE + "calendar.freebusy": "see when you are free or busy",
                 GOOGLE_SCOPE + "calendar": "see and change everything in your calendars"},
    aliases=("google", "calendar", "gcal", "google-calendar"),
)
GITHUB = Provider(
    "github", "GitHub",
    # The least GitHub allows: reading public repositories and their issues needs no scope at all; a private
    # repository needs `repo` (GitHub has no read-only variant), asked for only when a read meets one (GitHub
    # answers 404 for a repository the token may not see). Opening an issue asks `repo`: `public_repo` would do
    # for a public repository, but Token Vault compares scopes by name, so whoever granted `repo` would be
    # asked again for its subset, and a write may as well target a private repository.
    capabilities={"read": (), "write": ("repo",), "private": ("repo",)},
    scope_words={"repo": "read and write your repositories and issues, private ones included",
                 "public_repo": "open issues and make changes in your public repositories"},
    aliases=("gh",),
)

_catalog: dict[str, Provider] = {}


def register(provider: Provider) -> Provider:
    """Add (or replace) a provider, e.g. for a tool of your own on another Auth0 connection."""
    _catalog[provider.name] = provider
    return provider


def providers() -> list[Provider]:
    return list(_catalog.values())


def find(name: str) -> Provider | None:
    """The provider called `name`: its connection name, its label or an alias, in any case."""
    wanted = name.strip().lower()
    for provider in _catalog.values():
        if wanted in (provider.name.lower(), provider.label.lower(), *provider.aliases):
            return provider
    return None


def label(connection: str) -> str:
    """What the user calls `connection` (the connection name itself when unknown)."""
    provider = _catalog.get(connection)
    return provider.label if provider else connection


def describe_scope(scope: str) -> str:
    """Plain words for one scope, whichever provider knows it."""
    for provider in _catalog.values():
        if scope in provider.scope_words:
            return provider.scope_words[scope]
    return scope


register(GOOGLE)
register(GITHUB)
