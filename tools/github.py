"""GitHub tools on httpx (async). Results are trimmed: names, numbers, titles, links.

Opening an issue happens exactly once across replays, retries and crashes. GitHub has no idempotency
key, so the tool makes its own: the issue body ends with a hidden marker derived from (thread, tool call),
and before posting it records the intent in the store. A tool that finds its intent already recorded
(a replay after a crash, a resume) — or that lost the answer to its POST — first looks for an issue
carrying its marker among the repository's recent issues and reports that one instead of opening another;
while the earlier attempt may still be in flight (a process killed while GitHub held its POST), it keeps
looking for as long as `write_once` would have waited for that attempt, then posts.
The POST goes through `ToolCall.write_once`: one slower than the client's timeout is awaited rather than
abandoned, because a marker search while it is still in flight finds nothing and a second POST would open
a second issue.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Annotated, Any

import httpx
from langgraph.runtime import get_runtime
from pydantic import Field

from auth.error_body import error_field
from auth.token_vault import ProviderToken

from .context import current_context
from .protect import WRITE_WAIT_SECONDS, ToolCall, protected_tool
from .provider_errors import ProviderError, ProviderInsufficientScope, ProviderUnauthorized, ProviderUnreachable
from .providers import GITHUB

MAX_ITEMS = 30
# GitHub's rules: an owner is 1–39 alphanumerics or single inner hyphens; a repository name is 1–100 of
# letters, digits, ".", "-", "_" — and never "." or "..", which would walk the URL path.
OWNER_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
REPO_HELP = "Repository as owner/name, or just name for one of the signed-in user's own repositories"
INTENTS_NAMESPACE = ("vault_agent", "write_intents")
MARKER_SEARCH_DEPTH = 100


async def _request(token: ProviderToken, method: str, path: str, **kwargs: Any) -> httpx.Response:
    services = current_context().services
    url = services.settings.github_api_url.rstrip("/") + path
    headers = {"Authorization": f"Bearer {token.access_token}", "Accept": "application/vnd.github+json",
               "User-Agent": "vault-agent", "X-GitHub-Api-Version": "2022-11-28"}
    try:
        response = await services.http.request(method, url, headers=headers, **kwargs)
    except httpx.TransportError as exc:
        raise ProviderUnreachable(f"GitHub could not be reached ({type(exc).__name__})") from exc
    if (error := github_error(response)) is not None:
        raise error
    return response


def github_error(response: httpx.Response) -> ProviderError | None:
    """A GitHub answer in our terms (None when it succeeded) — the one place GitHub's status codes,
    scope headers and error bodies are mapped."""
    status = response.status_code
    if status < 400:
        return None
    if status == 401:
        return ProviderUnauthorized("GitHub rejected the access token")
    if status == 403 and response.headers.get("x-accepted-oauth-scopes"):
        granted = {s.strip() for s in response.headers.get("x-oauth-scopes", "").split(",")}
        accepted = {s.strip() for s in response.headers["x-accepted-oauth-scopes"].split(",")}
        if not granted & accepted:
            return ProviderInsufficientScope("more GitHub access is needed")
    if status == 404:
        granted = {s.strip() for s in response.headers.get("x-oauth-scopes", "").split(",") if s.strip()}
        if "x-oauth-scopes" in response.headers and "repo" not in granted:
            # GitHub hides a private repository it may not show behind a 404: only `repo` can tell.
            return ProviderInsufficientScope("the repository is not public, or does not exist",
                                             required=GITHUB.scopes("private"))
        return ProviderError("not found (or not visible to this account)")
    return ProviderError(f"GitHub answered {status}: {error_field(response, 'message')}".strip())


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:  # a 200 whose body was cut short
        raise ProviderUnreachable("GitHub's answer was incomplete") from exc


def _check_repo(repo: str) -> str | None:
    owner, slash, name = repo.strip().partition("/")
    if not slash:  # "my vault-agent-demo repo": one of the signed-in user's own
        owner, name = "", owner
    if (not slash or OWNER_PATTERN.match(owner)) and NAME_PATTERN.match(name) and name not in (".", ".."):
        return None
    return ("Error: repo must look like owner/name or name (owner: letters, digits and single hyphens; name: "
            "letters, digits, '.', '-', '_', not '.' or '..').")


async def _full_name(token: ProviderToken, repo: str) -> str:
    """`owner/name` as given; a bare `name` means the signed-in user's own repository, so it becomes
    `LOGIN/name` with the login from `GET /user` (same token, one request)."""
    repo = repo.strip()
    if "/" in repo:
        return repo
    login = _json(await _request(token, "GET", "/user")).get("login", "")
    return f"{login}/{repo}"


def _check_repo_argument(repo: str, **_: Any) -> str | None:
    return _check_repo(repo)


@protected_tool(GITHUB, capability="read", status="Listing your GitHub repositories…")
async def list_github_repositories(token: ProviderToken) -> str:
    """List the user's GitHub repositories (name, visibility, open issues)."""
    response = await _request(token, "GET", "/user/repos", params={"per_page": MAX_ITEMS, "sort": "full_name"})
    repos = _json(response)
    if not repos:
        return "No repositories."
    lines = [f"- {r['full_name']} ({'private' if r.get('private') else 'public'}, "
             f"{r.get('open_issues_count', 0)} open issues){': ' + r['description'] if r.get('description') else ''}"
             for r in repos]
    more = "\n(more repositories not shown)" if 'rel="next"' in response.headers.get("link", "") else ""
    if "repo" not in token.scopes:  # read with no scope: GitHub shows public repositories only
        more += "\n(private repositories are not listed: reading them needs GitHub's `repo` permission)"
    return "Repositories:\n" + "\n".join(lines) + more


