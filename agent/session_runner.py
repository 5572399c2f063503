"""One user's conversation with the agent, as the CLI and the notebooks drive it.

It turns LangGraph's stream into a few typed events (text as it arrives, a status line per tool call, an
authorization request, the final answer) and knows how to finish an authorization: complete the linking
from the callback URL, find the paused thread and interrupt it belongs to, and resume it.

It also finishes a run that was cut off in the middle of a step (the process was killed, or Ctrl-C during
a tool): its last checkpoint still has the step to do, and `reopen` (or `finish`) runs it, the tool again
with the same call id — so with the same idempotency key, and a write that already landed is recognised,
not repeated. A run holds the thread's lock while it goes, so `threads` can tell one still running in a
live process from one cut off (`interrupted`), and two processes never run one thread at once.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.tools import BaseTool
from langgraph.types import Command

from auth.credentials import UserCredentials
from auth.linking import LinkOutcome, resume_status
from tools.authorization import REISSUE, AuthorizationRequest, resume_map
from tools.context import Context
from tools.services import Services

from .graph import TOOLS, build_graph
from .persistence import RUNNING, Persistence, interrupted_status, thread_busy

THREADS_NAMESPACE = "vault_agent_threads"
ALREADY_RESUMED = "This conversation was already resumed elsewhere; nothing was run twice."


@dataclass(frozen=True)
class TextChunk:
    """Part of the model's answer, as it streams (`message_id` tells one answer from the next)."""

    text: str
    message_id: str = ""


@dataclass(frozen=True)
class ToolStarted:
    name: str
    status: str


@dataclass(frozen=True)
class AuthorizationNeeded:
    """A pause of the thread: the interrupt's id and its value (an `AuthorizationRequest` as JSON)."""

    interrupt_id: str
    payload: dict[str, Any]

    @property
    def request(self) -> AuthorizationRequest:
        return AuthorizationRequest.from_json(self.payload)


@dataclass(frozen=True)
class Final:
    text: str


Event = TextChunk | ToolStarted | AuthorizationNeeded | Final


