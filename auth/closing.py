"""`async with` for everything that owns a connection pool (as httpx's clients are): the block closes it."""

from __future__ import annotations

from typing import Any, Self


class AsyncClosing:
    """Mixin for a class with `async def aclose()`: `async with Client(...) as client:` closes it on exit."""

    async def aclose(self) -> None:  # pragma: no cover - every user defines its own
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()
