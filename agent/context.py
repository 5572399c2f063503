"""Runtime context of a run: who the user is and the clients to act for them.

LangGraph passes it to nodes and tools at run time and never checkpoints it — which is why the user's
Auth0 token lives here and not in state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auth.credentials import UserCredentials

from .services import Services, default_services


@dataclass
class Context:
    user: UserCredentials
    timezone: str = "UTC"
    services: Services = field(default_factory=default_services, repr=False)
