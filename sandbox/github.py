"""GitHub REST stand-in: `/user`, `/user/repos` (Link pagination), issues list and create, with GitHub's
error bodies, `X-OAuth-Scopes` and rate-limit headers. Data per GitHub account in
`world.data["github"][account_user_id]`."""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .world import ProviderAccount, World

DOCS = "https://docs.github.com/rest"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed_github(world: World, account: ProviderAccount) -> None:
    """Two repositories for a fresh account: a public demo with three open issues and one PR, and a
    private notes repository."""
    owner = {"login": account.login, "id": int(account.user_id), "type": "User", "site_admin": False}
    repos = {
        "vault-agent-demo": _repo(owner, "vault-agent-demo", False, "Demo repository for vault-agent"),
        "notes": _repo(owner, "notes", True, "Private notes"),
    }
    issues: dict[str, list[dict[str, Any]]] = {"vault-agent-demo": [], "notes": []}
    data = {"owner": owner, "repos": repos, "issues": issues, "name": account.name, "email": account.email}
    for title in ("Calendar sync drops all-day events", "Document the Token Vault set-up",
                  "Retry on 429 from the token endpoint"):
        _add_issue(data, "vault-agent-demo", title, "")
    _add_issue(data, "vault-agent-demo", "Add GitHub tools", "", pull_request=True)
    world.data.setdefault("github", {})[account.user_id] = data


def _repo(owner: dict[str, Any], name: str, private: bool, description: str) -> dict[str, Any]:
    full = f"{owner['login']}/{name}"
    return {"id": secrets.randbelow(10**9), "node_id": "R_" + secrets.token_hex(6), "name": name,
            "full_name": full, "private": private, "owner": owner, "description": description,
            "html_url": f"https://github.example/{full}", "url": f"/repos/{full}", "fork": False,
            "visibility": "private" if private else "public", "default_branch": "main",
            "open_issues_count": 0, "created_at": _now(), "updated_at": _now(), "pushed_at": _now(),
            "has_issues": True, "archived": False, "permissions": {"admin": True, "push": True, "pull": True}}


def _add_issue(data: dict[str, Any], repo: str, title: str, body: str, pull_request: bool = False,
               labels: list[str] | None = None) -> dict[str, Any]:
    items = data["issues"][repo]
    number = len(items) + 1
    full = data["repos"][repo]["full_name"]
    issue: dict[str, Any] = {
        "id": secrets.randbelow(10**9), "node_id": "I_" + secrets.token_hex(6), "number": number,
        "title": title, "body": body, "state": "open", "user": data["owner"], "labels":
        [{"name": name} for name in labels or []], "assignees": [], "comments": 0,
        "html_url": f"https://github.example/{full}/{'pull' if pull_request else 'issues'}/{number}",
        "url": f"/repos/{full}/issues/{number}", "created_at": _now(), "updated_at": _now(),
        "closed_at": None, "locked": False, "author_association": "OWNER"}
    if pull_request:
        issue["pull_request"] = {"url": f"/repos/{full}/pulls/{number}"}
    items.append(issue)
    data["repos"][repo]["open_issues_count"] = len(items)
    return issue


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"message": message, "documentation_url": DOCS, "status": str(status), **extra},
                        status)


class _Auth:
    def __init__(self, data: dict[str, Any], scopes: frozenset[str]) -> None:
        self.data, self.scopes = data, scopes


def _authenticate(request: Request) -> tuple[_Auth | None, JSONResponse | None]:
    if not request.headers.get("user-agent"):
        return None, _error(403, "Request forbidden by administrative rules. Please make sure your request "
                                 "has a User-Agent header.")
    header = request.headers.get("authorization", "")
    if not header:
        return None, _error(401, "Requires authentication")
    scheme, _, token = header.partition(" ")
    world: World = request.app.state.world
    grant = world.lookup_provider_token("github", token) if scheme.lower() in ("bearer", "token") else None
    if grant is None:
        return None, _error(401, "Bad credentials")
    return _Auth(world.data["github"][grant.user_id], grant.scopes), None


def _headers(auth: _Auth, accepted: str = "") -> dict[str, str]:
    return {"x-oauth-scopes": ", ".join(sorted(auth.scopes)), "x-accepted-oauth-scopes": accepted,
            "x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4999", "x-ratelimit-used": "1",
            "x-ratelimit-reset": str(int(time.time()) + 3600), "x-ratelimit-resource": "core",
            "x-github-api-version-selected": "2022-11-28"}


