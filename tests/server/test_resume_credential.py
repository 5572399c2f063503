"""The callback's resume credential (`auth/resume_credential.py`) is worth exactly one resume: its own
thread's state and runs, one run answering its own linking request, once, nothing else, and only while it
is fresh."""

from __future__ import annotations

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import PermissionDeniedError
from server_helpers import client_for, pause, wait_idle

from auth import resume_credential
from auth.envelope import Envelope, EnvelopeSealer


async def test_a_resume_credential_resumes_its_thread_once_and_nothing_else(engine_server, control, user):
    owner, session = client_for(engine_server, control, user)
    thread, other = await owner.threads.create(), await owner.threads.create()
    request = await pause(owner, thread["thread_id"])
    [interrupt] = (await owner.threads.get_state(thread["thread_id"]))["interrupts"]
    sealer = EnvelopeSealer.from_setting(engine_server["env"]["VAULT_AGENT_ENCRYPTION_KEY"])
    envelope = sealer.seal(Envelope(user["user_id"], session["access_token"], session["id_token"], "", 2e9))

    def as_resumer(credential: str):
        return get_client(url=engine_server["url"], headers={"Authorization": f"Bearer {credential}"})

    resumer = as_resumer(resume_credential.issue(sealer.jwe, user["user_id"], thread["thread_id"],
                                                 request["state"], envelope))
    assert (await resumer.threads.get_state(thread["thread_id"]))["interrupts"]
    for attempt in (resumer.threads.get_state(other["thread_id"]), resumer.threads.create(),
                    resumer.threads.search(), resumer.runs.create(other["thread_id"], "agent", input={}),
                    resumer.store.put_item((user["user_id"],), "k", {"v": 1}),
                    resumer.threads.update(thread["thread_id"], metadata={"x": 1})):
        with pytest.raises((PermissionDeniedError, httpx.HTTPStatusError)) as refused:
            await attempt
        assert getattr(refused.value, "response", None) is None or refused.value.response.status_code in (403, 404)

    for other_answer in ({"input": {"messages": [{"role": "user", "content": "hi"}]}},
                         {"command": {"resume": {interrupt["id"]: {"state": "another-request", "status": "authorized"}}}}):
        with pytest.raises(PermissionDeniedError):  # only its own request's answer, nothing else
            await resumer.runs.create(thread["thread_id"], "agent", **other_answer)
    answer = {interrupt["id"]: {"state": request["state"], "status": "reissue"}}
    await resumer.runs.create(thread["thread_id"], "agent", command={"resume": answer})
    await wait_idle(owner, thread["thread_id"])
    with pytest.raises(PermissionDeniedError):  # single use
        await resumer.runs.create(thread["thread_id"], "agent", command={"resume": answer})

    expired = resume_credential.issue(sealer.jwe, user["user_id"], thread["thread_id"], request["state"], envelope,
                                      lifetime=-1)
    for bearer in (expired, envelope):  # an expired one; a sealed value of another kind
        response = httpx.get(f"{engine_server['url']}/threads/{thread['thread_id']}/state",
                             headers={"Authorization": f"Bearer {bearer}"})
        assert response.status_code == 401
