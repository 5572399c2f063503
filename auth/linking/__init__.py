"""Account linking for every front end: one typed API.

    linker = AccountLinker(settings, store)
    link = await linker.start(user, connection, scopes, thread_id=…)   # PendingLink; link.authorize_url
    outcome = await linker.complete(callback_url)                       # LinkOutcome
    resume_status(outcome)                                              # what the paused thread is told

`outcomes.py` lists the outcomes, `pending.py` the pending record, `authorize_url.py` the one
`/authorize` URL builder, `sign_in.py` the click-time sign-in of a server's link page. The pages a
browser sees for each outcome are `agent/pages.py`'s.
"""

from ..authorize_url import Secrets, authorize_url
from .linker import (
    DEFAULT_TTL_SECONDS,
    MY_ACCOUNT_SCOPES,
    PAGE_TTL_SECONDS,
    AccountLinker,
    link_page_url,
)
from .outcomes import (
    Authorized,
    Declined,
    Expired,
    Failed,
    LinkOutcome,
    RetryLater,
    TenantRefused,
    WrongAccount,
    resume_status,
)
from .pending import KEYS_NAMESPACE, NAMESPACE, PendingLink, PendingLinks
from .sign_in import ClickSignIn, SignedIn

__all__ = [
    "DEFAULT_TTL_SECONDS", "KEYS_NAMESPACE", "MY_ACCOUNT_SCOPES", "NAMESPACE", "PAGE_TTL_SECONDS",
    "AccountLinker", "Authorized", "ClickSignIn", "Declined", "Expired", "Failed", "LinkOutcome",
    "PendingLink", "PendingLinks", "RetryLater", "Secrets", "SignedIn", "TenantRefused", "WrongAccount",
    "authorize_url", "link_page_url", "resume_status",
]