@protected_tool(GITHUB, capability="read", status="Reading GitHub issues…", check=_check_repo_argument)
async def list_github_issues(
    token: ProviderToken,
    repo: Annotated[str, Field(description=REPO_HELP + ", e.g. alice-gh/vault-agent-demo")],
    state: Annotated[str, Field(description="open, closed or all", pattern="^(open|closed|all)$")] = "open",
) -> str:
    """List issues of a GitHub repository (pull requests are left out)."""
    repo_ = await _full_name(token, repo)
    response = await _request(token, "GET", f"/repos/{repo_}/issues", params={"state": state, "per_page": MAX_ITEMS})
    issues = [i for i in _json(response) if "pull_request" not in i]
    if not issues:
        return f"No {state} issues in {repo_}."
    return f"{state.capitalize()} issues in {repo_}:\n" + "\n".join(f"- #{i['number']} {i['title']}" for i in issues)


@protected_tool(GITHUB, capability="write", status="Opening a GitHub issue…", check=_check_repo_argument)
async def create_github_issue(
    token: ProviderToken,
    repo: Annotated[str, Field(description=REPO_HELP)],
    title: Annotated[str, Field(description="Issue title", min_length=1, max_length=256)],
    call: ToolCall,
    body: Annotated[str, Field(description="Issue description (Markdown)", max_length=20000)] = "",
) -> str:
    """Open a new issue in a GitHub repository. Only when the user asked for it."""
    key = call.key()  # the same on every replay and retry of this call
    marked_body = (body + "\n\n" if body else "") + marker(key)
    repo_ = await _full_name(token, repo.strip())
    issue = await create_issue_once(token, repo_, call, {"title": title, "body": marked_body})
    return f"Created issue #{issue['number']} in {repo_}: {issue['title']}\nLink: {issue.get('html_url', '')}"


def marker(key: str) -> str:
    """Invisible in GitHub's rendering of the body, findable by the tool that wrote it."""
    return f"<!-- vault-agent:{key} -->"


async def create_issue_once(token: ProviderToken, repo: str, call: ToolCall, payload: dict[str, str]) -> dict[str, Any]:
    key = call.key()
    store = get_runtime().store or current_context().services.store
    within = max(WRITE_WAIT_SECONDS, 3 * current_context().services.settings.http_timeout_seconds)
    if (intent := await store.aget(INTENTS_NAMESPACE, key)) is not None:  # an earlier attempt may have got through
        # ... or may still be in flight: its process died (a crash, Ctrl-C) while GitHub held the POST. It
        # gets the time write_once would have given it before anything is sent again.
        since = float(intent.value.get("at", 0))
        while (found := await _find_marked(token, repo, key)) is None and time.time() < since + within:
            await asyncio.sleep(min(1.0, max(0.05, since + within - time.time())))
        if found is not None:
            return found
    await store.aput(INTENTS_NAMESPACE, key, {"kind": "github_issue", "repo": repo, "at": time.time()})

    async def post() -> dict[str, Any]:  # no client timeout: write_once bounds the attempt
        return _json(await _request(token, "POST", f"/repos/{repo}/issues", json=payload, timeout=None))

    return await call.write_once(post, lambda: _find_marked(token, repo, key), provider="GitHub", within=within)


async def _find_marked(token: ProviderToken, repo: str, key: str) -> dict[str, Any] | None:
    """Our own issue among the repository's most recent ones, by its marker."""
    response = await _request(token, "GET", f"/repos/{repo}/issues",
                              params={"state": "all", "sort": "created", "direction": "desc",
                                      "per_page": MARKER_SEARCH_DEPTH})
    wanted = marker(key)
    for issue in _json(response):
        if "pull_request" not in issue and wanted in (issue.get("body") or ""):
            return issue
    return None


GITHUB_TOOLS = [list_github_repositories, list_github_issues, create_github_issue]
