"""`make server [PORT=…] [SERVER_HOST=…] [ENGINE=aegra WORKERS=N]`: start the LangGraph server on the agent
— `langgraph dev` (default) or Aegra — or refuse with one line.

Things go wrong silently with a bare engine: when `langgraph dev`'s port is taken it picks another one,
and every linking callback (AUTH0_CALLBACK_URL) then points at the wrong server; with configuration
missing it starts anyway and answers 401 to everything. So this checks first:
- the configuration the server needs (`auth.server_auth.configuration_problems`), and for Aegra a
  PostgreSQL `VAULT_AGENT_DB_URL` (its database and our server store) and, for several processes, Redis;
- that HOST:PORT is free;
and keeps AUTH0_CALLBACK_URL in step with the port: unset → `http://HOST:PORT/auth/callback`; a loopback
URL on another port → the same URL on this port (a public URL behind a proxy is left alone).

Then it starts the engine hardened: files it creates are private (umask 077: `.langgraph_api` 0700 with
0600 files, an existing one is tightened), CORS answers only `VAULT_AGENT_CORS_ORIGINS` (none by default),
google-api-core's grpcio deprecation notice (a library's message to its developers) is not printed, and
`langgraph dev` runs without its reloader unless `--reload` (`make server RELOAD=1`): the reloader's
watcher reports "N changes detected" every time the server writes its own state folder.
Aegra runs N processes on one port (uvicorn workers): one callback URL for all of them; its database is
migrated once first (`aegra db upgrade`), so the processes do not race each other's migrations.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
ROOT = Path(__file__).resolve().parents[1]
QUIET_WARNINGS = "ignore::FutureWarning:google.api_core._python_package_support"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


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


def private_tree(folder: Path) -> None:
    """Tighten a state folder an earlier run left readable: folders 0700, files 0600 (ours only)."""
    if not folder.is_dir() or folder.is_symlink() or folder.stat().st_uid != os.getuid():
        return
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink() or path.stat().st_uid != os.getuid():
            continue
        path.chmod(0o700 if path.is_dir() else stat.S_IMODE(path.stat().st_mode) & 0o600)


def cors_config(origins: list[str]) -> dict:
    """The engines' `http.cors` for these origins (an empty list: no CORS header for anyone)."""
    if not origins:
        return {"allow_origins": []}
    return {"allow_origins": origins, "allow_methods": ["*"], "allow_headers": ["*"], "allow_credentials": False,
            "expose_headers": ["content-location", "location", "x-pagination-total", "x-pagination-next"]}


