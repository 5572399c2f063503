"""Client ID metadata documents (CIMD), as the tenant applies them: the `client_id` of an MCP client is the URL
of a JSON document describing it; at `/authorize` the tenant fetches that document, checks it, and from then
on knows the client as a third-party, public application (consent page, exact redirect URIs).

Rules (the CIMD draft that MCP 2025-11-25 and 2026-07-28 reference, and what Auth0 checks when it imports one):
the URL is `https` with a path, no query, fragment or credentials, at most 120 characters; the fetch follows no
redirect and reads at most 5 KiB; the document is a JSON object whose `client_id` is exactly that URL, with a
non-empty `client_name`, non-empty `redirect_uris`, `token_endpoint_auth_method` `none` (no shared secret: a
document is public), grant types among `authorization_code` and `refresh_token`, response type `code`.
Sandbox only: a loopback URL (127.0.0.0/8, ::1, localhost) may be plain `http`, and a loopback `https`
certificate is not verified (tests serve documents from self-signed loopback servers; nothing else can).
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

MAX_URL_LENGTH = 120
MAX_DOCUMENT_BYTES = 5 * 1024
FETCH_TIMEOUT_SECONDS = 5.0
GRANT_TYPES = {"authorization_code", "refresh_token"}


class CIMDError(Exception):
    """The document could not be used; the message says why (shown on the tenant's error page)."""


@dataclass
class ClientMetadata:
    client_id: str
    client_name: str
    redirect_uris: list[str]
    grant_types: set[str]


def is_metadata_url(client_id: str) -> bool:
    """Whether a `client_id` is a document URL rather than a registered id."""
    return client_id.startswith(("https://", "http://"))


def is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if len(url) > MAX_URL_LENGTH:
        raise CIMDError(f"The client_id URL is longer than {MAX_URL_LENGTH} characters.")
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.hostname)):
        raise CIMDError("The client_id URL must use https.")
    if parts.path in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise CIMDError("The client_id URL must have a path and no query, fragment or credentials.")


async def fetch(url: str) -> ClientMetadata:
    """The validated document at `url`, or `CIMDError`."""
    check_url(url)
    loopback = is_loopback(urlsplit(url).hostname)
    try:
        async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False,
                                     verify=not loopback) as http:
            async with http.stream("GET", url, headers={"accept": "application/json"}) as response:
                if response.status_code != 200:
                    raise CIMDError(f"The client metadata document answered HTTP {response.status_code}.")
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise CIMDError(f"The client metadata document is larger than {MAX_DOCUMENT_BYTES} bytes.")
    except httpx.HTTPError as exc:
        raise CIMDError(f"The client metadata document could not be fetched ({type(exc).__name__}).") from None
    try:
        document = json.loads(body)
    except ValueError:
        raise CIMDError("The client metadata document is not JSON.") from None
    return validate(url, document)


def validate(url: str, document: object) -> ClientMetadata:
    if not isinstance(document, dict):
        raise CIMDError("The client metadata document is not a JSON object.")
    if document.get("client_id") != url:
        raise CIMDError("The document's client_id is not the URL it was fetched from.")
    name = document.get("client_name")
    if not isinstance(name, str) or not name.strip():
        raise CIMDError("The document has no client_name.")
    uris = document.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) and urlsplit(u).scheme for u in uris):
        raise CIMDError("The document's redirect_uris must be a non-empty list of absolute URIs.")
    method = document.get("token_endpoint_auth_method", "none")
    if method != "none":
        raise CIMDError(f"token_endpoint_auth_method {method!r} is not allowed in a client metadata document "
                        "(no shared secrets).")
    if "client_secret" in document:
        raise CIMDError("A client metadata document must not contain a client_secret.")
    grants = document.get("grant_types", ["authorization_code"])
    if not isinstance(grants, list) or not grants or not set(grants) <= GRANT_TYPES:
        raise CIMDError("grant_types may only be authorization_code and refresh_token.")
    if document.get("response_types", ["code"]) != ["code"]:
        raise CIMDError("response_types may only be code.")
    return ClientMetadata(url, name.strip(), list(uris), set(grants))
