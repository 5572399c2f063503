"""What every CLI command needs before it can act: settings (the sandbox when nothing is configured),
the user's session, services and persistence — and one-line error messages for what can go wrong."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console

from auth.settings import Settings

if TYPE_CHECKING:
    from auth.credentials import UserCredentials

DEFAULT_CALLBACK = "http://127.0.0.1:8765/callback"
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def command_line(args: str) -> str:
    """`vault-agent ARGS` as it runs from a fresh shell in the current directory: a hint the user can
    paste into another terminal must not answer `command not found`. `vault-agent` when it is on the
    PATH for good (pipx, a global install); else the venv's script, relative to here when it is below
    (`.venv/bin/vault-agent` after `make chat`)."""
    import shlex
    import shutil
    from pathlib import Path

    script = Path(sys.executable).parent / "vault-agent"
    if not script.exists():
        return f"vault-agent {args}"
    found = shutil.which("vault-agent")
    activated = os.environ.get("VIRTUAL_ENV")  # a fresh shell is not activated
    if found and Path(found).resolve() == script.resolve() and not activated:
        return f"vault-agent {args}"
    try:
        where = str(script.relative_to(Path.cwd()))
    except ValueError:
        where = str(script)
    return f"{shlex.quote(where)} {args}"


class CliError(Exception):
    """One clear line for the user, with what to do. Shown without a traceback."""


@dataclass
class CliRuntime:
    """What one CLI invocation runs on: the settings and, in the zero-config demo, the sandbox it started.
    (Not LangGraph's `Runtime`, which a graph node receives.)"""

    settings: Settings
    sandbox: Any | None  # the in-process SandboxServer when we started one
    wants_sandbox: bool = False  # nothing configured: `ensure_sandbox()` starts one

    @property
    def callback_url(self) -> str:
        return self.settings.auth0_callback_url or DEFAULT_CALLBACK


def load_runtime(*, quiet: bool = False, start_sandbox: bool = True) -> CliRuntime:
    """Settings from the environment; with no Auth0 configured, the sandbox in-process — started now, or
    by `ensure_sandbox()` later (the chat shows its prompt first and starts it in the background)."""
    settings = Settings()
    runtime = CliRuntime(settings, None, wants_sandbox=not settings.auth0_domain)
    if runtime.wants_sandbox:
        if not quiet:
            console.print("[dim]No Auth0 configuration found: running on the local sandbox "
                          "(seeded user alice@example.com; see README › Configuration).[/dim]")
        if start_sandbox:
            ensure_sandbox(runtime)
        return runtime
    _check(runtime)
    return runtime


def ensure_sandbox(runtime: CliRuntime) -> CliRuntime:
    """Start the in-process sandbox if this runtime wants one and has none yet (blocking: call it in a thread
    from async code)."""
    if runtime.wants_sandbox and runtime.sandbox is None:
        try:
            from sandbox.shared import open_shared  # only the demo path knows the sandbox
        except ImportError:
            raise CliError("No Auth0 configuration, and the local sandbox is not installed: set AUTH0_DOMAIN, "
                           "AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET (README › Configuration), or "
                           "`pip install vault-agent-sandbox` for the offline demo.") from None

        # One world per state dir, kept on disk and shared with every vault-agent running meanwhile:
        # what `connections connect` linked, the next command (and the next chat) still sees.
        from sandbox.shared import SandboxUnavailable

        try:
            runtime.sandbox = open_shared(runtime.settings.vault_agent_state_dir)
        except SandboxUnavailable as exc:
            raise CliError(str(exc)) from None
        os.environ.update(runtime.sandbox.env)
        runtime.settings = Settings()
        _check(runtime)
    return runtime


def _check(runtime: CliRuntime) -> None:
    settings = runtime.settings
    if settings.missing_auth0():
        raise CliError(f"Missing configuration: {', '.join(settings.missing_auth0())}. "
                       "Set them (see README › Configuration) or unset AUTH0_DOMAIN to use the sandbox.")
    if not settings.auth0_callback_url:
        runtime.settings = settings.model_copy(update={"auth0_callback_url": DEFAULT_CALLBACK})


async def current_user(runtime: CliRuntime, *, refresh: bool = True) -> UserCredentials:
    """The stored session (refreshed to prove it still works), or a sandbox session, or a clear error.
    `refresh=False` is for commands that only need to know who the user is (`threads` reads local data):
    no token request then."""
    from auth.errors import SessionExpired
    from auth.session import SessionClient, SessionStore, sandbox_session

    settings = runtime.settings
    store = SessionStore(settings)
    creds = store.load()
    if creds is None and settings.sandbox_control_url and not logged_out(settings):
        creds = await sandbox_session(settings)  # just minted: nothing to prove by refreshing it
        store.save(creds)
        if runtime.wants_sandbox:
            _remember_sandbox_user(runtime, creds.sub)
        return creds
    if creds is None:
        raise CliError(f"You are not logged in: run `{command_line('login')}`.")
    if not refresh:
        return creds
    client = SessionClient(settings)
    try:
        fresh = await client.refresh(creds)
    except SessionExpired as exc:
        store.delete()
        raise CliError(f"{exc} Run `{command_line('login')}`.") from exc
    finally:
        await client.aclose()
    store.save(fresh)
    return fresh


def _logged_out_marker(settings: Settings) -> Any:
    return settings.vault_agent_config_dir / "logged-out"


def logged_out(settings: Settings) -> bool:
    """The user ran `logout`: on the sandbox, no session is made up for them until `login`."""
    return _logged_out_marker(settings).exists()


def set_logged_out(settings: Settings, value: bool) -> None:
    marker = _logged_out_marker(settings)
    if value:
        marker.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        marker.touch(mode=0o600)
    else:
        marker.unlink(missing_ok=True)


SANDBOX_USERS = "sandbox-users.json"  # in the state dir: which user id the in-process sandbox gave each email


def _remember_sandbox_user(runtime: CliRuntime, sub: str) -> None:
    import json

    from auth.errors import AuthError
    from auth.files import read_private, write_private

    path = runtime.settings.vault_agent_state_dir / SANDBOX_USERS
    try:
        known = json.loads(read_private(path) or "{}")
        known[runtime.settings.sandbox_user_email] = sub
        write_private(path, json.dumps(known))
    except (OSError, ValueError, AuthError):
        pass  # a courtesy for `threads`; it starts the sandbox when it cannot read this


def remembered_sandbox_user(runtime: CliRuntime) -> "UserCredentials | None":
    """Who the in-process sandbox's user is, without starting a sandbox: commands that only need to know
    whose conversations to list (`threads`) skip starting one. None when unknown (or not sandbox mode)."""
    import json

    from auth.credentials import UserCredentials

    if not runtime.wants_sandbox or logged_out(runtime.settings):
        return None
    from auth.files import read_private

    path = runtime.settings.vault_agent_state_dir / SANDBOX_USERS
    try:
        sub = json.loads(read_private(path) or "{}").get(runtime.settings.sandbox_user_email or "alice@example.com")
    except (OSError, ValueError, AttributeError):
        return None
    return UserCredentials(sub, "") if isinstance(sub, str) and sub else None


def fail(message: str, debug: bool = False, exc: BaseException | None = None) -> None:
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/bold red] {escape(message)}")
    if debug and exc is not None:
        err_console.print_exception()
    sys.exit(1)


