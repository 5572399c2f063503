"""The agent's runtime context (react-agent's `context.py`). It lives in `tools/context.py` because the
tools are what read it — that keeps the dependency direction agent → tools → auth."""

from tools.context import Context, current_context

__all__ = ["Context", "current_context"]
