"""The only place that reads configuration.

Values come from the environment and an optional `.env` file. Pointing the same code at the sandbox or
at a real tenant is a matter of configuration alone: the sandbox prints the same variable names with
loopback URLs.
"""

from __future__ import annotations

from enum import Enum
from functools import lru_cache
from pathlib import Path

from platformdirs import user_config_path, user_state_path
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

GOOGLE_API_DEFAULT = "https://www.googleapis.com"
GITHUB_API_DEFAULT = "https://api.github.com"


class LinkMode(str, Enum):
    """How a missing token set is filled: the seed's link_account Action, or My Account connect."""

    link_account = "link_account"
    connected_accounts = "connected_accounts"


class Settings(BaseSettings):
    """Everything vault-agent can be told. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    auth0_domain: str = ""
    auth0_client_id: str = ""
    auth0_client_secret: str = ""
    auth0_audience: str = ""
    auth0_callback_url: str = ""
    auth0_link_mode: LinkMode = LinkMode.link_account
    auth0_mgmt_client_id: str = ""
    auth0_mgmt_client_secret: str = ""

    openai_api_key: str = ""
    openai_model: str = "gpt-4o-mini"
    openai_base_url: str = ""

    google_api_base_url: str = GOOGLE_API_DEFAULT
    github_api_url: str = GITHUB_API_DEFAULT

    sandbox_control_url: str = ""
    sandbox_user_email: str = "alice@example.com"

    vault_agent_db_url: str = ""
    vault_agent_state_dir: Path = Field(default_factory=lambda: user_state_path("vault-agent"))
    vault_agent_config_dir: Path = Field(default_factory=lambda: user_config_path("vault-agent"))
    vault_agent_timezone: str = ""
    # The front end's address (say Agent Chat UI's): the last page of a link flow offers the way back there.
    vault_agent_app_url: str = ""
    # How long a server's link page (`/link/{id}`, which signs the user in when opened) stays valid.
    vault_agent_link_page_ttl_seconds: float = 24 * 3600
    # LangGraph server: AES-256-GCM key(s) for the credential envelope that travels with each run.
    vault_agent_encryption_key: str = Field(default="", repr=False)
    # LangGraph server: browser origins allowed to call it (CORS), comma-separated; none by default.
    vault_agent_cors_origins: str = ""
    http_timeout_seconds: float = 10.0

    @field_validator("auth0_domain")
    @classmethod
    def _strip_domain(cls, value: str) -> str:
        return value.strip().rstrip("/")

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.vault_agent_cors_origins.split(",") if o.strip()]

    @property
    def auth0_base_url(self) -> str:
        """`AUTH0_DOMAIN` with a scheme: `https://` unless one was given (the sandbox gives `http://`)."""
        if not self.auth0_domain:
            return ""
        if "://" in self.auth0_domain:
            return self.auth0_domain
        return f"https://{self.auth0_domain}"

    @property
    def auth0_issuer(self) -> str:
        """The tenant's issuer as it appears in tokens: base URL with a trailing slash."""
        return self.auth0_base_url + "/"

    @property
    def auth0_configured(self) -> bool:
        return bool(self.auth0_domain and self.auth0_client_id)

    def missing_auth0(self) -> list[str]:
        """Names of the variables a real tenant needs that are not set."""
        needed = {
            "AUTH0_DOMAIN": self.auth0_domain,
            "AUTH0_CLIENT_ID": self.auth0_client_id,
            "AUTH0_CLIENT_SECRET": self.auth0_client_secret,
        }
        return [name for name, value in needed.items() if not value]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once. Tests build `Settings(...)` directly instead."""
    return Settings()
