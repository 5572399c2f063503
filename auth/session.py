"""The primary user's Auth0 session for the CLI and notebooks.

Login is the authorization-code flow with PKCE through a loopback redirect (as `gh auth login` does);
the tokens are kept in the OS keyring when a usable one exists, else in a 0600 JSON file under the
user's config directory (0700; never read or written through a symlink: `auth/files.py`). They are never printed or logged. In sandbox mode a session for a seeded user
comes from the sandbox's control API, without a browser.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from .authorize_url import Secrets, authorize_url
from .closing import AsyncClosing
from .credentials import UserCredentials
from .errors import Misconfigured, SessionExpired, TransientError
from .files import private_dir, read_private, write_private
from .oidc import InvalidToken, OIDCProvider
from .settings import Settings
from .token_endpoint import token_request

log = logging.getLogger(__name__)

KEYRING_SERVICE = "vault-agent"
LOGIN_SCOPE = "openid profile email offline_access"


class SessionStore:
    """Where the session lives between runs: keyring if usable, else a 0600 file."""

    def __init__(self, settings: Settings, *, use_keyring: bool | None = None) -> None:
        self.path = Path(settings.vault_agent_config_dir) / "session.json"
        self.key = settings.auth0_domain or "default"
        self.use_keyring = _keyring_usable() if use_keyring is None else use_keyring

    def load(self) -> UserCredentials | None:
        raw: str | None = None
        if self.use_keyring:
            import keyring

            raw = keyring.get_password(KEYRING_SERVICE, self.key)
        elif self.path.parent.exists():
            private_dir(self.path.parent)  # tightened to 0700 even if it was made looser
            raw = read_private(self.path)  # a symlink planted there is not followed
        if not raw:
            return None
        try:
            data = json.loads(raw)
            if data.get("domain", self.key) != self.key:
                return None
            return UserCredentials(data["sub"], data.get("id_token", ""), data.get("refresh_token"),
                                   data.get("access_token"))
        except (ValueError, KeyError):
            return None

    def save(self, creds: UserCredentials) -> None:
        raw = json.dumps({"domain": self.key, "sub": creds.sub, "id_token": creds.id_token,
                          "refresh_token": creds.refresh_token, "access_token": creds.access_token})
        if self.use_keyring:
            import keyring

            keyring.set_password(KEYRING_SERVICE, self.key, raw)
            return
        write_private(self.path, raw)  # 0600 in a 0700 directory; a planted symlink is replaced

    def delete(self) -> None:
        if self.use_keyring:
            import keyring
            from keyring.errors import PasswordDeleteError

            try:
                keyring.delete_password(KEYRING_SERVICE, self.key)
            except PasswordDeleteError:
                pass
        self.path.unlink(missing_ok=True)


def _keyring_usable() -> bool:
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
        return not isinstance(backend, fail.Keyring) and "null" not in type(backend).__module__ \
            and getattr(backend, "priority", 0) > 0
    except Exception:  # any import or backend probing problem means: use the file
        return False


class SessionClient(AsyncClosing):
    """Login, refresh and logout against the tenant."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.http = http or httpx.AsyncClient(timeout=settings.http_timeout_seconds)
        self.oidc = OIDCProvider(settings, self.http)

    def authorize_url(self, redirect_uri: str) -> tuple[str, dict[str, str]]:
        """A login URL and the secrets to finish it (state, nonce, verifier)."""
        secrets = Secrets.new()
        url = authorize_url(self.settings, redirect_uri=redirect_uri, scope=LOGIN_SCOPE, secrets=secrets,
                            audience=self.settings.auth0_audience)
        return url, {"state": secrets.state, "nonce": secrets.nonce, "verifier": secrets.code_verifier,
                     "redirect_uri": redirect_uri}

    async def finish_login(self, query: dict[str, str], secrets_: dict[str, str]) -> UserCredentials:
        if query.get("state") != secrets_["state"]:
            raise SessionExpired("The login answer does not match this login attempt: try again.")
        if "error" in query:
            raise SessionExpired(f"Login failed: {query.get('error_description') or query['error']}")
        tokens = await self._token({"grant_type": "authorization_code", "code": query.get("code", ""),
                                    "redirect_uri": secrets_["redirect_uri"],
                                    "code_verifier": secrets_["verifier"]})
        try:
            claims = await self.oidc.validate(tokens.get("id_token", ""), audience=self.settings.auth0_client_id,
                                              nonce=secrets_["nonce"])
        except InvalidToken as exc:
            raise SessionExpired(f"Auth0 returned an invalid ID token: {exc}") from exc
        return UserCredentials(claims["sub"], tokens["id_token"], tokens.get("refresh_token"),
                               tokens.get("access_token"))

    async def login(self, redirect_uri: str,
                    open_and_wait: Callable[[str], Awaitable[dict[str, str]]]) -> UserCredentials:
        """Full login: `open_and_wait(url)` shows the URL and returns the callback's query parameters."""
        url, secrets_ = self.authorize_url(redirect_uri)
        return await self.finish_login(await open_and_wait(url), secrets_)

    async def refresh(self, creds: UserCredentials) -> UserCredentials:
        """A fresh ID/access token from the refresh token (silent; no browser).

        Raises `SessionExpired` only when Auth0 says the refresh token is dead (`invalid_grant`): only
        then may a caller forget the session. A 403 from a WAF, a 404 from a proxy, a 5xx,
        `temporarily_unavailable` or a dropped connection is a `TransientError` — keep the session and
        say "try again"."""
        if not creds.refresh_token:
            raise SessionExpired("This session cannot be refreshed: log in again.")
        tokens = await self._token({"grant_type": "refresh_token", "refresh_token": creds.refresh_token})
        return UserCredentials(creds.sub, tokens.get("id_token", creds.id_token),
                               tokens.get("refresh_token", creds.refresh_token),
                               tokens.get("access_token", creds.access_token))

    async def userinfo(self, creds: UserCredentials) -> dict[str, Any]:
        fresh = await self.refresh(creds) if creds.refresh_token else creds
        try:
            response = await self.http.get(self.settings.auth0_base_url + "/userinfo",
                                           headers={"Authorization": f"Bearer {fresh.access_token}"})
            if response.status_code == 200:
                return response.json()
        except (httpx.TransportError, ValueError) as exc:
            raise TransientError(f"Auth0 could not be reached ({type(exc).__name__}); try again shortly.") from exc
        if response.status_code == 401:
            raise SessionExpired("Your session is no longer valid: log in again.")
        raise TransientError(f"Auth0 answered {response.status_code} for your profile; try again shortly.")

    async def logout(self, creds: UserCredentials) -> None:
        if creds.refresh_token:
            try:
                await self.http.post(self.settings.auth0_base_url + "/oauth/revoke",
                                     data={"token": creds.refresh_token,
                                           "client_id": self.settings.auth0_client_id,
                                           "client_secret": self.settings.auth0_client_secret})
            except httpx.TransportError:
                log.warning("could not reach Auth0 to revoke the refresh token; removed it locally")

    async def _token(self, form: dict[str, str]) -> dict[str, Any]:
        return await token_request(self.http, self.settings, form)

    async def aclose(self) -> None:
        await self.http.aclose()


async def sandbox_session(settings: Settings, email: str | None = None) -> UserCredentials:
    """A logged-in session for a seeded sandbox user, from the control API (no browser). Speaks HTTP
    to the sandbox rather than importing it: `auth/` does not know the sandbox exists."""
    if not settings.sandbox_control_url:
        raise Misconfigured("SANDBOX_CONTROL_URL is not set: this is not a sandbox.")
    email = email or settings.sandbox_user_email
    async with httpx.AsyncClient(base_url=settings.sandbox_control_url, timeout=10) as http:
        users = (await http.get("/control/users")).json()
        match = next((u for u in users if u["email"] == email), None)
        if match is None:
            raise Misconfigured(f"No sandbox user {email}.")
        response = await http.post("/control/sessions", json={"user_id": match["user_id"],
                                                               "audience": settings.auth0_audience or None})
        tokens = response.json()
    return UserCredentials(match["user_id"], tokens["id_token"], tokens.get("refresh_token"),
                           tokens.get("access_token"))
