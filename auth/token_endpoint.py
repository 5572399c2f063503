"""One call to the tenant's `/oauth/token` as this application (client id + secret), with Auth0's
answers mapped to our typed errors. Shared by login, refresh and the linking code exchange; the Token
Vault exchange has its own richer handling (retries, not-linked detection) in `token_vault.py`.

Only an answer that says the grant itself is dead ends a session: `invalid_grant` (an expired, revoked
or already used refresh token or code). Everything else that is not a success — 5xx, 429, a WAF's 403, a
proxy's 404, `temporarily_unavailable`, a dropped connection — is a `TransientError`: the same request
may work in a moment, and the user's session must survive it.
"""

from __future__ import annotations

import math
from typing import Any

import httpx

from .error_body import error_field
from .errors import Misconfigured, SessionExpired, TransientError, UnexpectedAnswer
from .settings import Settings

#: OAuth error codes that say the grant is dead (RFC 6749 §5.2): the session cannot be refreshed.
DEAD_GRANT_ERRORS = frozenset({"invalid_grant"})
#: OAuth error codes that say this application is set up wrongly (not the user's fault, not transient).
MISCONFIGURED_ERRORS = frozenset({"invalid_client", "unauthorized_client", "unsupported_grant_type"})


async def token_request(http: httpx.AsyncClient, settings: Settings, form: dict[str, str]) -> dict[str, Any]:
    form = {**form, "client_id": settings.auth0_client_id, "client_secret": settings.auth0_client_secret}
    try:
        response = await http.post(settings.auth0_base_url + "/oauth/token", data=form)
        if response.status_code == 200:
            return token_body(response, "a token request")
    except httpx.TransportError as exc:
        raise TransientError(f"Auth0 at {settings.auth0_base_url} could not be reached "
                             f"({type(exc).__name__}); try again shortly.") from exc
    error, description = _oauth_error(response)
    if error in MISCONFIGURED_ERRORS:
        raise Misconfigured(f"Auth0 rejected the application ({error}): check AUTH0_CLIENT_ID, "
                            "AUTH0_CLIENT_SECRET and the grants enabled for it.")
    if error in DEAD_GRANT_ERRORS:
        raise SessionExpired(f"Auth0 refused the request ({error}{': ' + description if description else ''}): "
                             "your session has expired or was revoked — log in again.")
    raise TransientError(f"Auth0 answered {response.status_code}{' ' + error if error else ''}; "
                         "try again shortly.")


def _oauth_error(response: httpx.Response) -> tuple[str, str]:
    """The `error` and `error_description` of an OAuth error body, or empty strings (an HTML page from
    a proxy or WAF has neither)."""
    return error_field(response, "error"), error_field(response, "error_description")


def token_body(response: Any, what: str) -> dict[str, Any]:
    """The JSON object of a 200 from a token endpoint, checked: a non-empty string `access_token`, and
    `expires_in` (when present) a positive finite number, `scope` (when present) a string. Anything else —
    not JSON, `{}`, `[]`, `"expires_in": "abc"` — is `UnexpectedAnswer` with one sentence, never a
    `KeyError` or `ValueError` from deep inside a run."""
    try:
        body = response.json()
    except ValueError:
        body = None
    problem = None
    if not isinstance(body, dict):
        problem = "its body is not a JSON object"
    elif not isinstance(body.get("access_token"), str) or not body["access_token"]:
        problem = "it holds no access_token"
    elif "expires_in" in body and not _positive_seconds(body["expires_in"]):
        problem = "its expires_in is not a number of seconds"
    elif not isinstance(body.get("scope", ""), str):
        problem = "its scope is not a string"
    if problem:
        raise UnexpectedAnswer(f"Auth0 answered {what} with a 200 that is not a token ({problem}); try again "
                               "shortly, and check AUTH0_DOMAIN if it keeps happening.")
    return body


def _positive_seconds(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