class AgentSession:
    def __init__(self, services: Services, persistence: Persistence, user: UserCredentials,
                 timezone: str = "UTC", tools: Sequence[BaseTool] | None = None) -> None:
        self.services = services
        self.persistence = persistence
        self.user = user
        tools = list(tools) if tools is not None else TOOLS
        self.graph = build_graph(checkpointer=persistence.checkpointer, store=persistence.store, tools=tools)
        # The line shown while a tool runs: what the tool declared (`protected_tool(status=...)`).
        self.tool_status = {t.name: (t.metadata or {}).get("status") or f"Running {t.name}…" for t in tools}
        self.context = Context(user=user, timezone=timezone, services=services)

    @property
    def linker(self):
        return self.services.linker(self.persistence.store)

    @staticmethod
    def config(thread_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread_id}}

    # -- running ----------------------------------------------------------------------------------
    async def stream(self, thread_id: str, text: str) -> AsyncIterator[Event]:
        """Ask `text` in the thread. If a tool call there was left unsettled (a pause, a crash), the graph
        settles it first and answers its question, then this one (`agent/graph.py`)."""
        async with self.persistence.thread_lock(thread_id):
            await self._remember(thread_id, title=text, status=RUNNING)
            async for event in self._run(thread_id, {"messages": [HumanMessage(text)]}):
                yield event

    async def resume(self, thread_id: str, values: dict[str, Any]) -> AsyncIterator[Event]:
        """Resume under the thread's lock, and only interrupts still pending: a second client resuming
        the same pause finds nothing left to do instead of running the tool (and its side effect) twice."""
        async with self.persistence.thread_lock(thread_id):
            still_pending = {item.interrupt_id for item in await self.pending(thread_id)}
            live = {k: v for k, v in values.items() if k in still_pending}
            if not live:
                yield Final(ALREADY_RESUMED)
                return
            await self._remember(thread_id, status=RUNNING)
            async for event in self._run(thread_id, Command(resume=live)):
                yield event

    async def finish(self, thread_id: str) -> AsyncIterator[Event]:
        """Finish a run that was cut off mid-step (see the module's docstring); nothing when there is none
        (or another process finished it meanwhile: this waits for its lock, then finds nothing to do)."""
        async with self.persistence.thread_lock(thread_id):
            async for event in self._finish(thread_id):
                yield event

    async def _finish(self, thread_id: str) -> AsyncIterator[Event]:
        if await self.unfinished(thread_id):
            await self._remember(thread_id, status=RUNNING)
            async for event in self._run(thread_id, None):
                yield event

    async def settle_status(self, thread_id: str) -> None:
        """A conversation recorded as running that has nothing left to do (the process died after its last
        step, before saying so) is recorded as done, so `threads` stops offering to resume it."""
        item = await self.persistence.store.aget((THREADS_NAMESPACE, self.user.sub), thread_id)
        if item and item.value.get("status") == RUNNING and not await thread_busy(self.persistence.url, thread_id) \
                and not await self.unfinished(thread_id) and not await self.pending(thread_id):
            await self._remember(thread_id, status="done")

    async def unfinished(self, thread_id: str) -> bool:
        """The thread's last checkpoint has a step still to run, and no pause is waiting: the run was cut
        off (killed, or Ctrl-C) in the middle of a tool or the model's answer."""
        state = await self.graph.aget_state(self.config(thread_id))
        return bool(state.next) and not state.interrupts

    async def _run(self, thread_id: str, graph_input: Any) -> AsyncIterator[Event]:
        interrupted = False
        # durability="sync": each step's checkpoint is written before the next step starts, so a process
        # killed inside a tool always leaves that tool's step to finish (not an older one).
        async for mode, chunk in self.graph.astream(graph_input, self.config(thread_id), context=self.context,
                                                    stream_mode=["messages", "updates"], durability="sync"):
            if mode == "messages":
                message, meta = chunk
                if isinstance(message, AIMessageChunk) and meta.get("langgraph_node") == "call_model":
                    if message.content and isinstance(message.content, str):
                        yield TextChunk(message.content, str(message.id or ""))
            elif "__interrupt__" in chunk:
                for item in chunk["__interrupt__"]:
                    interrupted = True
                    yield AuthorizationNeeded(item.id, item.value)
            elif "call_model" in chunk:
                for message in chunk["call_model"].get("messages", []):
                    for call in getattr(message, "tool_calls", None) or []:
                        yield ToolStarted(call["name"], self.tool_status.get(call["name"], f"Running {call['name']}…"))
        if interrupted:
            await self._remember(thread_id, status="waiting for authorization")
            return
        state = await self.graph.aget_state(self.config(thread_id))
        messages = state.values.get("messages", [])
        final = messages[-1].content if messages and isinstance(messages[-1], AIMessage) else ""
        await self._remember(thread_id, status="done")
        yield Final(final if isinstance(final, str) else str(final))

    async def pending(self, thread_id: str) -> list[AuthorizationNeeded]:
        state = await self.graph.aget_state(self.config(thread_id))
        return [AuthorizationNeeded(i.id, i.value) for i in state.interrupts]

    async def complete(self, callback_url: str) -> tuple[LinkOutcome, dict[str, Any]]:
        """Complete linking; return the outcome and the resume map for the thread it belongs to (empty
        when the outcome leaves the thread waiting — see `auth.linking.resume_status`). After Allow the
        map is there even when Auth0 could not finish the code exchange (`RetryLater(allowed=True)`):
        the user allowed, the tool's Token Vault exchange confirms."""
        outcome = await self.linker.complete(
            callback_url, lambda link: self.user if link.user_sub == self.user.sub else None)
        return outcome, await self.resume_values(outcome)

    async def resume_values(self, outcome: LinkOutcome) -> dict[str, Any]:
        """The resume map answering every interrupt of `outcome`'s thread that waits on its state."""
        status = resume_status(outcome)
        if status is None or not outcome.thread_id:
            return {}
        state = await self.graph.aget_state(self.config(outcome.thread_id))
        return resume_map(state.interrupts, outcome.state, status)  # type: ignore[arg-type]

    async def complete_and_resume(self, callback_url: str) -> AsyncIterator[Event]:
        """Complete and resume by the one resume policy (also when Auth0 cannot finish the exchange)."""
        outcome, values = await self.complete(callback_url)
        if outcome.thread_id and values:
            async for event in self.resume(outcome.thread_id, values):
                yield event

    async def reopen(self, thread_id: str,
                     stale: Callable[[AuthorizationNeeded], bool] | None = None) -> AsyncIterator[Event]:
        """Bring a paused thread back with a live link for every pending authorization.

        A pause whose link has expired or was already used (say the process died after the callback
        completed but before the run finished) is resumed with status "reissue": its tool tries the
        token again — and simply runs if the account is linked by now — or pauses again with a fresh
        link. The pending authorizations are yielded last, each with a link that works. `stale` lets the
        caller declare more links dead (say, minted by a sandbox that has stopped since).

        A run cut off mid-step with no pause waiting is finished first (`finish`)."""
        async with self.persistence.thread_lock(thread_id):
            async for event in self._finish(thread_id):
                if not isinstance(event, AuthorizationNeeded):
                    yield event
            pending = await self.pending(thread_id)
            stale = {item.interrupt_id: {"state": item.payload.get("state"), "status": REISSUE}
                     for item in pending if (stale is not None and stale(item))
                     or not await self.linker.is_live(str(item.payload.get("state", "")))}
            if stale:
                await self._remember(thread_id, status=RUNNING)
                async for event in self._run(thread_id, Command(resume=stale)):
                    if not isinstance(event, AuthorizationNeeded):
                        yield event
                pending = await self.pending(thread_id)
            for item in pending:
                yield item

    # -- threads ----------------------------------------------------------------------------------
    async def _remember(self, thread_id: str, *, title: str | None = None, status: str) -> None:
        namespace = (THREADS_NAMESPACE, self.user.sub)
        item = await self.persistence.store.aget(namespace, thread_id)
        record = dict(item.value) if item else {"title": (title or "")[:80], "created": time.time()}
        record.update(status=status, updated=time.time())
        await self.persistence.store.aput(namespace, thread_id, record)

    async def threads(self) -> list[dict[str, Any]]:
        items = await self.persistence.store.asearch((THREADS_NAMESPACE, self.user.sub), limit=100)
        rows = [{"thread_id": i.key, **i.value} for i in items]
        rows = [{**r, "status": await interrupted_status(self.persistence.url, r["thread_id"], r.get("status", ""))}
                for r in rows]
        return sorted(rows, key=lambda r: r.get("updated", 0), reverse=True)
