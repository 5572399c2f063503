"""What every CLI command needs before it can act: settings (the sandbox when nothing is configured),
the user's session, services and persistence — and one-line error messages for what can go wrong."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from auth.credentials import UserCredentials
from auth.errors import AuthError, Misconfigured, SessionExpired
from auth.session import SessionClient, SessionStore, sandbox_session
from auth.settings import Settings

DEFAULT_CALLBACK = "http://127.0.0.1:8765/callback"
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class CliError(Exception):
    """One clear line for the user, with what to do. Shown without a traceback."""


@dataclass
class Runtime:
    settings: Settings
    sandbox: Any | None  # the in-process SandboxServer when we started one

    @property
    def callback_url(self) -> str:
        return self.settings.auth0_callback_url or DEFAULT_CALLBACK


def load_runtime(*, quiet: bool = False) -> Runtime:
    """Settings from the environment; with no Auth0 configured, start the sandbox in-process."""
    settings = Settings()
    sandbox = None
    if not settings.auth0_domain:
        from sandbox.runner import SandboxServer  # only the demo path knows the sandbox

        sandbox = SandboxServer().start()
        os.environ.update(sandbox.env)
        settings = Settings()
        if not quiet:
            console.print("[dim]No Auth0 configuration found: running on the local sandbox "
                          "(seeded user alice@example.com; see README › Configuration).[/dim]")
    if settings.missing_auth0():
        raise CliError(f"Missing configuration: {', '.join(settings.missing_auth0())}. "
                       "Set them (see README › Configuration) or unset AUTH0_DOMAIN to use the sandbox.")
    if not settings.auth0_callback_url:
        settings = settings.model_copy(update={"auth0_callback_url": DEFAULT_CALLBACK})
    return Runtime(settings, sandbox)


async def current_user(runtime: Runtime) -> UserCredentials:
    """The stored session (refreshed to prove it still works), or a sandbox session, or a clear error."""
    settings = runtime.settings
    store = SessionStore(settings)
    creds = store.load()
    if creds is None and settings.sandbox_control_url:
        creds = await sandbox_session(settings)
        store.save(creds)
    if creds is None:
        raise CliError("You are not logged in: run `vault-agent login`.")
    client = SessionClient(settings)
    try:
        fresh = await client.refresh(creds)
    except SessionExpired as exc:
        store.delete()
        raise CliError(f"{exc} Run `vault-agent login`.") from exc
    finally:
        await client.aclose()
    store.save(fresh)
    return fresh


def fail(message: str, debug: bool = False, exc: BaseException | None = None) -> None:
    err_console.print(f"[bold red]error:[/bold red] {message}")
    if debug and exc is not None:
        err_console.print_exception()
    sys.exit(1)


def explain(exc: BaseException) -> str:
    """The one line shown for an exception that reached the top of a command."""
    import httpx
    import openai

    if isinstance(exc, (CliError, AuthError)):
        return str(exc)
    if isinstance(exc, openai.AuthenticationError):
        return "The model server rejected OPENAI_API_KEY: check the key (or unset it to use the sandbox)."
    if isinstance(exc, openai.APIConnectionError):
        return "The model server could not be reached: check OPENAI_BASE_URL and your network."
    if isinstance(exc, httpx.TransportError):
        return f"A server could not be reached ({type(exc).__name__}): is the sandbox or Auth0 reachable?"
    if isinstance(exc, Misconfigured):
        return str(exc)
    return f"{type(exc).__name__}: {exc} (run with --debug for details)"


@asynccontextmanager
async def agent_session(runtime: Runtime, user: UserCredentials) -> AsyncIterator[Any]:
    from agent.persistence import open_persistence
    from agent.services import Services
    from agent.session_runner import AgentSession

    async with open_persistence(runtime.settings) as persistence:
        services = Services.create(runtime.settings, persistence.store)
        try:
            yield AgentSession(services, persistence, user, timezone=local_timezone(runtime.settings))
        finally:
            await services.aclose()


def local_timezone(settings: Settings) -> str:
    if settings.vault_agent_timezone:
        return settings.vault_agent_timezone
    tz = os.environ.get("TZ", "")
    if tz and "/" in tz:
        return tz
    try:
        link = os.readlink("/etc/localtime")
        return link.split("zoneinfo/", 1)[1]
    except (OSError, IndexError):
        return "UTC"
