"""An install without the sandbox distribution (the product wheel alone) and no Auth0 configuration: one
line that says what to set or install, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_no_configuration_and_no_sandbox_says_how_to_get_one(tmp_path):
    shadow = tmp_path / "shadow" / "sandbox"  # stands in for "vault-agent-sandbox is not installed"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ImportError("No module named sandbox")\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH0_", "OPENAI_", "SANDBOX_"))}
    env.update(PYTHONPATH=str(shadow.parent), VAULT_AGENT_STATE_DIR=str(tmp_path / "state"),
               VAULT_AGENT_CONFIG_DIR=str(tmp_path / "config"),
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    done = subprocess.run([str(Path(sys.executable).parent / "vault-agent"), "whoami"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    out = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1 and "Traceback" not in out
    assert "pip install vault-agent-sandbox" in out and "AUTH0_DOMAIN" in out
