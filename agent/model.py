"""Builds the chat model: OpenAI, or any OpenAI-compatible server by `OPENAI_BASE_URL` (the sandbox's
scripted model is just another base URL)."""

from __future__ import annotations

from langchain_openai import ChatOpenAI

from auth.settings import Settings


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
