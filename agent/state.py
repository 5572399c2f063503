"""Graph state: the conversation only. Nothing secret ever goes here — it is checkpointed.

`held` keeps the messages that arrived while a tool call of the conversation was still unsettled (the run
was paused for authorization, or killed in the middle of the tool): the call is settled first, the model
answers the question it belonged to, then these messages go on — so the history the model reads never
has an AI tool call without its reply (see `agent/settle.py`).
"""

from __future__ import annotations

from typing import Annotated

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import NotRequired, TypedDict


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    held: NotRequired[list[AnyMessage]]
