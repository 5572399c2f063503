"""Settings: one object, the sandbox or a real tenant chosen by configuration alone."""

from auth.settings import LinkMode, Settings


def test_domain_without_scheme_gets_https(monkeypatch):
    s = Settings(_env_file=None, auth0_domain="tenant.eu.auth0.com/")
    assert s.auth0_base_url == "https://tenant.eu.auth0.com"
    assert s.auth0_issuer == "https://tenant.eu.auth0.com/"


def test_domain_with_scheme_is_kept():
    s = Settings(_env_file=None, auth0_domain="http://127.0.0.1:5001")
    assert s.auth0_base_url == "http://127.0.0.1:5001"


def test_environment_is_read(monkeypatch):
    monkeypatch.setenv("AUTH0_LINK_MODE", "connected_accounts")
    monkeypatch.setenv("AUTH0_CLIENT_ID", "abc")
    s = Settings(_env_file=None)
    assert s.auth0_link_mode is LinkMode.connected_accounts
    assert s.missing_auth0() == ["AUTH0_DOMAIN", "AUTH0_CLIENT_SECRET"]
