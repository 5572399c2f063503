"""The credentials a LangGraph server run carries: the sealed envelope inside the run's auth user.

`auth/server_auth.py` seals it when a request is authenticated; the tools open it in whichever process
runs the graph (`tools/context.py`); the link routes re-seal it with tokens minted at click time. This is
the one module all three share, so the tools never import the server's auth module.
"""

from __future__ import annotations

from typing import Any

from .envelope import EnvelopeSealer
from .settings import Settings, get_settings

ENVELOPE_FIELD = "credential_envelope"
PERMISSIONS = ["authenticated"]

_sealer: tuple[str, EnvelopeSealer] | None = None


def sealer(settings: Settings | None = None) -> EnvelopeSealer:
    """The envelope sealer for the configured key (raises Misconfigured when there is none)."""
    global _sealer
    key = (settings or get_settings()).vault_agent_encryption_key
    if _sealer is None or _sealer[0] != key:
        _sealer = (key, EnvelopeSealer.from_setting(key))
    return _sealer[1]


def user_dict(sub: str, envelope: str, display_name: str = "") -> dict[str, Any]:
    """The auth user LangGraph keeps with a run: who, and the sealed envelope (never a token)."""
    return {"identity": sub, "display_name": display_name or sub, "permissions": list(PERMISSIONS),
            ENVELOPE_FIELD: envelope}
