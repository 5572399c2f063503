"""The HTML the tenant shows a browser: the login form, the provider consent page, error pages.
Plain forms, no JavaScript, every value escaped."""

from __future__ import annotations

from html import escape
from urllib.parse import urlsplit

from .tenant import CONNECTIONS, Transaction, audience_of, requested_scopes

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;color:#222}"
          "button{padding:.5rem 1.2rem;margin-right:.5rem}input{display:block;margin:.3rem 0 1rem;width:100%}"
          ".box{border:1px solid #ccc;border-radius:8px;padding:1.5rem}"
          # Google scopes are long URLs: let them break anywhere instead of overflowing the card.
          ".scopes li{margin:.4rem 0}.scopes code{overflow-wrap:anywhere;word-break:break-all;font-size:.8rem;"
          "color:#555;display:block}")
# What each scope lets the app do, in the words a provider's consent screen uses (the raw scope is shown
# beneath, small, for those who want it).
SCOPE_WORDS = {
    "https://www.googleapis.com/auth/calendar": "See, edit, share and delete all your calendars",
    "https://www.googleapis.com/auth/calendar.readonly": "See and download your calendars",
    "https://www.googleapis.com/auth/calendar.events": "View and edit events on all your calendars",
    "https://www.googleapis.com/auth/calendar.events.readonly": "View events on all your calendars",
    "https://www.googleapis.com/auth/calendar.freebusy": "See when you are free or busy",
    "repo": "Full control of your repositories, including private ones and their issues",
    "public_repo": "Access to your public repositories",
    "read:user": "Read your profile data",
    "user:email": "See your email addresses",
}


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><div class='box'>{body}</div></body></html>")


def login_page(tx: Transaction, error: str = "") -> str:
    warning = f"<p role='alert' style='color:#b00'>{escape(error)}</p>" if error else ""
    return _page("Log in - sandbox tenant", f"""
<h1>Log in</h1><p>to continue to <b>{escape(tx.client.name)}</b> (sandbox tenant).</p>{warning}
<form method="post" action="/u/login">
<input type="hidden" name="tx" value="{escape(tx.id)}">
<label>Email<input name="email" type="email" autocomplete="username" required></label>
<label>Password<input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit" name="action" value="login">Continue</button>
</form><p><small>Seeded users: alice@example.com / sandbox</small></p>""")


def consent_page(tx: Transaction, account_label: str, *, step_up: bool = False) -> str:
    """The provider's consent as the browser shows it. `step_up`: the account is already linked and the
    app asks for more scopes on it."""
    connection = tx.params.get("requested_connection", "")
    provider = CONNECTIONS.get(connection, connection)
    scopes = "".join(f"<li>{escape(SCOPE_WORDS.get(s, s))}<code>{escape(s)}</code></li>"
                     for s in sorted(requested_scopes(tx.params)))
    what = (f"wants more access to your linked {escape(provider)} account:" if step_up else
            f"wants to link this {escape(provider)} account to your profile and access:")
    return _page(f"{provider} - authorize", f"""
<h1>{escape(provider)}</h1>
<p>Signed in as <b>{escape(account_label)}</b>.</p>
<p><b>{escape(tx.client.name)}</b> {what}</p><ul class="scopes">{scopes}</ul>
<form method="post" action="/u/consent">
<input type="hidden" name="tx" value="{escape(tx.id)}">
<button type="submit" name="action" value="allow" id="allow">Allow</button>
<button type="submit" name="action" value="deny" id="deny">Deny</button>
</form>""")


# What the OpenID scopes let an application do, as a tenant's consent screen words them.
APP_SCOPE_WORDS = {
    "openid": "Know who you are",
    "profile": "Read your name and picture",
    "email": "Read your email address",
    "offline_access": "Stay signed in (refresh its access without asking you)",
}


def app_consent_page(tx: Transaction, user_label: str, tenant_url: str) -> str:
    """A third-party application (registered by DCR or CIMD) asks to act for the user: its name is the
    client's own claim, so the page also shows where it came from (the document's host, or "registered
    itself") and where the browser will be sent back."""
    client = tx.client
    origin = (f"client metadata at <b>{escape(urlsplit(client.client_id).netloc)}</b>" if client.metadata_document
              else "registered itself (dynamic client registration)")
    audience = audience_of(tx.params)
    scopes = "".join(f"<li>{escape(APP_SCOPE_WORDS.get(s, s))}<code>{escape(s)}</code></li>"
                     for s in tx.params.get("scope", "").split())
    back = escape(urlsplit(tx.params.get("redirect_uri", "")).netloc)
    return _page(f"Authorize {client.name}", f"""
<h1>Authorize {escape(client.name)}</h1>
<p>Signed in as <b>{escape(user_label)}</b> at {escape(tenant_url)}.</p>
<p><b>{escape(client.name)}</b> (a third-party application; {origin}) wants to access
{"<b>" + escape(audience) + "</b>" if audience else "your account"}:</p><ul class="scopes">{scopes}</ul>
<p><small>You will be sent back to {back}.</small></p>
<form method="post" action="/u/consent">
<input type="hidden" name="tx" value="{escape(tx.id)}">
<button type="submit" name="action" value="allow" id="allow">Accept</button>
<button type="submit" name="action" value="deny" id="deny">Decline</button>
</form>""")


def error_page(message: str) -> str:
    return _page("Error", f"<h1>Something went wrong</h1><p>{escape(message)}</p>")
