"""Runs `langgraph dev` for this project on a free loopback port, pointed at a sandbox.

The server loads the repo's langgraph.json rewritten with absolute paths into a temporary folder, so its
own state never touches the project directory. It starts through `agent/serve.py`, as `make server` does
(configuration checks, private state folder, no reloader, CORS closed unless configured). `stop()` then
`start()` restarts it on the same port and persistence (what a deployment's restart looks like). Used by
the tests and by notebook 02.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LangGraphDev:
    def __init__(self, env: dict[str, str], workdir: Path | None = None, port: int | None = None,
                 config: Path | None = None) -> None:
        """`config`: a langgraph.json of the caller's (absolute paths) instead of the repo's."""
        self.config = config
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="vault-agent-langgraph-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("AUTH0_", "OPENAI_", "SANDBOX_", "VAULT_AGENT_DB_URL"))}
        self.env["VAULT_AGENT_STATE_DIR"] = str(self.workdir / "state")  # the server store's SQLite file
        self.env.update(env)
        self.env.setdefault("AUTH0_CALLBACK_URL", self.url + "/auth/callback")
        self.env.setdefault("LANGSMITH_TRACING", "false")
        if not self.env.get("VAULT_AGENT_ENCRYPTION_KEY"):
            self.env["VAULT_AGENT_ENCRYPTION_KEY"] = self._workdir_key()
        self.log_path = self.workdir / "server.log"
        self._proc: subprocess.Popen | None = None

    def _workdir_key(self) -> str:
        """A key kept in the workdir, so a restart on the same persistence opens the same envelopes."""
        path = self.workdir / "encryption.key"
        if not path.exists():
            path.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode())
            path.chmod(0o600)
        return path.read_text().strip()

    def _write_config(self) -> Path:
        if self.config is not None:
            return self.config
        config = json.loads((ROOT / "langgraph.json").read_text())
        config["dependencies"] = [str(ROOT)]
        config["graphs"] = {k: str(ROOT / v.removeprefix("./")) for k, v in config["graphs"].items()}
        config["auth"]["path"] = str(ROOT / config["auth"]["path"].removeprefix("./"))
        config["http"]["app"] = str(ROOT / config["http"]["app"].removeprefix("./"))
        path = self.workdir / "langgraph.json"
        path.write_text(json.dumps(config))
        return path

    def start(self, timeout: float = 120) -> "LangGraphDev":
        config = self._write_config()
        log = open(self.log_path, "a")
        self._proc = subprocess.Popen(  # through `make server`'s entry point: its checks and hardening
            [sys.executable, "-m", "agent.serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--config", str(config)],
            cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError("langgraph dev exited:\n" + self.log_path.read_text()[-3000:])
            try:
                if httpx.get(self.url + "/ok", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("langgraph dev did not start in time:\n" + self.log_path.read_text()[-3000:])

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(30)  # a graceful stop flushes the dev server's persistence
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._proc = None

    def __enter__(self) -> "LangGraphDev":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
