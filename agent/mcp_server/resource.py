"""The MCP server as an OAuth protected resource: which bearer tokens it accepts.

A token is accepted when the tenant signed it (JWKS), for this server's resource URL as audience, and it
has not expired — `auth/oidc.py` does the checks. The MCP SDK's middleware turns a refusal into 401 with
`WWW-Authenticate: Bearer resource_metadata="…"`, and publishes the RFC 9728 metadata that points clients
at the tenant.
"""

from __future__ import annotations

import logging

from mcp.server.auth.provider import AccessToken

from auth.oidc import InvalidToken, OIDCProvider

log = logging.getLogger(__name__)


class Auth0TokenVerifier:
    """`mcp.server.auth.provider.TokenVerifier` over the tenant's JWKS."""

    def __init__(self, oidc: OIDCProvider, audience: str) -> None:
        self.oidc = oidc
        self.audience = audience

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            claims = await self.oidc.validate(token, audience=self.audience)
        except InvalidToken as exc:
            log.info("refused a bearer token: %s", exc)  # the reason, never the token
            return None
        return AccessToken(token=token, client_id=str(claims.get("azp") or claims.get("client_id") or ""),
                           scopes=str(claims.get("scope", "")).split(), expires_at=int(claims["exp"]),
                           resource=self.audience, subject=str(claims["sub"]),
                           claims={"iss": claims.get("iss")})
