"""Runs this project's server on Aegra for the tests and benchmarks: N processes on one PostgreSQL
database and one Redis, each on its own loopback port (so a test can choose which process a request, or
the browser's callback, lands on; `make server ENGINE=aegra` puts them behind one port instead).

The processes run in `.venv-aegra` (Aegra needs Python >= 3.12; `make .venv-aegra/.installed` builds it)
with the repo's `aegra.json`. Redis keys carry a prefix of this instance's own, so several test sessions
can share one Redis. For tests the lease is short (10 s) so that a killed process's run is taken over
quickly, and its connection pools are small (several processes share one PostgreSQL); benchmarks keep
Aegra's defaults.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv-aegra" / "bin" / "python"
REDIS_URL = os.environ.get("VAULT_AGENT_TEST_REDIS", "redis://127.0.0.1:6379/0")
ADMIN_URL = os.environ.get("VAULT_AGENT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def fresh_database(admin_url: str = ADMIN_URL) -> Iterator[str]:
    """A database of its own on the PostgreSQL server of `admin_url` (dropped afterwards): several people
    may share the server. Raises psycopg.OperationalError when it is not reachable."""
    import psycopg

    name = "vault_agent_" + secrets.token_hex(4)
    admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_reachable(url: str = REDIS_URL) -> str:
    """"" when Redis answers at `url`, else why not."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return "" if sock.recv(64).startswith(b"+PONG") else "Redis did not answer PING"
    except OSError as exc:
        return f"Redis not reachable at {url}: {exc}"


class Aegra:
    def __init__(self, env: dict[str, str], workdir: Path, database_url: str, processes: int = 2,
                 redis_url: str = REDIS_URL, callback_process: int = -1, config: Path | None = None,
                 redis: bool | None = None, short_lease: bool = True) -> None:
        """`short_lease`: a killed process's run is taken over within seconds (tests); off, Aegra's defaults
        (30 s): a busy machine must not take runs from processes that are merely slow (benchmarks)."""
        self.workdir = Path(workdir)
        self.ports = [_free_port() for _ in range(processes)]
        self.urls = [f"http://127.0.0.1:{port}" for port in self.ports]
        self.url = self.urls[0]
        tag = secrets.token_hex(4)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("AUTH0_", "OPENAI_", "SANDBOX_", "VAULT_AGENT_", "VIRTUAL_ENV", "PYTHON"))}
        self.env.update(env)
        self.env.update({
            "AEGRA_CONFIG": str(config or ROOT / "aegra.json"),
            # The checkout this module is in, whatever the venv's editable install points at (a git worktree
            # beside the main checkout must serve its own code, not the other's), after the caller's own.
            "PYTHONPATH": os.pathsep.join(p for p in (env.get("PYTHONPATH", ""), str(ROOT)) if p),
            "DATABASE_URL": database_url,
            "VAULT_AGENT_DB_URL": database_url,
            "VAULT_AGENT_STATE_DIR": str(self.workdir / "state"),
            "REDIS_BROKER_ENABLED": "true" if (processes > 1 if redis is None else redis) else "false",
            "REDIS_URL": redis_url,
            "REDIS_CHANNEL_PREFIX": f"vault-agent-test:{tag}:run:",
            "WORKER_QUEUE_KEY": f"vault-agent-test:{tag}:jobs",
            "LANGSMITH_TRACING": "false", "OTEL_SDK_DISABLED": "true",
        })
        if short_lease:
            self.env.update({"LEASE_DURATION_SECONDS": "10", "HEARTBEAT_INTERVAL_SECONDS": "3",
                             "REAPER_INTERVAL_SECONDS": "2"})
            # Small pools: by default one Aegra process may hold 50 PostgreSQL connections (SQLAlchemy 10 + 20
            # overflow, LangGraph's 20), and a test session runs up to four processes against a server whose
            # default max_connections is 100 ("sorry, too many clients already"), twice with two pytest workers.
            self.env.update({"SQLALCHEMY_POOL_SIZE": "1", "SQLALCHEMY_MAX_OVERFLOW": "3",
                             "LANGGRAPH_MIN_POOL_SIZE": "1", "LANGGRAPH_MAX_POOL_SIZE": "3"})
        self.env.setdefault("AUTH0_CALLBACK_URL", self.urls[callback_process] + "/auth/callback")
        if not self.env.get("VAULT_AGENT_ENCRYPTION_KEY"):
            self.env["VAULT_AGENT_ENCRYPTION_KEY"] = base64.urlsafe_b64encode(os.urandom(32)).decode()
        self.logs = [self.workdir / f"aegra-{i}.log" for i in range(processes)]
        self.procs: list[subprocess.Popen | None] = [None] * processes

    def start_process(self, i: int, timeout: float = 120) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.logs[i], "a")
        self.procs[i] = subprocess.Popen(
            [str(PYTHON), "-m", "uvicorn", "aegra_api.main:app", "--host", "127.0.0.1", "--port", str(self.ports[i]),
             "--no-access-log"], cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT, umask=0o077)
        deadline = time.time() + timeout
        while time.time() < deadline:
            proc = self.procs[i]
            if proc.poll() is not None:
                raise RuntimeError(f"Aegra process {i} exited:\n" + self.logs[i].read_text()[-3000:])
            try:
                if httpx.get(self.urls[i] + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Aegra process {i} did not start in time:\n" + self.logs[i].read_text()[-3000:])

    def start(self) -> "Aegra":
        for i in range(len(self.ports)):  # one after the other: the first runs the database migrations
            self.start_process(i)
        return self

    def pid(self, i: int) -> int:
        proc = self.procs[i]
        assert proc is not None
        return proc.pid

    def kill(self, i: int) -> None:
        """kill -9: no shutdown, no lease released."""
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for i, proc in enumerate(self.procs):
            if proc is not None:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                self.procs[i] = None

    def __enter__(self) -> "Aegra":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
