"""The long-lived clients of a run; defined in `tools/services.py` (the tools use them), named here for
the agent's callers."""

from tools.services import Services, default_services

__all__ = ["Services", "default_services"]
