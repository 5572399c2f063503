"""The compiled graph with the real ChatOpenAI against the sandbox model: pause, authorize, resume."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

CAL = "https://www.googleapis.com/auth/calendar.readonly"


async def test_calendar_pause_authorize_resume(harness):
    paused = await harness.ask("What's on my calendar tomorrow?")
    [interrupt] = paused["__interrupt__"]
    payload = interrupt.value
    assert payload["type"] == "auth0/authorization_required"
    assert payload["connection"] == "google-oauth2" and payload["scopes"] == [CAL]
    assert payload["tool"] == "list_calendar_events" and payload["expires_at"].endswith("Z")
    params = parse_qs(urlsplit(payload["authorize_url"]).query)
    assert "link_account" in params["scope"][0] and params["requested_connection"] == ["google-oauth2"]
    assert params["state"] == [payload["state"]]

    done = await harness.resume({interrupt.id: await harness.approve(interrupt)})
    answer = done["messages"][-1].content
    assert "Team standup" in answer and "Design review with Priya" in answer
    assert "__interrupt__" not in done


async def test_github_pause_authorize_resume(harness):
    paused = await harness.ask("List my GitHub repositories")
    [interrupt] = paused["__interrupt__"]
    assert interrupt.value["connection"] == "github"
    done = await harness.resume({interrupt.id: await harness.approve(interrupt)})
    login = harness.user["github"]["login"]
    assert f"{login}/vault-agent-demo" in done["messages"][-1].content


async def test_declined_becomes_an_explanation(harness):
    paused = await harness.ask("What's on my calendar tomorrow?")
    [interrupt] = paused["__interrupt__"]
    done = await harness.resume({interrupt.id: await harness.approve(interrupt, "deny")})
    answer = done["messages"][-1].content
    assert "declined" in answer and "Team standup" not in answer


async def test_parallel_google_and_github_pause_together_and_resume_with_one_command(harness):
    paused = await harness.ask("Show my calendar for tomorrow and my github repositories")
    interrupts = paused["__interrupt__"]
    assert sorted(i.value["connection"] for i in interrupts) == ["github", "google-oauth2"]
    values = {i.id: await harness.approve(i) for i in interrupts}
    done = await harness.resume(values)
    answer = done["messages"][-1].content
    assert "Team standup" in answer and "vault-agent-demo" in answer


async def test_provider_401_mid_run_refetches_without_pausing(harness, control):
    control.seed_tokenset(harness.user["user_id"], "github", ["repo"])
    first = await harness.ask("List my GitHub repositories")
    assert "vault-agent-demo" in first["messages"][-1].content
    control.revoke_provider_tokens(harness.user["user_id"], "github")  # cached token now answers 401
    control.clear_requests()
    again = await harness.ask("List my GitHub repositories")
    assert "__interrupt__" not in again and "vault-agent-demo" in again["messages"][-1].content
    assert [r["status"] for r in control.requests("github", "/user/repos")] == [401, 200]


async def test_linked_account_runs_without_pause(harness, control):
    control.seed_tokenset(harness.user["user_id"], "google-oauth2", [CAL])
    done = await harness.ask("What's on my calendar tomorrow?")
    assert "__interrupt__" not in done and "Team standup" in done["messages"][-1].content


async def test_no_token_in_checkpoints_interrupts_or_model_requests(make_harness, user, sandbox, services):
    from langgraph.checkpoint.memory import InMemorySaver

    saver = InMemorySaver()
    harness = make_harness(user, checkpointer=saver)
    sandbox.world.data["openai_requests"] = []
    paused = await harness.ask("What's on my calendar tomorrow?")
    [interrupt] = paused["__interrupt__"]
    done = await harness.resume({interrupt.id: await harness.approve(interrupt)})
    assert "Team standup" in done["messages"][-1].content
    provider_tokens = [t for t, g in sandbox.world.provider_grants.items()
                       if g.user_id == user["google"]["user_id"]]
    secrets_ = [harness.context.user.refresh_token, *provider_tokens]
    assert provider_tokens
    haystack = repr(saver.storage) + repr(saver.writes) + repr(interrupt.value)
    haystack += repr(sandbox.world.data["openai_requests"]) + repr(await harness.graph.aget_state(harness.thread))
    for secret in secrets_:
        assert secret not in haystack


async def test_authorize_through_the_real_login_and_consent_forms(harness):
    """The HTML the tenant serves, driven by plain HTTP as a browser would: login form, consent form."""
    import re

    import httpx

    paused = await harness.ask("List my GitHub repositories")
    [interrupt] = paused["__interrupt__"]
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        login = await browser.get(interrupt.value["authorize_url"])
        tx = re.search(r'name="tx" value="([^"]+)"', login.text).group(1)
        base = interrupt.value["authorize_url"].split("/authorize")[0]
        consent = await browser.post(base + "/u/login", data={"tx": tx, "email": harness.user["email"],
                                                              "password": harness.user["password"]})
        assert consent.status_code == 200 and 'id="allow"' in consent.text
        answer = await browser.post(base + "/u/consent", data={"tx": tx, "action": "allow"})
        assert answer.status_code == 302
    result = await harness.context.services.linker(harness.graph.store).complete(answer.headers["location"])
    done = await harness.resume({interrupt.id: {"state": result.state, "status": result.status}})
    assert "vault-agent-demo" in done["messages"][-1].content


async def test_provider_5xx_becomes_an_explanation_not_a_pause(harness, control):
    control.seed_tokenset(harness.user["user_id"], "github", ["repo"])
    control.add_fault("github", "^/user/repos$", "status", status=502)
    done = await harness.ask("List my GitHub repositories")
    assert "__interrupt__" not in done
    assert "GitHub answered 502" in done["messages"][-1].content
