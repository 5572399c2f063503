"""Local stand-ins for the outside world: an Auth0 tenant, Google Calendar v3, GitHub REST and an
OpenAI-compatible scripted model, each its own ASGI app on its own loopback port.

Nothing in `agent/`, `tools/` or `auth/` imports this package (it is "the outside world"); only the
code that starts it for a demo or a test does.
"""
