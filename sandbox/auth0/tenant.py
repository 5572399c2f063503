"""The tenant's state and rules: users and their identities, applications, authorization codes,
refresh tokens, Token Vault token sets — and the decisions the real tenant (plus the account-linking
post-login Action) makes on them. The HTTP layer (`app.py`) and the control API both call these, so the
control API's "the user clicked Allow" runs exactly the code the consent page runs.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from ..world import ProviderAccount, World
from .keys import SigningKeys

TOKEN_VAULT_GRANT = "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token"
REFRESH_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
FEDERATED_TOKEN_TYPE = "http://auth0.com/oauth/token-type/federated-connection-access-token"
CONNECTIONS = {"google-oauth2": "Google", "github": "GitHub"}
ID_TOKEN_HINT_MAX_AGE = 600  # the Action refuses hints older than 10 minutes
HINT_DENIED = "ID_TOKEN_HINT Invalid: The `id_token_hint` does not conform to the authorization policy"
LOOPBACK_CALLBACK = re.compile(r"^http://(127\.0\.0\.1|localhost)(:\d+)?/")
APP_CONSENT_DENIED = "User did not authorize the request"


@dataclass
class Identity:
    connection: str
    user_id: str
    provider: str
    is_social: bool = True
    profile: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        data = {"provider": self.provider, "user_id": self.user_id, "connection": self.connection,
                "isSocial": self.is_social}
        if self.profile:
            data["profileData"] = self.profile
        return data


@dataclass
class User:
    user_id: str
    email: str
    name: str
    password: str
    identities: list[Identity]
    provider_accounts: dict[str, str] = field(default_factory=dict)  # connection -> provider user id
    email_verified: bool = True
    created_at: float = field(default_factory=time.time)

    def identity(self, connection: str) -> Identity | None:
        return next((i for i in self.identities[1:] if i.connection == connection), None)

    def as_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id, "email": self.email, "email_verified": self.email_verified,
            "name": self.name, "nickname": self.name.split()[0].lower(),
            "picture": f"https://example.invalid/{self.user_id}.png",
            "identities": [i.as_json() for i in self.identities],
            "app_metadata": {}, "user_metadata": {},
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(self.created_at)),
        }


@dataclass
class Client:
    client_id: str
    client_secret: str
    name: str
    grants: set[str]
    callbacks: list[str] = field(default_factory=list)
    jwks: dict[str, Any] | None = None  # for private_key_jwt
    public: bool = False  # token_endpoint_auth_method "none": no secret, PKCE required
    first_party: bool = True  # third-party (registered by DCR or CIMD): the user consents before a code
    any_loopback: bool = False  # the sandbox's own application: any http loopback callback (no set-up)
    metadata_document: bool = False  # the client_id is the URL of its CIMD document
    imported: bool = False  # registered from its document by an admin (Management API): kept until refreshed

    def allows_callback(self, uri: str) -> bool:
        """Auth0's rule: the redirect URI is one of the registered ones, exactly. For a public (native)
        client a registered loopback IP literal (`http://127.0.0.1/…`, `http://[::1]/…`) matches on any port
        (RFC 8252 §7.3: the port is chosen when the client starts); `localhost` is matched exactly."""
        if uri in self.callbacks or (self.any_loopback and LOOPBACK_CALLBACK.match(uri)):
            return True
        return self.public and any(_same_but_port(uri, registered) for registered in self.callbacks)


@dataclass
class TokenSet:
    user_id: str
    connection: str
    provider_user_id: str
    scopes: set[str]
    created_at: float = field(default_factory=time.time)


@dataclass
class AuthCode:
    client_id: str
    user_id: str
    redirect_uri: str
    scope: str
    audience: str
    nonce: str
    code_challenge: str
    code_challenge_method: str
    expires_at: float


@dataclass
class RefreshToken:
    client_id: str
    user_id: str
    scope: str
    audience: str


@dataclass
class Transaction:
    """One /authorize request in progress (login page, consent page)."""

    id: str
    params: dict[str, str]
    client: Client
    user_id: str | None = None


@dataclass
class Outcome:
    """Where an /authorize step leads: a redirect, a page to show, or an error page (no redirect)."""

    redirect: str | None = None
    consent: Transaction | None = None
    login: Transaction | None = None
    error: str | None = None


class Tenant:
    def __init__(self, world: World, base_url: str = "http://127.0.0.1") -> None:
        self.world = world
        self.base_url = base_url.rstrip("/")
        self.keys = SigningKeys()
        self.users: dict[str, User] = {}
        self.clients: dict[str, Client] = {}
        self.token_sets: dict[tuple[str, str], TokenSet] = {}
        self.codes: dict[str, AuthCode] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.transactions: dict[str, Transaction] = {}
        self.sessions: dict[str, str] = {}  # browser session cookie -> user id
        self.connect_tickets: dict[str, dict[str, Any]] = {}  # My Account connect flows by ticket
        self.connected_accounts: dict[str, dict[str, Any]] = {}  # cac_… -> account
        self.config: dict[str, Any] = {
            "no_tokenset_error": "tokenset_not_found",
            "provider_token_ttl": 3600,
            "access_token_ttl": 86400,
            "id_token_ttl": 36000,
            # The Action's limit on an id_token_hint's age, checked when the user opens the link; tests
            # shorten it to play "clicked more than ten minutes later" without waiting.
            "id_token_hint_max_age": ID_TOKEN_HINT_MAX_AGE,
        }
        self.api_audience = "https://vault-agent.sandbox/api"
        self.apis = {self.api_audience}  # resource servers (APIs) whose access tokens Token Vault accepts
        self.app_client = self._add_client(
            "vault-agent", {"authorization_code", "refresh_token", TOKEN_VAULT_GRANT}, "sbx-app"
        )
        self.app_client.any_loopback = True  # the CLI, the servers and the tests call back on loopback ports
        self.config["client_id_metadata_documents"] = True  # CIMD on (Auth0: a tenant setting, off by default)
        self.consents: dict[tuple[str, str, str], set[str]] = {}  # (user, client, audience) -> scopes consented to
        self.mgmt_client = self._add_client("management", {"client_credentials"}, "sbx-mgmt")
        # What an MCP client (or any native app) uses when it does not register itself.
        self.public_client = self._add_client("mcp-client", {"authorization_code", "refresh_token"}, "sbx-pub")
        self.public_client.public = True
        self.public_client.callbacks = ["http://127.0.0.1/callback", "http://127.0.0.1/"]  # any port (RFC 8252)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A world kept on disk (sandbox/snapshot.py) before CIMD, consent and the redirect-URI rules came
        gets their defaults, as a tenant keeps its data across a product update."""
        self.__dict__.update(state)
        self.__dict__.setdefault("consents", {})
        self.config.setdefault("client_id_metadata_documents", True)
        self.app_client.any_loopback = True
        if not self.public_client.callbacks:
            self.public_client.callbacks = ["http://127.0.0.1/callback", "http://127.0.0.1/"]

    # -- set-up ---------------------------------------------------------------------------------
    @property
    def issuer(self) -> str:
        return self.base_url + "/"

    @property
    def management_audience(self) -> str:
        return self.base_url + "/api/v2/"

    def _add_client(self, name: str, grants: set[str], prefix: str) -> Client:
        client = Client(prefix + "-" + secrets.token_hex(8), secrets.token_urlsafe(32), name, grants)
        self.clients[client.client_id] = client
        return client

    def register_client(self, name: str, redirect_uris: list[str], public: bool) -> Client:
        """Dynamic Client Registration (RFC 7591) as Auth0 does it: a third-party application."""
        client = self._add_client(name or "registered", {"authorization_code", "refresh_token"}, "sbx-dcr")
        client.callbacks, client.public, client.first_party = list(redirect_uris), public, False
        if public:
            client.client_secret = ""
        return client

    async def resolve_client(self, client_id: str) -> str | None:
        """Before `/authorize` looks the client up: a `client_id` that is a URL is a CIMD client. One an admin
        imported is used as kept; otherwise, with CIMD enabled on the tenant, the document is read again on
        every `/authorize` (it is the source of truth). The error sentence, or None."""
        from . import cimd

        known = self.clients.get(client_id)
        if not cimd.is_metadata_url(client_id) or (known is not None and (not known.metadata_document
                                                                           or known.imported)):
            return None
        if not self.config.get("client_id_metadata_documents"):
            return "Unknown client_id (client ID metadata documents are not enabled on this tenant)."
        try:
            await self.import_metadata_document(client_id, imported=False)
        except cimd.CIMDError as exc:
            return str(exc)
        return None

    async def import_metadata_document(self, url: str, *, imported: bool = True) -> tuple[Client, bool]:
        """Fetch, check and keep the client of the document at `url` (a third-party public application
        whose client_id is the URL); (client, created). Raises `cimd.CIMDError`."""
        from . import cimd

        metadata = await cimd.fetch(url)
        created = url not in self.clients
        client = Client(url, "", metadata.client_name, metadata.grant_types, metadata.redirect_uris, public=True,
                        first_party=False, metadata_document=True, imported=imported)
        self.clients[url] = client
        return client, created

    def known_audience(self, audience: str) -> bool:
        """An API (resource server) exists for it: a registered one, or the tenant's own APIs."""
        return audience in self.apis or audience in (self.management_audience, self.base_url + "/me/",
                                                      self.base_url + "/userinfo")

    def create_user(self, name: str | None = None, email: str | None = None,
                    handle: str | None = None, password: str = "sandbox") -> User:
        handle = handle or "user" + secrets.token_hex(4)
        name = name or handle.capitalize()
        email = (email or f"{handle}@example.com").lower()
        user_id = f"auth0|{handle}"
        if user_id in self.users:
            raise ValueError(f"user {user_id} exists")
        user = User(user_id, email, name, password,
                    [Identity("Username-Password-Authentication", handle, "auth0", is_social=False)])
        google = ProviderAccount("google-oauth2", str(10**20 + secrets.randbelow(10**20)),
                                 f"{handle}@gmail.example", name)
        github = ProviderAccount("github", str(10**6 + secrets.randbelow(10**7)),
                                 f"{handle}@users.noreply.example", name, login=f"{handle}-gh")
        for account in (google, github):
            self.world.add_provider_account(account)
            user.provider_accounts[account.connection] = account.user_id
        self.users[user_id] = user
        self._seed_provider_data(google, github)
        return user

    def _seed_provider_data(self, google: ProviderAccount, github: ProviderAccount) -> None:
        from .. import github as github_app
        from .. import google_calendar

        google_calendar.seed_google(self.world, google)
        github_app.seed_github(self.world, github)

    def user_by_email(self, email: str) -> list[User]:
        return [u for u in self.users.values() if u.email == email]

    # -- tokens ---------------------------------------------------------------------------------
    def id_token(self, user: User, client_id: str, nonce: str = "", sid: str = "") -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": client_id, "sub": user.user_id, "iat": now,
                  "exp": now + self.config["id_token_ttl"], "auth_time": now, "email": user.email,
                  "email_verified": user.email_verified, "name": user.name,
                  "sid": sid or secrets.token_hex(8)}
        if nonce:
            claims["nonce"] = nonce
        return self.keys.sign(claims)

    def access_token(self, sub: str, client_id: str, audience: str, scope: str) -> str:
        now = int(time.time())
        aud: Any = audience or self.base_url + "/userinfo"
        if audience and "openid" in scope.split():
            aud = [audience, self.base_url + "/userinfo"]
        return self.keys.sign({"iss": self.issuer, "sub": sub, "aud": aud, "iat": now,
                               "exp": now + self.config["access_token_ttl"], "scope": scope,
                               "azp": client_id})

    def token_response(self, user: User, client: Client, scope: str, audience: str, nonce: str = "",
                       with_refresh: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token(user.user_id, client.client_id, audience, scope),
            "token_type": "Bearer", "expires_in": self.config["access_token_ttl"], "scope": scope,
        }
        if "openid" in scope.split():
            body["id_token"] = self.id_token(user, client.client_id, nonce)
        if with_refresh and "offline_access" in scope.split():
            refresh = "v1.sbx-" + secrets.token_urlsafe(32)
            self.refresh_tokens[refresh] = RefreshToken(client.client_id, user.user_id, scope, audience)
            body["refresh_token"] = refresh
        return body

    def session_for(self, user_id: str, scope: str, audience: str = "") -> dict[str, Any]:
        """Tokens as if `user_id` had logged in to the vault-agent application (control API)."""
        return self.token_response(self.users[user_id], self.app_client, scope, audience)

    # -- /authorize -----------------------------------------------------------------------------
    def begin_authorize(self, params: dict[str, str]) -> Outcome:
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            return Outcome(error="Unknown client_id.")
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri or not client.allows_callback(redirect_uri):
            return Outcome(error="Callback URL mismatch: redirect_uri is not an allowed callback of this application.")
        if params.get("response_type") != "code":
            return Outcome(redirect=self._error_redirect(params, "unsupported_response_type",
                                                         "Only response_type=code is supported."))
        method = params.get("code_challenge_method", "")
        if client.public and not params.get("code_challenge"):
            return Outcome(redirect=self._error_redirect(params, "invalid_request",
                                                         "Public clients must use PKCE."))
        if params.get("code_challenge") and method not in ("S256", "plain"):
            return Outcome(redirect=self._error_redirect(params, "invalid_request",
                                                         "Unsupported code_challenge_method."))
        audience = audience_of(params)
        if audience and not self.known_audience(audience):
            return Outcome(redirect=self._error_redirect(params, "access_denied", f"Service not found: {audience}"))
        tx = Transaction(secrets.token_urlsafe(16), dict(params), client)
        self.transactions[tx.id] = tx
        return Outcome(login=tx)

    def login(self, email: str, password: str) -> User | None:
        user = next((u for u in self.users.values() if u.email == email.strip().lower()), None)
        if user is None or not secrets.compare_digest(user.password, password):
            return None
        return user

    def continue_authorize(self, tx: Transaction, user_id: str) -> Outcome:
        """After login: a plain login issues a code; a link_account request runs the Action's rules."""
        tx.user_id = user_id
        params = tx.params
        scopes = params.get("scope", "").split()
        if "link_account" not in scopes:
            if not tx.client.first_party and not set(scopes) <= self.consents.get(self._grant_key(tx), set()):
                return Outcome(consent=tx)  # a third-party application: the user decides first
            return Outcome(redirect=self._issue_code(tx))
        user = self.users[user_id]
        claims = self.keys.verify(params.get("id_token_hint", ""))
        if (claims is None or claims.get("iss") != self.issuer or claims.get("aud") != tx.client.client_id
                or claims.get("sub") != user.user_id
                or claims.get("iat", 0) < time.time() - self.config["id_token_hint_max_age"]):
            return self._deny(tx, HINT_DENIED)
        connection = params.get("requested_connection", "")
        if connection not in CONNECTIONS:
            return self._deny(tx, "Unexpected Error trying to start account linking")
        wanted = requested_scopes(params)
        existing = self.token_sets.get((user.user_id, connection))
        if user.identity(connection) and existing and wanted <= existing.scopes:
            return Outcome(redirect=self._issue_code(tx))  # already linked with those scopes
        return Outcome(consent=tx)

    def decide_consent(self, tx: Transaction, allow: bool) -> Outcome:
        """The consent page answered (the user clicked Allow or Deny): the application's (third-party
        clients) or the provider's (account linking)."""
        self.transactions.pop(tx.id, None)
        if is_app_consent(tx):
            if not allow:
                return self._deny(tx, APP_CONSENT_DENIED)
            self.consents.setdefault(self._grant_key(tx), set()).update(tx.params.get("scope", "").split())
            return Outcome(redirect=self._issue_code(tx))
        if not allow:
            return self._deny(tx, "The user denied access to the requested connection.")
        user = self.users[tx.user_id or ""]
        connection = tx.params["requested_connection"]
        self.link(user, connection, requested_scopes(tx.params))
        return Outcome(redirect=self._issue_code(tx))

    @staticmethod
    def _grant_key(tx: Transaction) -> tuple[str, str, str]:
        return tx.user_id or "", tx.client.client_id, audience_of(tx.params)

    def add_connection(self, name: str, label: str) -> None:
        """Enable another social connection, as the dashboard's Authentication › Social does (a developer's
        own provider); each user gets an account there the first time they link it."""
        CONNECTIONS[name] = label

    def provider_account_id(self, user: User, connection: str) -> str:
        """The user's account id at `connection`, created on first use for connections added later."""
        if connection not in user.provider_accounts:
            handle = user.user_id.split("|", 1)[-1]
            account = ProviderAccount(connection, secrets.token_hex(8), user.email, user.name, login=handle)
            self.world.add_provider_account(account)
            user.provider_accounts[connection] = account.user_id
        return user.provider_accounts[connection]

    def link(self, user: User, connection: str, scopes: set[str], *, as_identity: bool = True) -> TokenSet:
        """Link the user's own provider account and store its token set (granted ∪ already granted).
        `as_identity=False` is the Connected Accounts way: a token set without a linked identity."""
        provider_user_id = self.provider_account_id(user, connection)
        if as_identity and user.identity(connection) is None:
            account = self.world.provider_account(connection, provider_user_id)
            profile = {"email": account.email, "name": account.name} if account else {}
            if account and account.login:
                profile["nickname"] = account.login
            user.identities.append(Identity(connection, provider_user_id, connection, profile=profile))
        previous = self.token_sets.get((user.user_id, connection))
        granted = set(scopes) | (previous.scopes if previous else set())
        token_set = TokenSet(user.user_id, connection, provider_user_id, granted)
        self.token_sets[(user.user_id, connection)] = token_set
        return token_set

    def merge_users(self, primary: User, secondary: User) -> None:
        """Management API linking of two users: the secondary's identity joins the primary, and the
        secondary user disappears (its token sets move with it)."""
        main = secondary.identities[0]
        main.profile = {"email": secondary.email, "name": secondary.name}
        primary.identities.append(main)
        for (owner, connection), token_set in list(self.token_sets.items()):
            if owner == secondary.user_id and (primary.user_id, connection) not in self.token_sets:
                token_set.user_id = primary.user_id
                self.token_sets[(primary.user_id, connection)] = token_set
            if owner == secondary.user_id:
                del self.token_sets[(owner, connection)]
        del self.users[secondary.user_id]

    def unlink(self, user: User, connection: str) -> bool:
        identity = user.identity(connection)
        removed = self.token_sets.pop((user.user_id, connection), None) is not None
        if identity is not None:
            user.identities.remove(identity)
            self.world.revoke_provider_tokens(connection, identity.user_id)
            removed = True
        return removed

    def _issue_code(self, tx: Transaction) -> str:
        self.transactions.pop(tx.id, None)
        params = tx.params
        code = secrets.token_urlsafe(24)
        self.codes[code] = AuthCode(
            tx.client.client_id, tx.user_id or "", params["redirect_uri"], params.get("scope", "openid"),
            audience_of(params), params.get("nonce", ""), params.get("code_challenge", ""),
            params.get("code_challenge_method", "plain"), time.time() + 600,
        )
        return _with_query(params["redirect_uri"], {"code": code, "state": params.get("state")})

    def _deny(self, tx: Transaction, description: str) -> Outcome:
        self.transactions.pop(tx.id, None)
        return Outcome(redirect=self._error_redirect(tx.params, "access_denied", description))

    @staticmethod
    def _error_redirect(params: dict[str, str], error: str, description: str) -> str:
        return _with_query(params["redirect_uri"], {"error": error, "error_description": description,
                                                    "state": params.get("state")})

    # -- code exchange --------------------------------------------------------------------------
    def redeem_code(self, client: Client, code: str, redirect_uri: str, verifier: str) -> AuthCode | None:
        grant = self.codes.pop(code, None)  # single use
        if grant is None or grant.client_id != client.client_id or grant.expires_at < time.time():
            return None
        if grant.redirect_uri != redirect_uri:
            return None
        if grant.code_challenge:
            expected = (create_s256_code_challenge(verifier) if grant.code_challenge_method == "S256"
                        else verifier)
            if not verifier or not secrets.compare_digest(expected, grant.code_challenge):
                return None
        return grant