def aegra_config(origins: list[str], folder: Path) -> Path:
    """The repo's aegra.json, or — with CORS origins configured — a copy with them and absolute paths."""
    if not origins:
        return ROOT / "aegra.json"
    config = json.loads((ROOT / "aegra.json").read_text())
    config["graphs"] = {k: str(ROOT / v.removeprefix("./")) for k, v in config["graphs"].items()}
    config["auth"]["path"] = str(ROOT / config["auth"]["path"].removeprefix("./"))
    config["http"]["app"] = str(ROOT / config["http"]["app"].removeprefix("./"))
    config["http"]["cors"] = cors_config(origins)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / "aegra.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2024)
    parser.add_argument("--engine", choices=["langgraph-dev", "aegra"], default="langgraph-dev")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--reload", action="store_true",
                        help="langgraph dev: restart on code changes (its watcher then also reports every write "
                             "to its own state folder)")
    args, rest = parser.parse_known_args(argv)

    from auth.server_auth import configuration_problems
    from auth.settings import Settings, get_settings

    os.environ["AUTH0_CALLBACK_URL"] = callback_url(get_settings().auth0_callback_url, args.host, args.port)
    get_settings.cache_clear()
    settings = Settings()
    problems = configuration_problems(settings)
    if args.engine == "aegra":
        problems += aegra_problems(settings.vault_agent_db_url, args.workers)
    if problems:
        print("vault-agent server: " + "; ".join(problems) + ". For a local try: `make sandbox` in another "
              "shell, export the lines it prints in this one, then `make server` again.", file=sys.stderr)
        return 2
    if port_in_use(args.host, args.port):
        print(f"vault-agent server: port {args.port} on {args.host} is in use: stop what runs there or choose "
              "another with `make server PORT=…`.", file=sys.stderr)
        return 2
    os.umask(0o077)
    os.environ["PYTHONWARNINGS"] = ",".join(w for w in (os.environ.get("PYTHONWARNINGS"), QUIET_WARNINGS) if w)
    print(f"vault-agent server ({args.engine}) on http://{args.host}:{args.port} "
          f"(callback {os.environ['AUTH0_CALLBACK_URL']})", file=sys.stderr)
    if args.engine == "aegra":
        os.environ.setdefault("DATABASE_URL", settings.vault_agent_db_url)
        os.environ["AEGRA_CONFIG"] = str(aegra_config(settings.cors_origins, Path(settings.vault_agent_state_dir)))
        if args.workers > 1:
            os.environ["REDIS_BROKER_ENABLED"] = "true"
        os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
        # Migrate once, before the processes start (each would otherwise race the others at start-up), with
        # Aegra's documented command; the processes then skip it.
        migrated = subprocess.run([str(Path(sys.executable).parent / "aegra"), "db", "upgrade"],
                                  capture_output=True, text=True)
        if migrated.returncode != 0:
            last = ((migrated.stderr or migrated.stdout).strip().splitlines() or ["no output"])[-1]
            print(f"vault-agent server: Aegra could not migrate its database (VAULT_AGENT_DB_URL): {last}",
                  file=sys.stderr)
            return 2
        os.environ["RUN_MIGRATIONS_ON_STARTUP"] = "false"
        if args.workers > 1 and (problem := start_alone_once()):
            print(f"vault-agent server: Aegra did not start: {problem}", file=sys.stderr)
            return 2
        os.execv(sys.executable, [sys.executable, "-m", "uvicorn", "aegra_api.main:app", "--host", args.host,
                                  "--port", str(args.port), "--workers", str(args.workers), "--no-access-log", *rest])
    private_tree(Path.cwd() / ".langgraph_api")
    if settings.cors_origins:
        os.environ["CORS_CONFIG"] = json.dumps(cors_config(settings.cors_origins))
    langgraph = shutil.which("langgraph", path=str(Path(sys.executable).parent)) or "langgraph"
    reload = [] if args.reload else ["--no-reload"]
    os.execv(langgraph, [langgraph, "dev", "--no-browser", *reload, "--host", args.host, "--port", str(args.port),
                         *rest])
    return 0  # not reached


def start_alone_once(timeout: float = 300) -> str | None:
    """Start one Aegra process alone on a spare loopback port until it serves, then stop it.

    At start-up each Aegra process registers the graphs' assistants in the database; on a fresh database N
    processes starting at once race on that insert, and the loser's duplicate key ends the whole server. One
    process going first leaves nothing for the N to race on. Returns what went wrong, or None."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen([sys.executable, "-m", "uvicorn", "aegra_api.main:app", "--host", "127.0.0.1",
                                    "--port", str(port), "--no-access-log"], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                        return None
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            log.seek(0)
            lines = [line.strip() for line in log.read().splitlines() if line.strip()]
            return lines[-1] if lines else "it neither started nor said why"
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def aegra_problems(db_url: str, workers: int) -> list[str]:
    problems = []
    if not db_url.startswith(("postgresql://", "postgres://")):
        problems.append("VAULT_AGENT_DB_URL must be a postgresql:// URL for Aegra (its database and the server's "
                        "pending links)")
    if workers > 1 and os.environ.get("REDIS_BROKER_ENABLED", "true").lower() in ("0", "false", "no"):
        problems.append("several Aegra processes need the Redis broker (REDIS_BROKER_ENABLED=true)")
    if importlib.util.find_spec("aegra_api") is None:  # whether it is installed; nothing imported
        problems.append("Aegra is not installed in this Python (`make server ENGINE=aegra` builds .venv-aegra)")
    return problems


if __name__ == "__main__":
    sys.exit(main())
