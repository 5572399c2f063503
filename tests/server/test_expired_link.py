"""An answer that arrives after the link expired still lets the server's callback finish the thread:
the outcome carries the pending request — which thread and user it was for, and the run's sealed
envelope — so the callback can resume it with "expired" as the owner (the tool then explains and
offers to try again)."""

from __future__ import annotations

from langgraph.store.memory import InMemoryStore

from auth.credentials import UserCredentials
from auth.linking import AccountLinker, Expired, resume_status
from tools.authorization import resume_map


async def test_an_expired_link_says_which_thread_to_resume(settings, control, user):
    linker = AccountLinker(settings, InMemoryStore(), ttl_seconds=-1)
    session = control.session(user["user_id"])
    creds = UserCredentials(user["user_id"], session["id_token"], refresh_token=session["refresh_token"])
    request = await linker.start(creds, "github", ["repo"], thread_id="thread-1", tool_call_id="call-1",
                                 envelope="v1.sealed")
    expired = await linker.complete(control.authorize(request.authorize_url, user["user_id"], action="deny"))
    assert isinstance(expired, Expired)
    assert (resume_status(expired), expired.thread_id, expired.user_sub) == ("expired", "thread-1", user["user_id"])
    assert expired.link.envelope == "v1.sealed" and expired.link.tool_call_id == "call-1"
    interrupts = [{"id": "i-1", "value": {"type": "auth0/authorization_required", "state": request.state}},
                  {"id": "i-2", "value": {"type": "auth0/authorization_required", "state": "other"}}]
    assert resume_map(interrupts, expired.state, resume_status(expired)) == {
        "i-1": {"state": request.state, "status": "expired"}}
