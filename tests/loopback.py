"""A loopback port for a test's callback receiver, chosen below the kernel's ephemeral range.

The CLI binds its callback port only while a link waits. A port picked with `bind(0)` is an ephemeral one,
so in the meantime an outgoing connection (a keep-alive connection to the sandbox, say) may be given the same
local port, and the receiver then finds it "in use". Ports below the ephemeral range are never handed out
that way; the product's own default (8765) is one of them too.
"""

from __future__ import annotations

import random
import socket

_LOW, _HIGH = 20000, 32000  # Linux's ephemeral range starts at 32768


def callback_port() -> int:
    """A port below the ephemeral range that is free right now."""
    for _ in range(200):
        port = random.randrange(_LOW, _HIGH)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free loopback port below the ephemeral range")
