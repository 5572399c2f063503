"""The LangGraph agent (graph, state, context, prompts, model) and its front ends (CLI, server routes)."""
