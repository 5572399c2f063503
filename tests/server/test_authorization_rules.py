"""What a second user of the same server can and cannot do: assistants are read-only, `metadata.owner`
is the server's, threads cannot be planted or taken over, and threads that runs create are owned — on
both engines (`langgraph dev`, Aegra)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from langgraph_sdk.errors import ConflictError, NotFoundError, PermissionDeniedError
from server_helpers import client_for

HELLO = {"messages": [{"role": "user", "content": "hello"}]}


async def test_assistants_are_read_only(engine_server, control, user):
    owner, _ = client_for(engine_server, control, user)
    other, session = client_for(engine_server, control, control.create_user())
    [assistant] = await other.assistants.search(graph_id="agent")
    before = await owner.assistants.get(assistant["assistant_id"])

    with pytest.raises(PermissionDeniedError):
        await other.assistants.update(assistant["assistant_id"], config={"recursion_limit": 1},
                                      context={"timezone": "Pacific/Kiritimati"})
    with pytest.raises(PermissionDeniedError):
        await other.assistants.delete(assistant["assistant_id"])
    with pytest.raises(PermissionDeniedError):
        await other.assistants.create("agent", config={"recursion_limit": 1})
    headers = {"Authorization": f"Bearer {session['access_token']}"}
    crons = httpx.post(engine_server["url"] + "/runs/crons", headers=headers,
                       json={"assistant_id": "agent", "schedule": "* * * * *", "input": HELLO})
    assert crons.status_code == 403

    assert await owner.assistants.get(assistant["assistant_id"]) == before
    thread = await owner.threads.create()
    await owner.runs.wait(thread["thread_id"], "agent", input=HELLO)
    assert (await owner.threads.get(thread["thread_id"]))["status"] == "idle"  # everyone's runs unaffected


async def test_owner_metadata_is_the_servers(engine_server, control, user):
    victim, _ = client_for(engine_server, control, user)
    attacker, _ = client_for(engine_server, control, control.create_user())

    planted = await attacker.threads.create(metadata={"owner": user["user_id"], "note": "re-authorize at evil"})
    assert planted["metadata"]["owner"] != user["user_id"]
    with pytest.raises(PermissionDeniedError):
        await attacker.threads.update(planted["thread_id"], metadata={"owner": user["user_id"]})
    if engine_server["engine"] == "langgraph-dev":  # Aegra serves no thread copy (404)
        copied = await attacker.threads.copy(planted["thread_id"])
        assert copied["metadata"]["owner"] == planted["metadata"]["owner"]
    await attacker.threads.update(planted["thread_id"], metadata={"note": "still mine"})  # other keys: fine

    victims_threads = await victim.threads.search(limit=100)
    assert planted["thread_id"] not in {t["thread_id"] for t in victims_threads}
    with pytest.raises(NotFoundError):
        await victim.threads.get(planted["thread_id"])


async def test_threads_cannot_be_planted_or_taken_over(engine_server, control, user):
    victim, _ = client_for(engine_server, control, user)
    attacker, _ = client_for(engine_server, control, control.create_user())
    theirs = await victim.threads.create()

    with pytest.raises(ConflictError):  # the same id: a conflict, not a takeover
        await attacker.threads.create(thread_id=theirs["thread_id"], if_exists="do_nothing")
    with pytest.raises((NotFoundError, httpx.HTTPStatusError)) as refused:
        await attacker.runs.wait(theirs["thread_id"], "agent", input=HELLO, if_not_exists="create")
    assert getattr(refused.value, "response", None) is None or refused.value.response.status_code == 404
    with pytest.raises((NotFoundError, ConflictError)):  # langgraph-api answers 409 for a copy it cannot find
        await attacker.threads.copy(theirs["thread_id"])
    with pytest.raises(NotFoundError):
        await attacker.threads.update(theirs["thread_id"], metadata={"note": "x"})
    assert (await victim.threads.get(theirs["thread_id"]))["metadata"]["owner"] == user["user_id"]


async def test_threads_created_by_runs_belong_to_the_caller(engine_server, control, user):
    creator, _ = client_for(engine_server, control, user)
    other, _ = client_for(engine_server, control, control.create_user())

    thread_id = str(uuid.uuid4())
    result = await creator.runs.wait(thread_id, "agent", input=HELLO, if_not_exists="create",
                                     metadata={"owner": "someone-else"})
    assert result["messages"][-1]["type"] == "ai"
    thread = await creator.threads.get(thread_id)
    assert thread["metadata"]["owner"] == user["user_id"]
    with pytest.raises(NotFoundError):
        await other.threads.get(thread_id)
    with pytest.raises(NotFoundError):
        await other.threads.get_state(thread_id)

    streamed_id = str(uuid.uuid4())
    parts = [p async for p in creator.runs.stream(streamed_id, "agent", input=HELLO, if_not_exists="create")]
    assert parts and (await creator.threads.get(streamed_id))["metadata"]["owner"] == user["user_id"]

    stateless = await creator.runs.wait(None, "agent", input=HELLO)
    assert stateless["messages"][-1]["type"] == "ai"


async def test_store_is_per_user(engine_server, control, user):
    mine, _ = client_for(engine_server, control, user)
    other, _ = client_for(engine_server, control, control.create_user())
    await mine.store.put_item([user["user_id"], "notes"], "k", {"v": 1})
    assert (await mine.store.get_item([user["user_id"], "notes"], "k"))["value"] == {"v": 1}
    with pytest.raises(PermissionDeniedError):
        await other.store.get_item([user["user_id"], "notes"], "k")
    with pytest.raises(PermissionDeniedError):
        await other.store.get_item(["vault_agent", "link_requests"], "anything")
