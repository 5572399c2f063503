"""GitHub tools on httpx (async). Results are trimmed: names, numbers, titles, links."""

from __future__ import annotations

import re
from typing import Annotated, Any

import httpx
from langchain_core.tools import InjectedToolCallId, tool
from pydantic import Field

from .context import current_context
from auth.token_vault import ProviderToken

from .provider_errors import ProviderError, ProviderInsufficientScope, ProviderUnauthorized
from .vault import GITHUB, call_with_token

READ_SCOPES = ["repo"]  # private repositories and their issues need `repo`
WRITE_SCOPES = ["repo"]
MAX_ITEMS = 30
REPO_PATTERN = re.compile(r"^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,100}$")  # "my vault-agent-demo repo": the user's own
REPO_HELP = "Repository as owner/name, or just name for one of the signed-in user's own repositories"


async def _request(token: ProviderToken, method: str, path: str, **kwargs: Any) -> httpx.Response:
    services = current_context().services
    url = services.settings.github_api_url.rstrip("/") + path
    headers = {"Authorization": f"Bearer {token.access_token}", "Accept": "application/vnd.github+json",
               "User-Agent": "vault-agent", "X-GitHub-Api-Version": "2022-11-28"}
    try:
        response = await services.http.request(method, url, headers=headers, **kwargs)
    except httpx.TransportError as exc:
        raise ProviderError(f"GitHub could not be reached ({type(exc).__name__})") from exc
    if response.status_code == 401:
        raise ProviderUnauthorized("GitHub rejected the access token")
    if response.status_code == 403 and response.headers.get("x-accepted-oauth-scopes"):
        granted = {s.strip() for s in response.headers.get("x-oauth-scopes", "").split(",")}
        accepted = {s.strip() for s in response.headers["x-accepted-oauth-scopes"].split(",")}
        if not granted & accepted:
            raise ProviderInsufficientScope("more GitHub access is needed")
    if response.status_code == 404:
        raise ProviderError("not found (or not visible to this account)")
    if response.status_code >= 400:
        message = response.json().get("message", "") if "json" in response.headers.get("content-type", "") else ""
        raise ProviderError(f"GitHub answered {response.status_code}: {message}".strip())
    return response


def _check_repo(repo: str) -> str | None:
    if REPO_PATTERN.match(repo) or NAME_PATTERN.match(repo):
        return None
    return "Error: repo must look like owner/name (or a name of one of the user's own repositories)."


async def _full_name(token: ProviderToken, repo: str) -> str:
    """`owner/name` as given; a bare `name` means the signed-in user's own repository, so it becomes
    `LOGIN/name` with the login from `GET /user` (same token, one request)."""
    if "/" in repo:
        return repo
    login = (await _request(token, "GET", "/user")).json().get("login", "")
    return f"{login}/{repo}"


@tool
async def list_github_repositories(
    tool_call_id: Annotated[str, InjectedToolCallId] = "",
) -> str:
    """List the user's GitHub repositories (name, visibility, open issues)."""

    async def call(token: ProviderToken) -> str:
        response = await _request(token, "GET", "/user/repos",
                                  params={"per_page": MAX_ITEMS, "sort": "full_name"})
        repos = response.json()
        if not repos:
            return "No repositories."
        lines = [f"- {r['full_name']} ({'private' if r.get('private') else 'public'}, "
                 f"{r.get('open_issues_count', 0)} open issues){': ' + r['description'] if r.get('description') else ''}"
                 for r in repos]
        more = "\n(more repositories not shown)" if 'rel="next"' in response.headers.get("link", "") else ""
        return "Repositories:\n" + "\n".join(lines) + more

    return await call_with_token("list_github_repositories", tool_call_id, GITHUB, READ_SCOPES, call)


@tool
async def list_github_issues(
    repo: Annotated[str, Field(description=REPO_HELP + ", e.g. alice-gh/vault-agent-demo")],
    state: Annotated[str, Field(description="open, closed or all", pattern="^(open|closed|all)$")] = "open",
    tool_call_id: Annotated[str, InjectedToolCallId] = "",
) -> str:
    """List issues of a GitHub repository (pull requests are left out)."""
    if problem := _check_repo(repo):
        return problem

    async def call(token: ProviderToken) -> str:
        repo_ = await _full_name(token, repo)
        response = await _request(token, "GET", f"/repos/{repo_}/issues",
                                  params={"state": state, "per_page": MAX_ITEMS})
        issues = [i for i in response.json() if "pull_request" not in i]
        if not issues:
            return f"No {state} issues in {repo_}."
        return f"{state.capitalize()} issues in {repo_}:\n" + "\n".join(
            f"- #{i['number']} {i['title']}" for i in issues)

    return await call_with_token("list_github_issues", tool_call_id, GITHUB, READ_SCOPES, call)


@tool
async def create_github_issue(
    repo: Annotated[str, Field(description=REPO_HELP)],
    title: Annotated[str, Field(description="Issue title", min_length=1, max_length=256)],
    body: Annotated[str, Field(description="Issue description (Markdown)", max_length=20000)] = "",
    tool_call_id: Annotated[str, InjectedToolCallId] = "",
) -> str:
    """Open a new issue in a GitHub repository. Only when the user asked for it."""
    if problem := _check_repo(repo):
        return problem

    async def call(token: ProviderToken) -> str:
        repo_ = await _full_name(token, repo)
        response = await _request(token, "POST", f"/repos/{repo_}/issues", json={"title": title, "body": body})
        issue = response.json()
        return f"Created issue #{issue['number']} in {repo_}: {issue['title']}\nLink: {issue.get('html_url', '')}"

    return await call_with_token("create_github_issue", tool_call_id, GITHUB, WRITE_SCOPES, call)


GITHUB_TOOLS = [list_github_repositories, list_github_issues, create_github_issue]
