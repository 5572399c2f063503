"""A front end's human-in-the-loop decisions (Agent Chat UI's Approve/Reject) against the compiled graph:
approve is never proof — the tool tries its token and otherwise pauses again with a live link — and
whichever answer comes first settles the call once, also when LangGraph replays the tool."""

from __future__ import annotations

import time

from auth.linking import NAMESPACE

APPROVE = {"decisions": [{"type": "approve"}]}


async def test_approve_with_a_dead_link_pauses_with_a_fresh_one(harness):
    paused = await harness.ask("What's on my calendar tomorrow?")
    [interrupt] = paused["__interrupt__"]
    store = harness.graph.store
    item = await store.aget(NAMESPACE, interrupt.value["state"])
    await store.aput(NAMESPACE, interrupt.value["state"], {**item.value, "expires_at": time.time() - 1})

    again = await harness.resume(APPROVE)
    [fresh] = again["__interrupt__"]
    assert fresh.value["state"] != interrupt.value["state"] and fresh.value["authorize_url"]
    assert await harness.context.services.linker(store).is_live(fresh.value["state"])

    done = await harness.resume({fresh.id: await harness.approve(fresh)})
    assert "Team standup" in done["messages"][-1].content


async def test_approve_after_a_completion_that_never_resumed_pauses_with_a_fresh_link(harness):
    """The callback completed the link (Deny) but its resume was lost: the used link cannot be shown
    again, so the pause gets a new one."""
    paused = await harness.ask("What's on my calendar tomorrow?")
    [interrupt] = paused["__interrupt__"]
    await harness.approve(interrupt, "deny")  # completed, never resumed

    again = await harness.resume(APPROVE)
    [fresh] = again["__interrupt__"]
    assert fresh.value["state"] != interrupt.value["state"] and fresh.value["authorize_url"]


async def test_deny_after_an_approve_is_the_declined_sentence(harness):
    """Approve first (not linked yet: paused again on the same request), then the tenant's Deny arrives
    through the callback: the replayed tool reaches that answer — declined, not a new link."""
    paused = await harness.ask("What's on my calendar tomorrow?")
    [interrupt] = paused["__interrupt__"]
    again = await harness.resume(APPROVE)
    [same] = again["__interrupt__"]
    assert same.value["state"] == interrupt.value["state"]

    done = await harness.resume({same.id: await harness.approve(same, "deny")})
    assert "__interrupt__" not in done
    tool_replies = [m.content for m in done["messages"] if m.type == "tool"]
    assert len(tool_replies) == 1 and "declined access to Google Calendar" in tool_replies[0]


async def test_allow_after_an_approve_carries_on(harness):
    paused = await harness.ask("What's on my calendar tomorrow?")
    [interrupt] = paused["__interrupt__"]
    [same] = (await harness.resume(APPROVE))["__interrupt__"]
    done = await harness.resume({same.id: await harness.approve(same)})
    assert "Team standup" in done["messages"][-1].content
    assert len([m for m in done["messages"] if m.type == "tool"]) == 1
