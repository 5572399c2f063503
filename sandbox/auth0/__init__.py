"""Stand-in for an Auth0 tenant: OIDC, the login and consent pages, the client-initiated account linking
flow (as the post-login Action behaves), the token endpoint with the Token Vault grant, and the
Management API. `Tenant` holds the state; `create_app(tenant)` serves it."""

from .app import create_app
from .tenant import Tenant

__all__ = ["Tenant", "create_app"]
