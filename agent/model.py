"""Builds the chat model: OpenAI, or any OpenAI-compatible server by `OPENAI_BASE_URL` (the sandbox's
scripted model is just another base URL).

`bound_model` builds it and binds the tools once per (model, key, base URL) and reuses it for every call:
building a `ChatOpenAI` and converting the tools' schemas cost about a millisecond per model call, which
is a large share of a warm run's own CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI

from auth.settings import Settings

_bound: dict[tuple[Any, ...], Runnable[LanguageModelInput, BaseMessage]] = {}


def make_model(settings: Settings) -> ChatOpenAI:
    return ChatOpenAI(
        model=settings.openai_model,
        api_key=settings.openai_api_key or None,
        base_url=settings.openai_base_url or None,
        temperature=0,
        streaming=True,
        max_retries=2,
        timeout=60,
    )


def bound_model(settings: Settings, tools: Sequence[Any]) -> Runnable[LanguageModelInput, BaseMessage]:
    """The model with `tools` bound, built on first use for these settings and then shared."""
    key = (settings.openai_model, settings.openai_api_key, settings.openai_base_url, tuple(id(t) for t in tools))
    model = _bound.get(key)
    if model is None:
        model = _bound[key] = make_model(settings).bind_tools(list(tools))
    return model
