"""Click-time sign-in: a server's link page signs the user in at the tenant before the linking starts.

A server that holds only the user's access token (the LangGraph server with a standard bearer client,
the MCP server) cannot mint what the linking needs — a fresh ID token for `id_token_hint`, a My Account
API token for Connected Accounts — and tokens from the time of the pause would be stale by the time
the user clicks. So the link it hands out is its own page; opening it runs a plain OpenID login
(code + PKCE; silent when the user has a session at the tenant), which

- proves the person who opened the link is the user it was made for (another account: `WrongAccount`),
- mints the credentials right then: the ID token (link_account), or an access token for
  `https://TENANT/me/` (Connected Accounts), plus, when asked, an access token for the server's API.

The sign-in's record (state, nonce, PKCE verifier, which link, whose) lives in the same store as the
pending requests, single use, and holds no token.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from urllib.parse import parse_qsl, urlsplit

import httpx
from langgraph.store.base import BaseStore

from ..authorize_url import Secrets, authorize_url
from ..credentials import UserCredentials
from ..errors import AuthError
from ..oidc import InvalidToken, OIDCProvider
from ..settings import LinkMode, Settings
from ..token_endpoint import token_request
from .outcomes import RETRYABLE_ERRORS, Expired, Failed, LinkOutcome, RetryLater, TenantRefused, WrongAccount
from .pending import kept_until

SIGN_INS = ("vault_agent", "link_sign_ins")
SIGN_IN_TTL_SECONDS = 600
MY_ACCOUNT_LOGIN_SCOPES = "create:me:connected_accounts read:me:connected_accounts"


@dataclass(frozen=True)
class SignInRecord:
    state: str
    link_id: str
    user_sub: str
    redirect_uri: str
    expires_at: float
    nonce: str = field(default="", repr=False)
    code_verifier: str = field(default="", repr=False)


@dataclass(frozen=True)
class SignedIn:
    """The user of link `link_id` signed in just now; `credentials` were minted by that login."""

    link_id: str
    credentials: UserCredentials = field(repr=False)


class ClickSignIn:
    def __init__(self, settings: Settings, store: BaseStore, http: httpx.AsyncClient, oidc: OIDCProvider, *,
                 audience: str = "") -> None:
        self.settings = settings
        self.store = store
        self.http = http
        self.oidc = oidc
        #: The API whose access token the login also returns (the LangGraph server's, for a fresh envelope).
        self.audience = audience

    async def begin(self, link_id: str, user_sub: str, redirect_uri: str) -> str:
        """The tenant's login URL for the user of `link_id`; the answer comes back to `redirect_uri`."""
        secrets = Secrets.new()
        record = SignInRecord(secrets.state, link_id, user_sub, redirect_uri, time.time() + SIGN_IN_TTL_SECONDS,
                              secrets.nonce, secrets.code_verifier)
        await self.store.aput(SIGN_INS, record.state, asdict(record),
                              **kept_until(self.store, record.expires_at, after_minutes=0))
        if self.settings.auth0_link_mode is LinkMode.connected_accounts:
            scope, audience = "openid " + MY_ACCOUNT_LOGIN_SCOPES, self.settings.auth0_base_url + "/me/"
        else:
            scope, audience = "openid", self.audience
        return authorize_url(self.settings, redirect_uri=redirect_uri, scope=scope, secrets=secrets,
                             audience=audience)

    async def is_sign_in(self, callback_url: str) -> bool:
        """Whether this callback answers a sign-in (rather than a linking request)."""
        state = dict(parse_qsl(urlsplit(callback_url).query)).get("state", "")
        return bool(state) and len(state) <= 4096 and await self.store.aget(SIGN_INS, state) is not None

    async def finish(self, callback_url: str) -> SignedIn | LinkOutcome:
        """The sign-in's answer: who signed in (and their fresh credentials), or why not."""
        query = dict(parse_qsl(urlsplit(callback_url).query, keep_blank_values=True))
        state = query.get("state", "")
        item = await self.store.aget(SIGN_INS, state) if state and len(state) <= 4096 else None
        if item is None:
            return Failed(None, "unknown_state", "This sign-in is unknown or was already used.")
        await self.store.adelete(SIGN_INS, state)  # single use
        record = SignInRecord(**{k: v for k, v in item.value.items() if k in SignInRecord.__dataclass_fields__})
        if record.expires_at <= time.time():
            return Expired(None)
        if "error" in query:
            error, description = query["error"], query.get("error_description", "")
            if error in RETRYABLE_ERRORS:
                return RetryLater(None, f"Auth0 could not sign you in just now ({error}). Open the link again "
                                        "in a moment.")
            return TenantRefused(None, f"{description or error}")
        try:
            tokens = await token_request(self.http, self.settings, {
                "grant_type": "authorization_code", "code": query.get("code", ""),
                "redirect_uri": record.redirect_uri, "code_verifier": record.code_verifier})
            claims = await self.oidc.validate(tokens.get("id_token", ""), audience=self.settings.auth0_client_id,
                                              nonce=record.nonce)
        except InvalidToken as exc:
            return Failed(None, "invalid_id_token", f"The sign-in did not complete: {exc}")
        except AuthError as exc:
            if exc.retryable:
                return RetryLater(None, f"{exc} Open the link again in a moment.")
            return Failed(None, "exchange_failed", f"The sign-in did not complete: {exc}")
        if claims.get("sub") != record.user_sub:
            return WrongAccount(None)
        access = tokens.get("access_token")
        my_account = self.settings.auth0_link_mode is LinkMode.connected_accounts
        credentials = UserCredentials(record.user_sub, tokens.get("id_token", ""),
                                      access_token=None if my_account else access,
                                      my_account_token=access if my_account else None)
        return SignedIn(record.link_id, credentials)


