"""Refuse to start when the engine's configured auth module does not load — on any engine.

`langgraph dev` stops by itself when its `auth.path` fails to load. Aegra does not: it logs the error and
serves every request as one shared "anonymous" user. Importing our auth module from the custom app covers
a failure inside it (`auth/langgraph_auth.py`); this covers the configuration naming a module that does not
load at all (a wrong path, a file that fails on import): the custom app loads the configured auth path the
way the configuration file says — Aegra's documented discovery: `AEGRA_CONFIG`, else `aegra.json`, else
`langgraph.json` in the working directory — and stops the server with one line when it is not a
`langgraph_sdk.Auth`.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
from pathlib import Path

from langgraph_sdk import Auth


def engine_config() -> Path | None:
    candidates = [os.environ.get("AEGRA_CONFIG", ""), "aegra.json", "langgraph.json"]
    return next((Path(c).resolve() for c in candidates if c and Path(c).is_file()), None)


def require_auth_module() -> None:
    """SystemExit unless the configured `auth.path` loads to an `Auth` (nothing configured: nothing to check;
    `langgraph dev` passes its own configuration in `LANGGRAPH_AUTH` and checks it itself)."""
    if os.environ.get("LANGGRAPH_AUTH"):
        return
    config = engine_config()
    if config is None:
        return
    try:
        target = (json.loads(config.read_text()).get("auth") or {}).get("path", "")
    except (OSError, ValueError) as exc:
        raise SystemExit(f"vault-agent server: {config} is not readable JSON: {exc}") from exc
    if not target:
        raise SystemExit(f"vault-agent server: {config} configures no auth.path: the server would serve "
                         "everyone anonymously.")
    module_path, _, name = target.rpartition(":")
    try:
        if module_path.endswith(".py") or module_path.startswith((".", "/")):
            path = (config.parent / module_path).resolve()
            spec = importlib.util.spec_from_file_location("vault_agent_configured_auth", path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_path)
        loaded = getattr(module, name, None)
    except Exception as exc:  # noqa: BLE001 - whatever it is, the server must not start
        raise SystemExit(f"vault-agent server: the auth module {target} cannot be loaded: "
                         f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(loaded, Auth):
        raise SystemExit(f"vault-agent server: {target} is not a langgraph_sdk.Auth.")
