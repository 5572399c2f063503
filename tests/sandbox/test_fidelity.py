"""The official clients, unmodified, against the sandbox: only base URLs differ from production."""

from __future__ import annotations

import pytest
from auth0.authentication import GetToken
from auth0.management import Auth0
from github import Auth, Github
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from openai import OpenAI

CAL = "https://www.googleapis.com/auth/calendar.readonly"
REFRESH = "urn:ietf:params:oauth:token-type:refresh_token"
FEDERATED = "http://auth0.com/oauth/token-type/federated-connection-access-token"


def _get_token(env) -> GetToken:
    host = env["AUTH0_DOMAIN"].removeprefix("http://")
    return GetToken(host, env["AUTH0_CLIENT_ID"], env["AUTH0_CLIENT_SECRET"], protocol="http")


def test_auth0_python_access_token_for_connection(sandbox, control, user):
    session = control.session(user["user_id"])
    control.seed_tokenset(user["user_id"], "google-oauth2", [CAL])
    body = _get_token(sandbox.env).access_token_for_connection(
        subject_token_type=REFRESH, subject_token=session["refresh_token"], requested_token_type=FEDERATED,
        connection="google-oauth2")
    assert body["scope"] == CAL and body["issued_token_type"] == FEDERATED


def test_auth0_python_not_found_raises_its_error(sandbox, control, user):
    from auth0.authentication.exceptions import Auth0Error

    session = control.session(user["user_id"])
    with pytest.raises(Auth0Error) as err:
        _get_token(sandbox.env).access_token_for_connection(
            subject_token_type=REFRESH, subject_token=session["refresh_token"], requested_token_type=FEDERATED,
            connection="github")
    assert err.value.error_code == "tokenset_not_found" and err.value.status_code == 401


def test_auth0_python_management_users_and_unlink(sandbox, control, user):
    env = sandbox.env
    host = env["AUTH0_DOMAIN"].removeprefix("http://")
    mgmt_token = GetToken(host, env["AUTH0_MGMT_CLIENT_ID"], env["AUTH0_MGMT_CLIENT_SECRET"],
                          protocol="http").client_credentials(env["AUTH0_DOMAIN"] + "/api/v2/")["access_token"]
    client = Auth0(base_url=env["AUTH0_DOMAIN"] + "/api/v2", token=mgmt_token)
    control.seed_tokenset(user["user_id"], "github", ["repo"])
    profile = client.users.get(user["user_id"])
    assert [i.connection for i in profile.identities] == ["Username-Password-Authentication", "github"]
    client.users.identities.delete(user["user_id"], "github", user["github"]["user_id"])
    assert control.tokensets(user["user_id"]) == []
    assert [u.user_id for u in client.users.list_users_by_email(email=user["email"])] == [user["user_id"]]


def test_google_api_python_client_list_insert_freebusy(sandbox, control, user):
    token = sandbox.world.issue_provider_token("google-oauth2", user["google"]["user_id"],
                                               {"https://www.googleapis.com/auth/calendar"}, 600)
    service = build("calendar", "v3", credentials=Credentials(token), static_discovery=True, cache_discovery=False,
                    client_options={"api_endpoint": sandbox.env["GOOGLE_API_BASE_URL"] + "/calendar/v3/"})
    events = service.events().list(calendarId="primary", singleEvents=True, orderBy="startTime").execute()
    assert "Team standup" in [e["summary"] for e in events["items"]]
    page = service.events().list(calendarId="primary", maxResults=2).execute()
    assert len(page["items"]) == 2 and page["nextPageToken"]
    created = service.events().insert(calendarId="primary", body={
        "summary": "Fidelity", "start": {"dateTime": "2030-01-01T10:00:00Z"},
        "end": {"dateTime": "2030-01-01T11:00:00Z"}}).execute()
    assert created["summary"] == "Fidelity" and created["id"]
    busy = service.freebusy().query(body={"timeMin": "2030-01-01T00:00:00Z", "timeMax": "2030-01-02T00:00:00Z",
                                          "items": [{"id": "primary"}]}).execute()
    assert busy["calendars"]["primary"]["busy"] == [{"start": "2030-01-01T10:00:00Z", "end": "2030-01-01T11:00:00Z"}]


