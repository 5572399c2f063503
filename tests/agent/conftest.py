"""Fixtures to run the compiled agent against the sandbox with in-memory persistence."""

from __future__ import annotations

import uuid

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command

from agent.graph import build_graph
from auth.credentials import UserCredentials
from tools.context import Context
from tools.services import Services


class Harness:
    """One user talking to the agent: ask, read interrupts, authorize like the user, resume."""

    def __init__(self, graph, context, control, user):
        self.graph, self.context, self.control, self.user = graph, context, control, user
        self.thread = {"configurable": {"thread_id": str(uuid.uuid4())}}

    async def ask(self, text):
        return await self.graph.ainvoke({"messages": [("user", text)]}, self.thread, context=self.context)

    async def resume(self, values):
        return await self.graph.ainvoke(Command(resume=values), self.thread, context=self.context)

    async def approve(self, interrupt, action="approve"):
        """What the user's browser does, then what our callback does: complete the linking."""
        redirect = self.control.authorize(interrupt.value["authorize_url"], self.user["user_id"], action)
        result = await self.context.services.linker(self.graph.store).complete(redirect)
        return {"state": result.state, "status": result.status}


@pytest.fixture
async def services(settings):
    services = Services.create(settings, InMemoryStore())
    yield services
    await services.aclose()


@pytest.fixture
def make_harness(services, control):
    def make(user, checkpointer=None):
        session = control.session(user["user_id"])
        creds = UserCredentials(user["user_id"], session["id_token"], refresh_token=session["refresh_token"])
        graph = build_graph(checkpointer=checkpointer or InMemorySaver(), store=services.store)
        return Harness(graph, Context(user=creds, timezone="UTC", services=services), control, user)
    return make


@pytest.fixture
def harness(make_harness, user):
    return make_harness(user)