def is_app_consent(tx: Transaction) -> bool:
    """The consent a third-party application asks for (not a provider's, which account linking shows)."""
    return "link_account" not in tx.params.get("scope", "").split()


def _same_but_port(uri: str, registered: str) -> bool:
    """Both are http loopback IP literal URIs that differ at most in the port."""
    a, b = urlsplit(uri), urlsplit(registered)
    return (a.scheme == b.scheme == "http" and a.hostname == b.hostname and a.hostname in ("127.0.0.1", "::1")
            and (a.path or "/") == (b.path or "/") and a.query == b.query and not a.fragment)


def audience_of(params: dict[str, Any]) -> str:
    """`audience`, or the RFC 8707 `resource` an MCP client sends (Auth0's Resource Parameter
    Compatibility Profile treats it as the audience)."""
    return str(params.get("audience") or params.get("resource") or "")


def requested_scopes(params: dict[str, str]) -> set[str]:
    """`requested_connection_scope` (or the older plural name), comma- or space-separated."""
    raw = params.get("requested_connection_scope") or params.get("requested_connection_scopes") or ""
    return {s for s in re.split(r"[,\s]+", raw) if s}


def _with_query(uri: str, params: dict[str, Any]) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return uri + ("&" if urlsplit(uri).query else "?") + query
