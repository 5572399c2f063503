"""`auth.path` of langgraph.json. The server loads this file by path, outside our package, so it only
re-exports: the state (live credentials) must live in the importable `auth.server_auth` module that the
graph's tools import too."""

from auth.server_auth import auth

__all__ = ["auth"]
