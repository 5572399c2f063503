"""`make server [PORT=…] [HOST=…]`: start `langgraph dev` on the agent — or refuse with one line.

Two things go wrong silently with a bare `langgraph dev`: when its port is taken it picks another one,
and every linking callback (AUTH0_CALLBACK_URL) then points at the wrong server; and with configuration
missing it starts anyway and answers 401 to everything. So this checks first:
- the configuration the server needs (`auth.server_auth.configuration_problems`);
- that HOST:PORT is free;
and keeps AUTH0_CALLBACK_URL in step with the port: unset → `http://HOST:PORT/auth/callback`; a loopback
URL on another port → the same URL on this port (a public URL behind a proxy is left alone).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


def callback_url(current: str, host: str, port: int) -> str:
    """AUTH0_CALLBACK_URL for a server on host:port (see the module docstring)."""
    if not current:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        return f"http://{shown}:{port}/auth/callback"
    parts = urlsplit(current)
    if parts.hostname in LOOPBACK and parts.port != port:
        netloc = f"{parts.hostname}:{port}" if ":" not in (parts.hostname or "") else f"[{parts.hostname}]:{port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    return current


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2024)
    args, rest = parser.parse_known_args(argv)

    from auth.server_auth import configuration_problems
    from auth.settings import Settings, get_settings

    os.environ["AUTH0_CALLBACK_URL"] = callback_url(get_settings().auth0_callback_url, args.host, args.port)
    get_settings.cache_clear()
    problems = configuration_problems(Settings())
    if problems:
        print("vault-agent server: " + "; ".join(problems) + ". For a local try: `vault-agent sandbox`, "
              "export its lines in this shell, then `make server` again.", file=sys.stderr)
        return 2
    if port_in_use(args.host, args.port):
        print(f"vault-agent server: port {args.port} on {args.host} is in use: stop what runs there or choose "
              "another with `make server PORT=…`.", file=sys.stderr)
        return 2
    langgraph = shutil.which("langgraph", path=str(Path(sys.executable).parent)) or "langgraph"
    print(f"vault-agent server on http://{args.host}:{args.port} (callback {os.environ['AUTH0_CALLBACK_URL']})",
          file=sys.stderr)
    os.execv(langgraph, [langgraph, "dev", "--no-browser", "--host", args.host, "--port", str(args.port), *rest])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
