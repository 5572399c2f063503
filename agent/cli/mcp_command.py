"""`vault-agent mcp`: the command that serves the MCP server (`agent/mcp_server/`).

It lives with the other commands so the dependency runs one way — the command line starts the MCP server;
the MCP server knows nothing of the command line (for stdio it is handed the user of `vault-agent login`).
"""

from __future__ import annotations

import asyncio
import sys

from agent.mcp_server.app import MCP_PATH, serve, serve_stdio

from .runtime import current_user, explain, load_runtime, local_timezone


async def _stdio_main(host: str, port: int) -> None:
    runtime = load_runtime(quiet=True)  # the sandbox when nothing is configured, as for the chat
    try:
        user = await current_user(runtime)
        await serve_stdio(runtime.settings, user, host, port, timezone=local_timezone(runtime.settings))
    finally:
        if runtime.sandbox is not None:
            runtime.sandbox.stop()


def main(host: str, port: int, public_url: str | None = None, stdio: bool = False) -> int:
    """`vault-agent mcp`: check the configuration, say where it serves, serve until Ctrl-C."""
    from auth.settings import get_settings

    if stdio:
        try:
            asyncio.run(_stdio_main(host, port))
        except KeyboardInterrupt:
            pass
        except Exception as exc:  # one line on stderr (stdout is the MCP channel)
            print(f"error: {explain(exc)}", file=sys.stderr)
            return 1
        return 0
    settings = get_settings()
    if missing := settings.missing_auth0():
        print(f"Missing configuration: {', '.join(missing)} (the MCP server needs a tenant; for the sandbox, "
              "run `make sandbox` (or `.venv/bin/vault-agent sandbox`) and export its lines).", file=sys.stderr)
        return 2
    base = (public_url or f"http://{host}:{port}").rstrip("/")
    print(f"MCP server at {base}{MCP_PATH} (streamable HTTP). Auth0 API identifier: {base}{MCP_PATH}; "
          f"allowed callback URL of the application: {base}/auth/callback", file=sys.stderr)
    try:
        asyncio.run(serve(settings, host, port, public_url=base, timezone=settings.vault_agent_timezone or "UTC"))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"Cannot serve on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # e.g. a VAULT_AGENT_DB_URL that is neither SQLite nor PostgreSQL
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # e.g. the database cannot be opened: one line, not a traceback
        print(f"error: {explain(exc)}", file=sys.stderr)
        return 1
    return 0
