"""Typed errors of the auth layer. Callers branch on the type, never on message text.

The split matters: only `AuthorizationRequired` may become a "link your account" request. An outage,
a rate limit or a bad client secret is reported as what it is (docs/protocols.md §0).
"""

from __future__ import annotations


class AuthError(Exception):
    """Base of every error raised by `auth/`. `str(err)` is one line a user can act on.

    `retryable` says whether the same request may work if simply tried again later (an outage, a
    rate limit) — callers show "try again" / "reload this page" instead of "log in again".
    """

    retryable = False


class AuthorizationRequired(AuthError):
    """Auth0 holds no usable token set for this connection, or its scopes fall short.

    `required_scopes` is what a new linking request must ask for: the union of what was already granted
    and what the tool needs (a step-up never narrows access the user already gave).
    """

    def __init__(
        self,
        connection: str,
        required_scopes: list[str],
        granted_scopes: list[str] | None = None,
        reason: str = "not_linked",  # "not_linked" | "insufficient_scope"
    ) -> None:
        self.connection = connection
        self.required_scopes = list(required_scopes)
        self.granted_scopes = list(granted_scopes or [])
        self.reason = reason
        super().__init__(f"authorization required for {connection} ({reason})")


class SessionExpired(AuthError):
    """The user's own Auth0 session (refresh or access token) is invalid or expired: log in again."""


class TransientError(AuthError):
    """Auth0 (or a provider) was unreachable, slow, rate limited or failing after bounded retries."""

    retryable = True


class Misconfigured(AuthError):
    """The application's own configuration is wrong (client id/secret, grant not enabled, …)."""


class LinkingError(AuthError):
    """A step of completing a link failed for good inside `auth/linking/` (the code exchange, the ID token,
    the My Account API). It never leaves the linker: `AccountLinker.complete()` turns it into a typed
    outcome (`auth.linking.Failed` with the same `code`, or `WrongAccount`), which is what callers see.

    `code` is stable for tests and UIs: "exchange_failed", "invalid_id_token", "user_mismatch".
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class UnexpectedAnswer(TransientError):
    """A server answered with valid HTTP whose body is not what its protocol promises (a 200 from a token
    endpoint that is not a JSON object with a token). Retryable: a proxy or an outage page is the usual
    cause."""


class HTTPError(TransientError):
    """No usable HTTP answer: the server could not be reached, did not answer in time, or broke the
    protocol. Raised by `auth/http1.py`; `str(err)` is one sentence naming the server."""


class ConnectFailed(HTTPError):
    """No connection could be opened: nothing was sent."""


class TimedOut(HTTPError):
    """No complete answer within the timeout (the request may have been received)."""


class ConnectionClosed(HTTPError):
    """The server closed the connection before any byte of an answer."""


class MalformedAnswer(HTTPError):
    """The answer broke HTTP/1.1 framing (status line, header fields, lengths, chunks, interim answers)
    or stopped in the middle."""


class AnswerTooLarge(MalformedAnswer):
    """The answer's header section or body went past the client's limit; the connection was closed."""


class InvalidRequest(AuthError):
    """A request that must not be sent as built (a header value with CR or LF, a malformed header name
    or target): refused before any byte goes out. Not retryable: the same request fails the same way."""
