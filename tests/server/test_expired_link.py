"""An answer that arrives after the link expired still lets the server's callback finish the thread:
the refusal carries which thread and user it was for, and the run's sealed envelope, so the callback
can resume it with "expired" as the owner (the tool then explains and offers to try again)."""

from __future__ import annotations

from langgraph.store.memory import InMemoryStore

from auth.credentials import UserCredentials
from auth.errors import LinkingError
from auth.linking import AccountLinker, LinkResult
from tools.authorization import resume_map


async def test_an_expired_link_says_which_thread_to_resume(settings, control, user):
    linker = AccountLinker(settings, InMemoryStore(), ttl_seconds=-1)
    session = control.session(user["user_id"])
    creds = UserCredentials(user["user_id"], session["id_token"], refresh_token=session["refresh_token"])
    request = await linker.start(creds, "github", ["repo"], thread_id="thread-1",
                                 extra={"tool_call_id": "call-1", "envelope": "v1.sealed"})
    try:
        await linker.complete(control.authorize(request.authorize_url, user["user_id"], action="deny"))
    except LinkingError as exc:
        expired = getattr(exc, "expired", None)
        assert exc.code == "expired_state"
    else:
        raise AssertionError("an expired link must be refused")
    assert isinstance(expired, LinkResult)
    assert (expired.status, expired.thread_id, expired.user_sub) == ("expired", "thread-1", user["user_id"])
    assert expired.extra["envelope"] == "v1.sealed"
    interrupts = [{"id": "i-1", "value": {"type": "auth0/authorization_required", "state": request.state}},
                  {"id": "i-2", "value": {"type": "auth0/authorization_required", "state": "other"}}]
    assert resume_map(interrupts, expired.state, expired.status) == {
        "i-1": {"state": request.state, "status": "expired"}}
