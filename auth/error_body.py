"""The JSON object of an HTTP error answer, read the same way for every service we call.

Auth0 (OAuth `error`/`error_description`, My Account `detail`, Management `message`), GitHub (`message`)
and our own callback receiver (`reason`) put the useful words of a failure in a JSON body. A proxy or a
WAF in between may answer with an HTML page, an empty body, a cut-off body or a JSON array instead; all of
those read as "no details" here, so a caller's error line never depends on the body being well formed.
"""

from __future__ import annotations

from typing import Any, Protocol


class _Answer(Protocol):
    def json(self) -> Any: ...


def error_body(response: _Answer) -> dict[str, Any]:
    """The body as a JSON object, or `{}` when it is not one."""
    try:
        body = response.json()
    except ValueError:  # not JSON (an HTML page), cut short, or not UTF-8
        return {}
    return body if isinstance(body, dict) else {}


def error_field(response: _Answer, name: str, limit: int = 200) -> str:
    """One field of the error body as a string (empty when absent), at most `limit` characters."""
    value = error_body(response).get(name)
    return str(value)[:limit] if value is not None else ""
