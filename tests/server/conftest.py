"""`langgraph dev` on a free port, configured for the test session's sandbox."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def langgraph_server(sandbox, tmp_path_factory):
    port = _free_port()
    workdir = tmp_path_factory.mktemp("langgraph-dev")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH0_", "OPENAI_", "SANDBOX_"))}
    env.update(sandbox.env)
    env.update({"AUTH0_CALLBACK_URL": f"http://127.0.0.1:{port}/auth/callback", "VAULT_AGENT_TIMEZONE": "UTC",
                "LANGSMITH_TRACING": "false", "LANGGRAPH_DISABLE_FILE_PERSISTENCE": "false"})
    # The repo's langgraph.json with absolute paths, so the server's state lands in a temp folder.
    config = json.loads((ROOT / "langgraph.json").read_text())
    config["dependencies"] = [str(ROOT)]
    config["graphs"] = {k: str(ROOT / v.removeprefix("./")) for k, v in config["graphs"].items()}
    config["auth"]["path"] = str(ROOT / config["auth"]["path"].removeprefix("./"))
    config["http"]["app"] = str(ROOT / config["http"]["app"].removeprefix("./"))
    (workdir / "langgraph.json").write_text(json.dumps(config))
    log = open(workdir / "server.log", "w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "langgraph"), "dev", "--no-browser", "--no-reload",
         "--port", str(port), "--host", "127.0.0.1", "--config", str(workdir / "langgraph.json")],
        cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("langgraph dev exited:\n" + (workdir / "server.log").read_text()[-3000:])
        try:
            if httpx.get(url + "/ok", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError("langgraph dev did not start:\n" + (workdir / "server.log").read_text()[-3000:])
    yield {"url": url, "workdir": workdir, "log": workdir / "server.log"}
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
