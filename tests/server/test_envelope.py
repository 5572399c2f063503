"""The credential envelope (`auth/envelope.py`) and how a run's tools treat one that cannot be used:
sealed for another user, altered, or expired — a sentence for the model, never a crash and never
another user's token."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from agent.graph import build_graph
from auth.envelope import Envelope, EnvelopeError, EnvelopeSealer, generate_key, parse_keys
from auth.errors import Misconfigured
from auth.server_auth import configuration_problems, user_dict
from tools.context import Context
from tools.services import Services

ASK = {"messages": [("user", "What's on my calendar tomorrow?")]}


def _sealer(*keys: str) -> EnvelopeSealer:
    return EnvelopeSealer.from_setting(",".join(keys))


def test_an_envelope_opens_only_for_its_user_unaltered_and_in_time():
    key = generate_key()
    sealed = _sealer(key).seal(Envelope("auth0|alice", "AT-secret", "IT-secret", "", time.time() + 60))
    assert "AT-secret" not in sealed and "IT-secret" not in sealed and "alice" not in sealed
    opened = _sealer(key).open(sealed, "auth0|alice")
    assert (opened.access_token, opened.id_token) == ("AT-secret", "IT-secret")
    assert "secret" not in repr(opened) and "secret" not in repr(opened.credentials())

    with pytest.raises(EnvelopeError) as wrong_user:
        _sealer(key).open(sealed, "auth0|bob")
    assert wrong_user.value.code == "tampered"
    header, cek, iv, body, tag = sealed.split(".")
    assert cek == "" and json.loads(base64.urlsafe_b64decode(header + "==")) | {"kid": "k"} == {
        "alg": "dir", "enc": "A256GCM", "kid": "k", "typ": "vault-agent-envelope+jwe"}  # a standard JWE
    flipped = body[:5] + ("A" if body[5] != "A" else "B") + body[6:]
    for bad in (".".join((header, cek, iv, flipped, tag)), ".".join((header, "x", iv, body, tag)), "garbage", ""):
        with pytest.raises(EnvelopeError):
            _sealer(key).open(bad, "auth0|alice")
    with pytest.raises(EnvelopeError) as other_key:
        _sealer(generate_key()).open(sealed, "auth0|alice")
    assert other_key.value.code == "tampered"
    with pytest.raises(EnvelopeError) as expired:
        _sealer(key).open(sealed, "auth0|alice", now=time.time() + 61)
    assert expired.value.code == "expired" and "fresh token" in str(expired.value)


def test_key_rotation_and_configuration_errors(settings):
    old, new = generate_key(), generate_key()
    sealed = _sealer(old).seal(Envelope("auth0|a", "t", "", "", time.time() + 60))
    assert _sealer(new, old).open(sealed, "auth0|a").access_token == "t"
    for bad in ("", "short", "x" * 40, "not base64 at all!"):
        with pytest.raises(Misconfigured) as error:
            parse_keys(bad)
        assert "VAULT_AGENT_ENCRYPTION_KEY" in str(error.value)
    assert configuration_problems(settings.model_copy(update={"auth0_callback_url": "http://x/auth/callback"})) == []
    problems = configuration_problems(settings.model_copy(update={"vault_agent_encryption_key": "",
                                                                  "auth0_audience": ""}))
    assert any("VAULT_AGENT_ENCRYPTION_KEY" in p for p in problems) and any("AUTH0_AUDIENCE" in p for p in problems)


@pytest.fixture
async def graph_and_context(settings):
    services = Services.create(settings, InMemoryStore())
    yield build_graph(checkpointer=InMemorySaver(), store=services.store), Context(services=services)
    await services.aclose()


@pytest.mark.parametrize("case", ["another user's envelope", "tampered", "expired", "none"])
async def test_a_run_with_an_unusable_envelope_gets_a_sentence(case, graph_and_context, settings, control, user):
    """The graph as the server runs it (auth user in the config): the tool reports, the run finishes,
    and Token Vault never sees the other user's token."""
    graph, context = graph_and_context
    victim = control.create_user()
    session = control.session(victim["user_id"], audience=settings.auth0_audience)
    sealer = EnvelopeSealer.from_setting(settings.vault_agent_encryption_key)
    exp = time.time() + (-1 if case == "expired" else 600)
    sealed = sealer.seal(Envelope(victim["user_id"] if case != "expired" else user["user_id"],
                                  session["access_token"], session["id_token"], "", exp))
    if case == "tampered":
        sealed = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    auth_user = user_dict(user["user_id"], "" if case == "none" else sealed)
    control.clear_requests()

    result = await graph.ainvoke(ASK, {"configurable": {"thread_id": str(uuid.uuid4()),
                                                        "langgraph_auth_user": auth_user}}, context=context)
    tool_text = "\n".join(str(m.content) for m in result["messages"] if m.type == "tool")
    assert tool_text.startswith("Error:") and "__interrupt__" not in result
    expected = {"another user's envelope": "do not belong", "tampered": "do not belong",
                "expired": "expired", "none": "Authorization: Bearer"}[case]
    assert expected in tool_text
    exchanges = control.requests("auth0", "/oauth/token")
    assert not any(session["access_token"] in str(r) for r in exchanges)
