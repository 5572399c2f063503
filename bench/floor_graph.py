"""The engine's own minimum for the server path's request pattern (`bench/server_path.py`, the floor).

One node that pauses with `interrupt()` and, resumed with `Command(resume=…)`, answers with one message:
no model, no tools, no tokens. The benchmark serves it on the same engine configuration as the agent
(`langgraph dev`; Aegra with one or two processes on PostgreSQL and Redis) but without custom auth, and
drives it with the SDK calls a flow needs (create thread, create run, join, read state, resume run, join,
read state), so what the agent's flow costs beyond it is ours: auth, the callback, the model calls, the
agent's graph.
"""

from __future__ import annotations

from langchain_core.messages import AIMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.types import interrupt


def ask(state: MessagesState) -> dict:  # noqa: ARG001 - the node signature
    answer = interrupt({"authorize_url": "https://example.invalid/authorize"})
    return {"messages": [AIMessage(f"Repositories: {answer.get('repos', '') if isinstance(answer, dict) else ''}")]}


graph = StateGraph(MessagesState).add_node(ask).add_edge(START, "ask").compile()
