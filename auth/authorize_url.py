"""The one builder of a tenant `/authorize` URL with PKCE (S256), for every flow that sends a browser to
Auth0: the user's login, the click-time sign-in of a link page, and the link_account request.

The query is written by authlib's `prepare_grant_uri` and the challenge by its RFC 7636 helper, so no
caller assembles OAuth parameters by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from .settings import Settings


@dataclass(frozen=True, repr=False)
class Secrets:
    """What finishing an authorization needs besides the code: never shown, never logged."""

    state: str
    nonce: str
    code_verifier: str

    @classmethod
    def new(cls) -> "Secrets":
        return cls(generate_token(32), generate_token(32), generate_token(64))

    def __repr__(self) -> str:
        return "Secrets(…)"


def authorize_url(settings: Settings, *, redirect_uri: str, scope: str, secrets: Secrets,
                  **params: str) -> str:
    """`/authorize` of the tenant for the application, code flow with PKCE; empty `params` are left out."""
    extra = {k: v for k, v in params.items() if v}
    return prepare_grant_uri(
        settings.auth0_base_url + "/authorize", settings.auth0_client_id, "code", redirect_uri=redirect_uri,
        scope=scope, state=secrets.state, nonce=secrets.nonce,
        code_challenge=create_s256_code_challenge(secrets.code_verifier), code_challenge_method="S256", **extra)