def explain(exc: BaseException) -> str:
    """The one line shown for an exception that reached the top of a command."""
    from auth.errors import AuthError, Misconfigured

    if isinstance(exc, (CliError, AuthError)):
        return str(exc)
    openai = sys.modules.get("openai")  # not imported yet → the error cannot be one of its own
    if openai is not None and isinstance(exc, openai.AuthenticationError):
        return "The model server rejected OPENAI_API_KEY: check the key (or unset it to use the sandbox)."
    if openai is not None and isinstance(exc, openai.APIConnectionError):
        return "The model server could not be reached: check OPENAI_BASE_URL and your network."
    httpx = sys.modules.get("httpx")
    if httpx is not None and isinstance(exc, httpx.TransportError):
        return f"A server could not be reached ({type(exc).__name__}): is the sandbox or Auth0 reachable?"
    if isinstance(exc, Misconfigured):
        return str(exc)
    return f"{type(exc).__name__}: {exc} (run with --debug for details)"


@asynccontextmanager
async def agent_session(runtime: CliRuntime, user: UserCredentials) -> AsyncIterator[Any]:
    from agent.persistence import open_persistence
    from agent.session_runner import AgentSession
    from tools.services import Services

    async with open_persistence(runtime.settings) as persistence:
        services = Services.create(runtime.settings, persistence.store)
        try:
            yield AgentSession(services, persistence, user, timezone=local_timezone(runtime.settings))
        finally:
            await services.aclose()


# What /etc/localtime or TZ often name UTC by: shown as "UTC", the name the server and notebooks use.
UTC_ALIASES = {"Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT", "Universal", "Zulu"}


def local_timezone(settings: Settings) -> str:
    """The user's time zone: VAULT_AGENT_TIMEZONE as given, else the system's (TZ, /etc/localtime), else UTC."""
    if settings.vault_agent_timezone:
        return settings.vault_agent_timezone
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and ("/" in tz or tz in UTC_ALIASES):
        return "UTC" if tz in UTC_ALIASES else tz
    try:
        name = os.readlink("/etc/localtime").split("zoneinfo/", 1)[1]
    except (OSError, IndexError):
        return "UTC"
    return "UTC" if name in UTC_ALIASES else name
