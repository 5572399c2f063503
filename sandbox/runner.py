"""Runs every stand-in on its own loopback port, as the real services live on their own hosts.

`SandboxServer` serves them from a background thread with its own event loop, so synchronous clients
in the calling thread (auth0-python, google-api-python-client, a test) never block it. `main()` is
`vault-agent sandbox`: it prints `export NAME=value` lines and serves until interrupted.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from . import control, github, google_calendar, model, snapshot
from .auth0 import Tenant
from .auth0 import create_app as create_auth0_app
from .control_client import ControlClient
from .middleware import SandboxMiddleware
from .world import World

SERVICES = ("auth0", "google", "github", "openai", "control")
SEEDED_USERS = (("alice", "Alice Example"), ("bob", "Bob Example"))


def _bind(host: str, port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: without it, keep-alive responses written in two parts wait
    # ~40 ms for the client's delayed ACK (Nagle), which real services do not make you pay.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(512)
    sock.setblocking(False)
    return sock


def _bind_all(host: str, ports: dict[str, int]) -> dict[str, socket.socket]:
    """The ports a kept world used before (its issuer and URLs stay the same); fresh ones when there are
    none or one of them is taken by another program."""
    sockets: dict[str, socket.socket] = {}
    try:
        for name in SERVICES:
            sockets[name] = _bind(host, ports.get(name, 0))
        return sockets
    except OSError:
        for sock in sockets.values():
            sock.close()
        return {name: _bind(host) for name in SERVICES}


class SandboxServer:
    """The whole sandbox. Use as a context manager, or `start()` / `stop()`.

    `snapshot_path`: keep the world in that file (sandbox/snapshot.py) — loaded at start, saved shortly
    after every change and at stop — on the ports it used before. Without it (tests) all is in memory."""

    def __init__(self, host: str = "127.0.0.1", *, snapshot_path: Path | None = None) -> None:
        self.host = host
        self.snapshot_path = snapshot_path
        self._write_lock, self._taken, self._written = threading.Lock(), 0, 0
        saved = snapshot.load(snapshot_path) if snapshot_path else None
        self._sockets = _bind_all(host, saved["ports"] if saved else {})
        self.ports = {name: s.getsockname()[1] for name, s in self._sockets.items()}
        self.urls = {name: f"http://{host}:{port}" for name, port in self.ports.items()}
        if saved:
            self.tenant = saved["tenant"]
            self.tenant.base_url = self.urls["auth0"]  # the same, unless a port had to change
            self.world = self.tenant.world
            self.openai_api_key, self.encryption_key = saved["openai_api_key"], saved["encryption_key"]
        else:
            self.world = World()
            self.tenant = Tenant(self.world, self.urls["auth0"])
            for handle, name in SEEDED_USERS:
                self.tenant.create_user(name, f"{handle}@example.com", handle)
            self.openai_api_key = "sk-sandbox-" + secrets.token_hex(8)
            # For a LangGraph server pointed at this sandbox: the key that seals its runs' credentials.
            self.encryption_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        apps = {
            "auth0": create_auth0_app(self.tenant),
            "google": google_calendar.create_app(self.world),
            "github": github.create_app(self.world),
            "openai": model.create_app(self.world),
            "control": control.create_app(self.world, self.tenant),
        }
        self._servers = [
            uvicorn.Server(uvicorn.Config(SandboxMiddleware(app, self.world, name), log_level="critical",
                                          access_log=False, lifespan="off", timeout_keep_alive=30))
            for name, app in apps.items()
        ]
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.control = ControlClient(self.urls["control"])

    @property
    def env(self) -> dict[str, str]:
        """The variables that point vault-agent (or any official client) at this sandbox."""
        return {
            "AUTH0_DOMAIN": self.urls["auth0"],
            "AUTH0_CLIENT_ID": self.tenant.app_client.client_id,
            "AUTH0_CLIENT_SECRET": self.tenant.app_client.client_secret,
            "AUTH0_AUDIENCE": self.tenant.api_audience,
            "AUTH0_MGMT_CLIENT_ID": self.tenant.mgmt_client.client_id,
            "AUTH0_MGMT_CLIENT_SECRET": self.tenant.mgmt_client.client_secret,
            "GOOGLE_API_BASE_URL": self.urls["google"],
            "GITHUB_API_URL": self.urls["github"],
            "OPENAI_BASE_URL": self.urls["openai"] + "/v1",
            "OPENAI_API_KEY": self.openai_api_key,
            "OPENAI_MODEL": model.MODEL_ID,
            "VAULT_AGENT_ENCRYPTION_KEY": self.encryption_key,
            "SANDBOX_PUBLIC_CLIENT_ID": self.tenant.public_client.client_id,  # for MCP clients that do not register
            "SANDBOX_CONTROL_URL": self.urls["control"],  # last: SandboxProcess reads up to this line
        }

    def _snapshot(self) -> tuple[int, bytes]:
        self.world.changed = False
        self._taken += 1
        return self._taken, snapshot.dumps(
            tenant=self.tenant, openai_api_key=self.openai_api_key, encryption_key=self.encryption_key,
            ports=self.ports)

    def _write(self, taken: int, data: bytes) -> None:
        with self._write_lock:  # never let an older snapshot replace a newer one
            if taken > self._written:
                snapshot.write(self.snapshot_path, data)
                self._written = taken

    async def _keep_saved(self) -> None:
        """Write the snapshot shortly after each change: taken on this loop (nothing mutates meanwhile),
        written in a thread (no file I/O on the loop)."""
        while True:
            await asyncio.sleep(0.2)
            if self.world.changed:
                await asyncio.to_thread(self._write, *self._snapshot())

    def save(self) -> None:
        """Write the snapshot now (before start or after stop: not while the loop runs)."""
        if self.snapshot_path is not None:
            self._write(*self._snapshot())

    def start(self) -> "SandboxServer":
        ready = threading.Event()
        if self.snapshot_path is not None:
            self.save()  # the ports and secrets are on disk before anyone is told about them

        def serve() -> None:
            try:  # uvloop when present (it comes with langgraph-api): the stand-ins should not be the bottleneck
                import uvloop

                self._loop = uvloop.new_event_loop()
            except ImportError:
                self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)

            async def run_all() -> None:
                tasks = [asyncio.create_task(server.serve(sockets=[self._sockets[name]]))
                         for server, name in zip(self._servers, SERVICES)]
                while not all(server.started for server in self._servers):
                    await asyncio.sleep(0.01)
                ready.set()
                saver = asyncio.create_task(self._keep_saved()) if self.snapshot_path is not None else None
                await asyncio.gather(*tasks)
                if saver is not None:
                    saver.cancel()

            self._loop.run_until_complete(run_all())

        self._thread = threading.Thread(target=serve, name="vault-agent-sandbox", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the sandbox did not start within 10 s")
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)
        self.save()
        self.control.close()

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class SandboxProcess:
    """The same sandbox in a child process (`python -m sandbox`): for benchmarks, so the stand-ins do not
    share a GIL with the code being measured. Offers `env`, `control` and `stop()` like SandboxServer."""

    def __init__(self) -> None:
        import subprocess

        self._proc = subprocess.Popen([sys.executable, "-m", "sandbox"], stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True)
        self.env: dict[str, str] = {}
        assert self._proc.stdout is not None
        while "SANDBOX_CONTROL_URL" not in self.env:
            line = self._proc.stdout.readline()
            if not line:
                raise RuntimeError("the sandbox process exited before printing its environment")
            if line.startswith("export "):
                name, _, value = line[7:].strip().partition("=")
                self.env[name] = value
        self.control = ControlClient(self.env["SANDBOX_CONTROL_URL"])

    def stop(self) -> None:
        self.control.close()
        self._proc.terminate()
        self._proc.wait(10)

    def __enter__(self) -> "SandboxProcess":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main() -> int:
    """Start the sandbox, print its environment as shell lines, serve until Ctrl-C."""
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    with SandboxServer() as sandbox:
        for name, value in sandbox.env.items():
            print(f"export {name}={value}")
        print(f"# sandbox ready in {time.perf_counter() - started:.2f} s — seeded users: "
              "alice@example.com, bob@example.com (password: sandbox). Ctrl-C stops it.", file=sys.stderr)
        sys.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("# sandbox stopped", file=sys.stderr)
    return 0
