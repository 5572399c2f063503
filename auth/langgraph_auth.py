"""`auth.path` of langgraph.json. The server loads this file by path, outside our package, so it only
re-exports `auth.server_auth.auth` — after checking the configuration, so that a server that could not
authenticate anyone refuses to start with one line instead of answering 401 to everything."""

from auth.server_auth import auth, configuration_problems
from auth.settings import get_settings

_problems = configuration_problems(get_settings())
if _problems:
    raise SystemExit("vault-agent server: " + "; ".join(_problems) + ".")

__all__ = ["auth"]
