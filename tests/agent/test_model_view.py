"""A thread broken before the settling rule (an AI tool call with no reply, then more conversation) and a
client's made-up reply: what the model is sent has every tool call directly followed by a tool reply —
"did not complete", not the client's "Successfully handled" — so OpenAI would not refuse it. The request
the sandbox model received is read back."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from agent.settle import NOT_COMPLETED


async def test_the_model_never_reads_a_tool_call_without_its_reply(harness, sandbox):
    broken = AIMessage("", tool_calls=[{"name": "list_github_repositories", "args": {}, "id": "call_lost"}])
    made_up = AIMessage("", tool_calls=[{"name": "list_calendar_events", "args": {"start": "2026-01-01"},
                                         "id": "call_made_up"}])
    await harness.graph.aupdate_state(harness.thread, {"messages": [
        HumanMessage("list my repos"), broken, HumanMessage("never mind"), AIMessage("OK."),
        HumanMessage("calendar?"), made_up,
        ToolMessage("Successfully handled tool call.", tool_call_id="call_made_up", id="do-not-render-1"),
        HumanMessage("thanks"), AIMessage("You're welcome.")]}, as_node="call_model")
    sandbox.world.data["openai_requests"] = []
    await harness.ask("hello")
    [request] = sandbox.world.data["openai_requests"]
    sent = request["messages"]
    for index, message in enumerate(sent):
        if message.get("tool_calls"):
            [call] = message["tool_calls"]
            assert sent[index + 1]["role"] == "tool" and sent[index + 1]["tool_call_id"] == call["id"]
            assert sent[index + 1]["content"] == NOT_COMPLETED
    assert sum(1 for m in sent if m["role"] == "tool") == 2
    assert "Successfully handled" not in repr(sent)