def _page(request: Request, items: list[Any]) -> tuple[list[Any], str]:
    try:
        per_page = max(1, min(int(request.query_params.get("per_page", 30)), 100))
        page = max(1, int(request.query_params.get("page", 1)))
    except ValueError:
        per_page, page = 30, 1
    last = max(1, -(-len(items) // per_page))
    links = []
    base = str(request.url.replace(query=""))
    params = dict(request.query_params)
    if page < last:
        links.append(f'<{base}?{urlencode({**params, "page": page + 1})}>; rel="next"')
        links.append(f'<{base}?{urlencode({**params, "page": last})}>; rel="last"')
    if page > 1:
        links.append(f'<{base}?{urlencode({**params, "page": 1})}>; rel="first"')
        links.append(f'<{base}?{urlencode({**params, "page": page - 1})}>; rel="prev"')
    return items[(page - 1) * per_page: page * per_page], ", ".join(links)


def _can_see(auth: _Auth, repo: dict[str, Any]) -> bool:
    return not repo["private"] or "repo" in auth.scopes


async def user(request: Request) -> JSONResponse:
    auth, denied = _authenticate(request)
    if denied:
        return denied
    data = auth.data
    body = {**data["owner"], "name": data["name"], "email": data["email"],
            "html_url": f"https://github.example/{data['owner']['login']}",
            "public_repos": sum(1 for r in data["repos"].values() if not r["private"])}
    return JSONResponse(body, headers=_headers(auth))


async def user_repos(request: Request) -> JSONResponse:
    auth, denied = _authenticate(request)
    if denied:
        return denied
    q = request.query_params
    if "type" in q and ("visibility" in q or "affiliation" in q):
        return _error(422, "Validation Failed", errors=[{"resource": "Search", "field": "q",
                                                         "code": "invalid"}])
    repos = [r for r in auth.data["repos"].values() if _can_see(auth, r)]
    visibility = q.get("visibility", "all")
    if visibility != "all":
        repos = [r for r in repos if r["visibility"] == visibility]
    repos.sort(key=lambda r: r["full_name"], reverse=q.get("direction") == "desc")
    page, link = _page(request, repos)
    headers = _headers(auth)
    if link:
        headers["link"] = link
    return JSONResponse(page, headers=headers)


def _find_repo(request: Request, auth: _Auth) -> tuple[str, dict[str, Any]] | None:
    owner, name = request.path_params["owner"], request.path_params["repo"]
    repo = auth.data["repos"].get(name)
    if owner != auth.data["owner"]["login"] or repo is None or not _can_see(auth, repo):
        return None
    return name, repo


def _repo_request(request: Request) -> tuple[_Auth, str, dict[str, Any]] | JSONResponse:
    """The caller and the repository in the path, or GitHub's error (a repo you cannot see is a 404)."""
    auth, denied = _authenticate(request)
    if denied:
        return denied
    found = _find_repo(request, auth)
    if found is None:  # GitHub names the token's scopes on every authenticated answer, a 404 too
        return JSONResponse({"message": "Not Found", "documentation_url": DOCS, "status": "404"}, 404,
                            headers=_headers(auth))
    return auth, found[0], found[1]


async def get_repo(request: Request) -> JSONResponse:
    found = _repo_request(request)
    if isinstance(found, JSONResponse):
        return found
    auth, _, repo = found
    return JSONResponse(repo, headers=_headers(auth))


async def list_issues(request: Request) -> JSONResponse:
    found = _repo_request(request)
    if isinstance(found, JSONResponse):
        return found
    auth, name, _ = found
    state = request.query_params.get("state", "open")
    items = [i for i in auth.data["issues"][name] if state == "all" or i["state"] == state]
    items.sort(key=lambda i: i["number"], reverse=request.query_params.get("direction", "desc") == "desc")
    page, link = _page(request, items)
    headers = _headers(auth)
    if link:
        headers["link"] = link
    return JSONResponse(page, headers=headers)


async def create_issue(request: Request) -> JSONResponse:
    found = _repo_request(request)
    if isinstance(found, JSONResponse):
        return found
    auth, name, repo = found
    needed = "repo" if repo["private"] else "public_repo"
    if not ({"repo", needed} & auth.scopes):
        return _error(404 if repo["private"] else 403, "Resource not accessible by integration")
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "Problems parsing JSON")
    title = body.get("title") if isinstance(body, dict) else None
    if not isinstance(title, str) or not title.strip():
        return _error(422, "Validation Failed", errors=[{"resource": "Issue", "field": "title",
                                                         "code": "missing_field"}])
    issue = _add_issue(auth.data, name, title, str(body.get("body") or ""),
                       labels=[str(x) for x in body.get("labels") or []])
    headers = _headers(auth, needed)
    headers["location"] = str(request.url.replace(query="")) + f"/{issue['number']}"
    return JSONResponse(issue, 201, headers=headers)


def create_app(world: World) -> Starlette:
    app = Starlette(routes=[
        Route("/user", user),
        Route("/user/repos", user_repos),
        Route("/repos/{owner}/{repo}", get_repo),
        Route("/repos/{owner}/{repo}/issues", list_issues, methods=["GET"]),
        Route("/repos/{owner}/{repo}/issues", create_issue, methods=["POST"]),
    ])
    app.state.world = world
    return app
