"""The public extension API: a developer protects a tool of their own, on a connection vault-agent does not
ship, with nothing but `tools.providers` and `tools.protect` — and it pauses, authorizes and resumes like
the built-in tools, through the real graph, the real ChatOpenAI and the sandbox tenant."""

from __future__ import annotations

import uuid

import httpx
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command

from agent.graph import build_graph
from auth.credentials import UserCredentials
from auth.token_vault import ProviderToken
from tools.authorization import AuthorizationRequest
from tools.context import Context
from tools.protect import protected_tool
from tools.provider_errors import ProviderUnauthorized
from tools.providers import Provider, find, register
from tools.services import Services

CONNECTION = "acme-crm"


def make_tool(api_base: str):
    acme = register(Provider(CONNECTION, "Acme CRM", capabilities={"read": ("contacts:read",)},
                             scope_words={"contacts:read": "read your contacts"}, aliases=("acme",)))

    def no_blank_owner(owner: str = "me") -> str | None:
        return "Error: owner must not be blank." if not owner.strip() else None

    @protected_tool(acme, capability="read", status="Reading your Acme CRM…", check=no_blank_owner)
    async def whoami_on_acme(token: ProviderToken, owner: str = "me") -> str:
        """Tell who the user is on Acme CRM (their account id and granted scopes)."""
        async with httpx.AsyncClient() as http:
            response = await http.get(f"{api_base}/custom-provider/{CONNECTION}/me",
                                      headers={"Authorization": f"Bearer {token.access_token}"})
        if response.status_code == 401:
            raise ProviderUnauthorized("Acme rejected the token")
        me = response.json()
        return f"On Acme CRM you are {me['email']} (account {me['id']}), scopes: {' '.join(me['scopes'])}."

    return whoami_on_acme


@pytest.fixture
async def services(settings):
    services = Services.create(settings, InMemoryStore())
    yield services
    await services.aclose()


async def test_own_tool_pauses_authorizes_and_resumes(sandbox, control, user, services):
    control.add_connection(CONNECTION, "Acme CRM")
    tool = make_tool(sandbox.env["SANDBOX_CONTROL_URL"])
    assert "token" not in tool.tool_call_schema.model_json_schema()["properties"]  # the model never sees it
    assert find("acme").name == CONNECTION and tool.metadata["scopes"] == ["contacts:read"]

    session = control.session(user["user_id"])
    creds = UserCredentials(user["user_id"], session["id_token"], refresh_token=session["refresh_token"])
    graph = build_graph(checkpointer=InMemorySaver(), store=services.store, tools=[tool])
    context = Context(user=creds, timezone="UTC", services=services)
    thread = {"configurable": {"thread_id": str(uuid.uuid4())}}

    paused = await graph.ainvoke({"messages": [("user", "Who am I on acme?")]}, thread, context=context)
    [interrupt] = paused["__interrupt__"]
    request = AuthorizationRequest.from_json(interrupt.value)
    assert request.connection == CONNECTION and request.scopes == ["contacts:read"]
    assert request.tool == "whoami_on_acme" and "requested_connection=acme-crm" in request.authorize_url

    redirect = control.authorize(request.authorize_url, user["user_id"])
    result = await services.linker(graph.store).complete(redirect)
    done = await graph.ainvoke(Command(resume={interrupt.id: {"state": result.state, "status": result.status}}),
                               thread, context=context)
    answer = done["messages"][-1].content
    assert user["email"] in answer and "contacts:read" in answer
    assert [t["connection"] for t in control.tokensets(user["user_id"])] == [CONNECTION]

    # The arguments are checked before any token or pause: a blank owner is a sentence, not a link.
    refused = await tool.ainvoke({"type": "tool_call", "id": "call-1", "name": tool.name, "args": {"owner": " "}})
    assert refused.content == "Error: owner must not be blank."
