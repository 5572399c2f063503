"""Gives a tool its provider token and turns "Auth0 holds no token set" into a LangGraph interrupt.

The model never sees a token: the wrapper fetches it from Token Vault, hands it to the tool's call, and
only the call's text result goes back into the conversation.

Replay: when a paused run resumes, LangGraph runs the tool again from its start and `interrupt()` returns
the resume value instead of pausing. So the wrapper tries the token first (after "authorized" it now
works), and creates linking requests idempotently per (thread, tool call, round) so a replay never mints
a second state for the same pause.

Nothing that goes wrong inside a tool escapes it: an outage of Auth0 while building the link, a dropped
provider connection, a bug — each becomes one sentence the model can relay, and the run goes on. Only
LangGraph's own control flow (the interrupt) passes through.

A resume value with status "reissue" means "the link in this pause is dead (expired or used) — try
again": the wrapper tries the token first (the user may have linked in the meantime, or the thread was
killed after the callback completed) and otherwise pauses again with a fresh link.

"approved" (a front end's Approve, e.g. Agent Chat UI's) means "the user says they answered": the wrapper
tries the token and carries on if the account is linked now; otherwise it pauses again with the same
request while that link is live (same request key, so the same `state`), else with a fresh one. The
server's callback may answer that second pause, or may have answered the first one already: an answer
counts when it names any request this call paused with, so whichever comes first settles the call once,
and a replay that re-runs the tool reaches the same answer. "declined" from a front end's Reject carries
the user's note to the model.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langgraph.config import get_config
from langgraph.errors import GraphBubbleUp
from langgraph.runtime import get_runtime
from langgraph.types import interrupt

from auth.errors import AuthError, AuthorizationRequired
from auth.token_vault import ProviderToken

from .authorization import APPROVED, REISSUE, AuthorizationAnswer, AuthorizationRequest
from .context import current_context
from .provider_errors import ProviderError, ProviderInsufficientScope, ProviderUnauthorized
from .providers import Provider

log = logging.getLogger(__name__)

MAX_AUTHORIZATION_ROUNDS = 2
MAX_REISSUES = 20


def authorization_payload(request: Any, tool: str, provider: Provider, reason: str) -> dict[str, Any]:
    """The interrupt value (`AuthorizationRequest` as JSON): everything a client needs, no token."""
    why = "grant more access to" if reason == "insufficient_scope" else "allow access to"
    return AuthorizationRequest(
        connection=provider.name, scopes=list(request.scopes), authorize_url=request.authorize_url,
        state=request.state, expires_at=request.expires.strftime("%Y-%m-%dT%H:%M:%SZ"), tool=tool,
        message=f"Please {why} {provider.label} to continue.", reason=reason).to_json()


async def call_with_token(tool: str, tool_call_id: str, connection: Provider, scopes: Sequence[str],
                          call: Callable[[ProviderToken], Awaitable[str]]) -> str:
    """Run `call` with a provider token for `connection`, pausing the run for authorization if needed.

    Returns the tool's text, or a sentence the model can explain (declined, still missing, outage).
    """
    try:
        context = current_context(require_user=True)
    except AuthError as exc:
        return f"Error: {exc}"
    runtime = get_runtime()
    services = context.services
    user = context.user
    thread_id = str(get_config().get("configurable", {}).get("thread_id", ""))
    needed = list(scopes)
    rounds = reissues = approvals = 0
    asked: set[str] = set()  # the state of every request this call paused with
    approved = False  # the last answer was a front end's "approve" (and the token is still missing)
    retried_unauthorized = False
    while True:
        step_up: AuthorizationRequired | None = None
        try:
            token = await services.vault.get_token(user, connection.name, needed)
            return await call(token)
        except AuthorizationRequired as exc:
            step_up = exc
        except ProviderUnauthorized:
            services.vault.invalidate(user, connection.name)
            if not retried_unauthorized:
                retried_unauthorized = True
                continue
            step_up = AuthorizationRequired(connection.name, needed, reason="not_linked")
        except ProviderInsufficientScope as exc:
            services.vault.invalidate(user, connection.name)
            wanted = list(dict.fromkeys([*needed, *exc.required]))  # the tool's scopes, and what the provider named
            step_up = AuthorizationRequired(connection.name, wanted, reason="insufficient_scope")
        except AuthError as exc:
            return f"Error: {exc}"
        except ProviderError as exc:
            return f"Error from {connection.label}: {exc}. The user can try again."
        except GraphBubbleUp:
            raise
        except Exception as exc:  # a bug or an unmapped failure: a sentence, never a dead run
            log.warning("%s failed: %s", tool, type(exc).__name__, exc_info=True)
            return f"Error: {tool} failed unexpectedly ({type(exc).__name__}). The user can try again."

        if rounds >= MAX_AUTHORIZATION_ROUNDS:
            return (f"Authorization for {connection.label} is still missing after {rounds} attempts; "
                    "the user can try again later.")
        if context.ask_authorization is not None:
            # Another client's way to ask (MCP elicitation): it answers like interrupt() or raises its own
            # protocol error, which must reach that client untouched.
            answer = AuthorizationAnswer.from_json(await context.ask_authorization(tool, connection, step_up))
        else:
            try:
                linker = services.linker(runtime.store)

                async def start() -> Any:
                    return await linker.start(
                        user, connection.name, step_up.required_scopes, thread_id=thread_id or None,
                        tool_call_id=tool_call_id, tool=tool, envelope=context.envelope,
                        sign_in_at_click=context.sign_in_at_click,
                        request_key=f"{thread_id}:{tool_call_id}:{rounds}:{reissues}" if thread_id else None,
                    )

                request = await start()
                if approved and not request.authorize_url:  # its completion never resumed us: a fresh link
                    reissues += 1
                    request = await start()
            except AuthError as exc:  # e.g. Auth0 down, or no ID token for id_token_hint: a sentence
                return (f"Error: cannot ask for access to {connection.label}: the authorization link could not "
                        f"be prepared: {exc} {tool} did not run; the user can ask again.")
            except Exception as exc:
                log.warning("linking request for %s failed: %s", tool, type(exc).__name__, exc_info=True)
                return (f"Error: the {connection.label} authorization link could not be prepared "
                        f"({type(exc).__name__}); {tool} did not run. The user can ask again.")
            asked.add(request.state)
            # Outside the try: the interrupt is LangGraph's control flow.
            answer = AuthorizationAnswer.from_json(
                interrupt(authorization_payload(request, tool, connection, step_up.reason)))
            if answer.state and answer.state not in asked:  # another request's answer never authorizes this one
                answer = AuthorizationAnswer(request.state, REISSUE)
        status = answer.status
        approved = status == APPROVED
        if approved and approvals < MAX_REISSUES:
            approvals += 1
            services.vault.invalidate(user, connection.name)
            continue
        if status == REISSUE and reissues < MAX_REISSUES:
            reissues += 1
            services.vault.invalidate(user, connection.name)
            continue
        rounds += 1
        if status != "authorized":
            what = "declined" if status == "declined" else "did not complete"
            note = f' (their note: "{answer.note}")' if answer.note else ""
            return (f"Authorization required: the user {what} access to {connection.label}, so {tool} "
                    f"could not run{note}. Explain this and offer to try again.")
        services.vault.invalidate(user, connection.name)
        needed = step_up.required_scopes
