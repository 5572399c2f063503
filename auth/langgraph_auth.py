"""`auth.path` of langgraph.json and aegra.json. The engine loads this file by path, outside our package, so
it only re-exports `auth.server_auth.auth` — after checking the configuration, so that a server that could
not authenticate anyone refuses to start with one line instead of answering 401 to everything.

Fail closed on every engine: whatever keeps this module from loading (a missing dependency, a bad key,
missing Auth0 settings) leaves as SystemExit. Aegra, when loading an auth module raises an ordinary
exception, logs it and serves every request as "anonymous"; SystemExit is not swallowed there. The custom
app (`agent/server.py`) imports this module too, so both engines stop at start-up, not at the first
request.
"""

try:
    from auth.server_auth import auth, configuration_problems
    from auth.settings import get_settings

    _problems = configuration_problems(get_settings())
except Exception as exc:  # noqa: BLE001 - any failure here must stop the server, never degrade it
    raise SystemExit(f"vault-agent server: the auth module cannot be loaded: {type(exc).__name__}: {exc}") from exc
if _problems:
    raise SystemExit("vault-agent server: " + "; ".join(_problems) + ".")

__all__ = ["auth"]
