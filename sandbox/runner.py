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
from typing import Any

import uvicorn

from . import control, github, google_calendar, model
from .auth0 import Tenant
from .auth0 import create_app as create_auth0_app
from .control_client import ControlClient
from .middleware import SandboxMiddleware
from .world import World

SERVICES = ("auth0", "google", "github", "openai", "control")
SEEDED_USERS = (("alice", "Alice Example"), ("bob", "Bob Example"))


def _bind(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: without it, keep-alive responses written in two parts wait
    # ~40 ms for the client's delayed ACK (Nagle), which real services do not make you pay.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, 0))
    sock.listen(512)
    sock.setblocking(False)
    return sock


class SandboxServer:
    """The whole sandbox. Use as a context manager, or `start()` / `stop()`."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.world = World()
        self._sockets = {name: _bind(host) for name in SERVICES}
        self.urls = {name: f"http://{host}:{s.getsockname()[1]}" for name, s in self._sockets.items()}
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

    def start(self) -> "SandboxServer":
        ready = threading.Event()

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
                await asyncio.gather(*tasks)

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
