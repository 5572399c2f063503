"""Protect your own tool: declare the connection and scopes, receive a ready provider token.

    from tools.protect import protected_tool
    from tools.providers import Provider, register
    from auth.token_vault import ProviderToken

    SLACK = register(Provider("sign-in-with-slack", "Slack", capabilities={"read": ("channels:read",)}))

    @protected_tool(SLACK, capability="read")
    async def list_slack_channels(token: ProviderToken, limit: int = 20) -> str:
        \"\"\"List the user's Slack channels.\"\"\"
        ...  # call Slack with token.access_token; return text for the model

The result is an ordinary LangChain tool: give it to the agent (`build_graph(tools=[...])`) or to your own
LangGraph graph. The model sees the function's parameters *except* the token. When Auth0 holds no token
set for the connection (or its scopes fall short), the run pauses with the same authorization interrupt
as the built-in tools, and the tool runs once the user has authorized. What the function raises is
handled as for the built-in tools: `ProviderUnauthorized` (the provider answered 401: the cached token is
dropped and the call retried once, then the user is asked again), `ProviderInsufficientScope` (a step-up),
`ProviderError` (a sentence for the model); anything else becomes a sentence too, never a crashed run.

`check` validates the arguments *before* any token is fetched or any pause is made: it gets the tool's
arguments and returns an error sentence for the model, or None. `note` (no arguments) may return a line
put before whatever the tool answers, result or error sentence (e.g. "your time zone is unknown, UTC
is used").

A write must happen once across replays, retries and crashes. A function that declares a parameter
annotated `ToolCall` (hidden from the model, like the token) receives the thread id and tool call id,
which are the same on every replay of the call, and can derive an idempotency key from them:

    @protected_tool(ACME, capability="write")
    async def add_contact(token: ProviderToken, name: str, call: ToolCall) -> str:
        key = call.key()   # the same on every replay of this call
        ...

When the provider has no idempotency key of its own, `call.write_once(send, find)` runs the write by the
rule the GitHub issue tool follows: an attempt slower than the client's usual timeout is still an attempt,
so it is awaited (up to `within` seconds) instead of being abandoned and tried again; only a write that
failed without an answer is looked for (`find`, by the key) before it is sent once more.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from langchain_core.tools import BaseTool, InjectedToolCallId, tool
from langgraph.config import get_config

from auth.token_vault import ProviderToken

from .provider_errors import ProviderUnreachable
from .providers import Provider
from .vault import call_with_token

ToolFunction = Callable[..., Awaitable[str]]
T = TypeVar("T")
#: How long one attempt of a write is awaited. Longer than any client timeout on purpose: a provider that
#: is slow to create something usually creates it, and looking for it meanwhile finds nothing.
WRITE_WAIT_SECONDS = 60.0


class WriteUnconfirmed(ProviderUnreachable):
    """A write got no answer within its bound and its effect is not visible (yet). It is not sent again: it
    may still land. A replay of the same call looks for it first (by its key) and sends only if it is not there."""


@dataclass(frozen=True)
class ToolCall:
    """Which call of which thread is running: both ids are the same on every replay and retry of the call."""

    thread_id: str
    tool_call_id: str

    def key(self, length: int = 32) -> str:
        """A hex idempotency key for this call (a SHA-256 prefix of the two ids)."""
        return hashlib.sha256(f"vault-agent:{self.thread_id}:{self.tool_call_id}".encode()).hexdigest()[:length]

    async def write_once(self, send: Callable[[], Awaitable[T]], find: Callable[[], Awaitable[T | None]], *,
                         provider: str, within: float = WRITE_WAIT_SECONDS) -> T:
        """Run this call's write so that it lands once, for providers without an idempotency key.

        `send()` makes one attempt and must not give up sooner than `within` seconds by itself (call the
        provider without a client timeout, or a longer one); `find()` returns what an earlier attempt
        created, found by `self.key()` (a marker in the body, a client-chosen id), or None.

        - The attempt is awaited up to `within` seconds, not abandoned at the client's usual timeout:
          while it is in flight, `find()` would see nothing and a second `send()` would write twice.
        - No answer within `within`: the attempt is cancelled; if `find()` sees its effect, that is the
          result, else `WriteUnconfirmed` (nothing is sent again while the first may still land).
        - `ProviderUnreachable` (refused, reset, an answer cut short: the exchange has ended): `find()`,
          and only if the effect is not there, one more attempt under the same rules.
        Other errors (a refusal by the provider) come back as they are.
        """
        for attempt in range(2):
            try:
                async with asyncio.timeout(within):
                    return await send()
            except TimeoutError:
                if (found := await find()) is not None:
                    return found
                raise WriteUnconfirmed(f"{provider} has not answered within {within:g} s and the result is not "
                                       "visible yet; it may still appear, so it was not sent again — check before "
                                       "asking for it again") from None
            except ProviderUnreachable:
                if (found := await find()) is not None:
                    return found
                if attempt:
                    raise
        raise AssertionError("unreachable")


def current_call(tool_call_id: str) -> ToolCall:
    return ToolCall(str(get_config().get("configurable", {}).get("thread_id", "")), tool_call_id)


def protected_tool(provider: Provider, *, capability: str = "read", scopes: Sequence[str] | None = None,
                   name: str | None = None, status: str | None = None,
                   check: Callable[..., str | None] | None = None,
                   note: Callable[[], str | None] | None = None) -> Callable[[ToolFunction], BaseTool]:
    """Turn `async def f(token: ProviderToken, **args) -> str` into a LangChain tool behind Token Vault.

    `scopes` overrides the provider's scopes for `capability`; `status` is the line a client may show
    while the tool runs (kept in the tool's metadata)."""
    needed = list(scopes) if scopes is not None else provider.scopes(capability)

    def decorate(fn: ToolFunction) -> BaseTool:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"{fn.__name__} must be an async function")
        parameters = list(inspect.signature(fn).parameters.values())
        if not parameters:
            raise TypeError(f"{fn.__name__} must take the provider token as its first parameter")
        hints = typing.get_type_hints(fn, include_extras=True)
        tool_name = name or fn.__name__
        call_parameter = next((p.name for p in parameters[1:] if hints.get(p.name) is ToolCall), None)

        @functools.wraps(fn)
        async def run(*, tool_call_id: str = "", **arguments: Any) -> str:
            line = note() if note is not None else None
            answer = check(**arguments) if check is not None else None
            if not answer:
                if call_parameter:
                    arguments[call_parameter] = current_call(tool_call_id)
                answer = await call_with_token(tool_name, tool_call_id, provider, needed,
                                               lambda token: fn(token, **arguments))
            return f"{line}\n{answer}" if line else answer

        # What the model sees: the function's parameters without the token, plus the call id LangChain
        # injects (the wrapper keys its linking requests by it, so a replayed pause reuses its link).
        shown = [p.replace(annotation=hints.get(p.name, p.annotation), kind=inspect.Parameter.KEYWORD_ONLY)
                 for p in parameters[1:] if p.name != call_parameter]
        call_id = inspect.Parameter("tool_call_id", inspect.Parameter.KEYWORD_ONLY, default="",
                                    annotation=Annotated[str, InjectedToolCallId])
        del run.__wrapped__  # LangChain must read the signature below, not the original's
        run.__signature__ = inspect.Signature([*shown, call_id], return_annotation=str)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in (*shown, call_id)} | {"return": str}
        run.__name__ = tool_name
        protected = tool(run)
        protected.metadata = {**(protected.metadata or {}), "connection": provider.name, "scopes": needed,
                              "status": status or f"Using {provider.label}…"}
        return protected

    return decorate


__all__ = ["WRITE_WAIT_SECONDS", "ProviderToken", "ToolCall", "WriteUnconfirmed", "protected_tool"]