def test_google_client_sees_403_for_missing_scope(sandbox, user):
    token = sandbox.world.issue_provider_token("google-oauth2", user["google"]["user_id"], {CAL}, 600)
    service = build("calendar", "v3", credentials=Credentials(token), static_discovery=True, cache_discovery=False,
                    client_options={"api_endpoint": sandbox.env["GOOGLE_API_BASE_URL"] + "/calendar/v3/"})
    with pytest.raises(HttpError) as err:
        service.events().insert(calendarId="primary", body={"summary": "x", "start": {"dateTime": "2030-01-01T10:00:00Z"},
                                                            "end": {"dateTime": "2030-01-01T11:00:00Z"}}).execute()
    assert err.value.status_code == 403 and "insufficientPermissions" in str(err.value.content)


def test_pygithub_user_repos_issues_create(sandbox, user):
    token = sandbox.world.issue_provider_token("github", user["github"]["user_id"], {"repo"}, 600)
    gh = Github(base_url=sandbox.env["GITHUB_API_URL"], auth=Auth.Token(token), per_page=1)
    me = gh.get_user()
    assert me.login == user["github"]["login"]
    assert sorted(r.full_name for r in me.get_repos()) == [f"{me.login}/notes", f"{me.login}/vault-agent-demo"]
    repo = gh.get_repo(f"{me.login}/vault-agent-demo")
    titles = [i.title for i in repo.get_issues(state="open")]
    assert "Document the Token Vault set-up" in titles and "Add GitHub tools" in titles  # PRs included
    issue = repo.create_issue(title="From PyGithub", body="hi")
    assert issue.number == 5 and issue.title == "From PyGithub"


def test_pygithub_bad_credentials(sandbox):
    from github import BadCredentialsException

    with pytest.raises(BadCredentialsException):
        Github(base_url=sandbox.env["GITHUB_API_URL"], auth=Auth.Token("gho_nope")).get_user().login


def test_openai_client_and_chatopenai_tool_calls(sandbox):
    env = sandbox.env
    client = OpenAI(base_url=env["OPENAI_BASE_URL"], api_key=env["OPENAI_API_KEY"])
    tools = [{"type": "function", "function": {"name": "list_github_repositories", "description": "List repos",
                                               "parameters": {"type": "object", "properties": {}}}}]
    reply = client.chat.completions.create(model=env["OPENAI_MODEL"], tools=tools,
                                           messages=[{"role": "user", "content": "list my repositories"}])
    assert reply.choices[0].message.tool_calls[0].function.name == "list_github_repositories"
    chunks = list(client.chat.completions.create(model=env["OPENAI_MODEL"], stream=True,
                                                 messages=[{"role": "user", "content": "hello"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    @tool
    def list_calendar_events(start: str, end: str) -> str:
        """List calendar events between start and end."""
        return "none"

    @tool
    def list_github_issues(repo: str) -> str:
        """List issues of a repository."""
        return "none"

    model = ChatOpenAI(base_url=env["OPENAI_BASE_URL"], api_key=env["OPENAI_API_KEY"], model=env["OPENAI_MODEL"],
                       streaming=True).bind_tools([list_calendar_events, list_github_issues])
    message = model.invoke([HumanMessage("Show my calendar for tomorrow and the issues of octo/demo")])
    calls = {c["name"]: c["args"] for c in message.tool_calls}
    assert set(calls) == {"list_calendar_events", "list_github_issues"}
    assert calls["list_github_issues"] == {"repo": "octo/demo"}


def test_openai_wrong_key_is_401(sandbox):
    from openai import AuthenticationError

    client = OpenAI(base_url=sandbox.env["OPENAI_BASE_URL"], api_key="sk-wrong")
    with pytest.raises(AuthenticationError):
        client.chat.completions.create(model="x", messages=[{"role": "user", "content": "hi"}])
