"""With HTTP(S)_PROXY set, the Token Vault exchange and the agent's shared client use httpx's own
transport (which honours the proxy); without, they use auth.http1."""

from __future__ import annotations

from auth.credentials import UserCredentials
from auth.settings import Settings
from auth.token_vault import TokenVault
from auth.transport import Http1Transport
from tools.services import Services


async def test_a_configured_proxy_carries_the_exchange(monkeypatch):
    seen: list[str] = []

    async def proxy(reader, writer):  # a proxy that answers every request itself
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head.split(b"\r\n", 1)[0].decode())
        length = int(next(l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")))
        await reader.readexactly(length)
        body = b'{"access_token": "t", "expires_in": 60, "scope": "repo"}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    import asyncio

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    settings = Settings(_env_file=None, auth0_domain="http://tenant.example", auth0_client_id="c", auth0_client_secret="s")
    vault = TokenVault(settings)
    token = await vault.get_token(UserCredentials("u", refresh_token="r"), "github", ["repo"])
    assert token.scopes == {"repo"} and seen == ["POST http://tenant.example/oauth/token HTTP/1.1"]
    await vault.aclose()
    services = Services.create(settings)
    assert not isinstance(services.http._transport, Http1Transport)
    await services.aclose()
    server.close()


async def test_without_a_proxy_the_fast_paths_are_used(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    services = Services.create(Settings(_env_file=None))
    assert isinstance(services.http._transport, Http1Transport)
    await services.aclose()
