"""The public extension API: a developer protects a tool of their own, on a connection vault-agent does not
ship, with nothing but `tools.providers` and `tools.protect` — and it pauses, authorizes and resumes like
the built-in tools, through the real graph, the real ChatOpenAI and the sandbox tenant."""

from __future__ import annotations

import uuid

import httpx
import pytest
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command

from agent.graph import build_graph
from auth.credentials import UserCredentials
from auth.token_vault import ProviderToken
from tools.authorization import AuthorizationRequest
from tools.context import Context
from tools.protect import ToolCall, protected_tool
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



async def test_a_write_tool_gets_its_call_ids_hidden_from_the_model_and_is_checked_before_any_token(
        sandbox, control, user, services):
    """`call: ToolCall` is filled by the wrapper (never by the model) with the thread and tool call ids,
    the same on the replay after authorization; `check` refuses bad arguments before any token or pause."""
    control.add_connection("acme-crm-write", "Acme CRM (write)")
    acme = register(Provider("acme-crm-write", "Acme CRM (write)", capabilities={"write": ("contacts:write",)}))
    seen: list[ToolCall] = []

    @protected_tool(acme, capability="write",
                    check=lambda name: None if name.strip() else "Error: the contact needs a name.")
    async def add_acme_contact(token: ProviderToken, name: str, call: ToolCall) -> str:
        """Add a contact on Acme CRM."""
        seen.append(call)
        return f"added {name} with key {call.key()}"

    schema = add_acme_contact.tool_call_schema.model_json_schema()
    assert set(schema["properties"]) == {"name"} and schema.get("required") == ["name"]

    session = control.session(user["user_id"])
    creds = UserCredentials(user["user_id"], session["id_token"], refresh_token=session["refresh_token"])
    graph = build_graph(checkpointer=InMemorySaver(), store=services.store, tools=[add_acme_contact])
    context = Context(user=creds, timezone="UTC", services=services)

    async def model_asks(thread: dict, name: str, call_id: str) -> dict:
        # What the model would answer, written as its node; the run stops after the tool (no model call).
        await graph.aupdate_state(thread, {"messages": [AIMessage("", tool_calls=[
            {"id": call_id, "name": "add_acme_contact", "args": {"name": name}}])]}, as_node="call_model")
        return await graph.ainvoke(None, thread, context=context, interrupt_after=["tools"])

    refused = {"configurable": {"thread_id": str(uuid.uuid4())}}
    state = await model_asks(refused, "  ", "call-0")
    assert state["messages"][-1].content == "Error: the contact needs a name."
    assert "__interrupt__" not in state and seen == [] and control.tokensets(user["user_id"]) == []

    thread_id = str(uuid.uuid4())
    thread = {"configurable": {"thread_id": thread_id}}
    paused = await model_asks(thread, "Ada", "call-1")
    [interrupt] = paused["__interrupt__"]
    request = AuthorizationRequest.from_json(interrupt.value)
    result = await services.linker(graph.store).complete(control.authorize(request.authorize_url, user["user_id"]))
    done = await graph.ainvoke(Command(resume={interrupt.id: {"state": result.state, "status": result.status}}),
                               thread, context=context, interrupt_after=["tools"])
    assert seen == [ToolCall(thread_id, "call-1")]
    assert done["messages"][-1].content == f"added Ada with key {ToolCall(thread_id, 'call-1').key()}"
