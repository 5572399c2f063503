"""Writes notebooks/*.ipynb from the cell lists below (outputs empty). The .ipynb files are what users
open; this script keeps them reviewable as plain Python. Run: .venv/bin/python scripts/build_notebooks.py"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

OUT = Path(__file__).resolve().parents[1] / "notebooks"

QUICKSTART = [
    ("md", """# vault-agent quickstart

An agent that reads your Google Calendar and GitHub with tokens from **Auth0 Token Vault**. When Auth0 has
no token set for a provider (`tokenset_not_found`), the tool does not fail: the run **pauses** with a
LangGraph interrupt that carries a ready **account-linking URL**. You authorize, the run **resumes**.

Everything here runs offline against the project's **sandbox** (local stand-ins for Auth0, Google, GitHub
and a scripted model). With real credentials in the environment, see `03_real_tenant.ipynb`."""),
    ("md", "## 1. Start the sandbox\nIt runs in the background of this kernel, each service on its own loopback port."),
    ("code", """import os
import socket
import warnings

# Library notices (google-api-core on this Python, …) are for library developers, not for this tour.
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)

from sandbox.runner import SandboxServer

sandbox = SandboxServer().start()
os.environ.update(sandbox.env)            # what you would otherwise put in .env
with socket.socket() as s:                # a free loopback port for this notebook's callback receiver
    s.bind(("127.0.0.1", 0))
    os.environ["AUTH0_CALLBACK_URL"] = f"http://127.0.0.1:{s.getsockname()[1]}/callback"
print("Auth0 tenant:", sandbox.env["AUTH0_DOMAIN"])
print("callback:", os.environ["AUTH0_CALLBACK_URL"])"""),
    ("md", "## 2. Log in as the seeded user and build the agent\nIn the sandbox a session comes from its control API; in real life it comes from `vault-agent login`."),
    ("code", """import uuid
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from tools.context import Context
from agent.graph import build_graph
from tools.services import Services
from auth.credentials import UserCredentials
from auth.settings import Settings

alice = sandbox.control.user_by_email("alice@example.com")
tokens = sandbox.control.session(alice["user_id"])
user = UserCredentials(alice["user_id"], tokens["id_token"], refresh_token=tokens["refresh_token"])
print(user)                                # the repr never shows a token

services = Services.create(Settings(), InMemoryStore())
graph = build_graph(checkpointer=InMemorySaver(), store=services.store)
context = Context(user=user, timezone="UTC", services=services)
thread = {"configurable": {"thread_id": str(uuid.uuid4())}}"""),
    ("md", """## 3. Listen for the browser coming back
When you allow access, Auth0 sends your browser to `AUTH0_CALLBACK_URL`. This cell serves that address from the
kernel (the same small receiver the chat CLI uses): it completes the linking — single-use `state`, code +
PKCE verifier, ID token checked — and tells your browser what happened."""),
    ("code", """import asyncio
from agent.cli.receiver import CallbackReceiver

answers = asyncio.Queue()
linker = services.linker(services.store)

async def on_callback(url):
    outcome = await linker.complete(url)   # a typed outcome: Authorized, Declined, Expired, …
    await answers.put(outcome)
    return outcome, "Back to the notebook: the next cell carries on."

receiver = CallbackReceiver(os.environ["AUTH0_CALLBACK_URL"], on_callback, return_to="the notebook")
await receiver.start()
print("listening on", receiver.url)"""),
    ("md", "## 4. Ask for tomorrow's events\nAlice has not linked Google yet, so Token Vault answers `tokenset_not_found` and the run pauses."),
    ("code", """from IPython.display import HTML, display

result = await graph.ainvoke({"messages": [("user", "What's on my calendar tomorrow?")]}, thread, context=context)
from tools.authorization import AuthorizationRequest, resume_map

[pause] = result["__interrupt__"]
request = AuthorizationRequest.from_json(pause.value)  # the typed interrupt value
print("connection:", request.connection)
print("scopes:", request.scopes)
display(HTML(f'<a href="{request.authorize_url}" target="_blank">Authorize {request.connection}</a>'))"""),
    ("md", """## 5. Authorize and resume
**Click the link above**, log in as `alice@example.com` / `sandbox` and press **Allow**; your browser lands on
the receiver and this cell carries on. If nothing is clicked within `CLICK_WAIT` seconds (a headless run), the
sandbox plays you: the same consent, the same redirect to the receiver."""),
    ("code", """import httpx

CLICK_WAIT = float(os.environ.get("NOTEBOOK_CLICK_WAIT", "120"))
try:
    linked = await asyncio.wait_for(answers.get(), timeout=CLICK_WAIT)
except asyncio.TimeoutError:
    landing = sandbox.control.authorize(request.authorize_url, alice["user_id"], "approve")
    async with httpx.AsyncClient() as browser:
        page = await browser.get(landing)
    linked = await answers.get()
print("linking:", linked.status)

from langgraph.types import Command
done = await graph.ainvoke(Command(resume=resume_map([pause], linked.state, linked.status)), thread,
                           context=context)
print(done["messages"][-1].content)"""),
    ("md", "## 6. Unlink, and the pause comes back\nThe Management API removes the Google identity (and its token set)."),
    ("code", """from auth.management import ManagementClient

mgmt = ManagementClient(Settings())
print("unlinked:", await mgmt.unlink_connection(alice["user_id"], "google-oauth2"))
services.vault.invalidate(user, "google-oauth2")
again = await graph.ainvoke({"messages": [("user", "What's on my calendar tomorrow?")]},
                            {"configurable": {"thread_id": str(uuid.uuid4())}}, context=context)
print("paused again for:", AuthorizationRequest.from_json(again["__interrupt__"][0].value).connection)"""),
    ("code", """await receiver.stop(); await mgmt.aclose(); await services.aclose(); sandbox.stop()"""),
]

SERVER = [
    ("md", """# The agent behind `langgraph dev`

The same agent served by the LangGraph server: clients authenticate with an Auth0 access token, the run
pauses with the same interrupt, and the **server's own `/auth/callback`** completes the linking and resumes
the thread — the client only watches."""),
    ("code", """import os, asyncio, warnings
warnings.filterwarnings("ignore", category=FutureWarning)  # library notices, not part of this tour
from sandbox.runner import SandboxServer
from sandbox.langgraph_dev import LangGraphDev

sandbox = SandboxServer().start()
server = LangGraphDev(sandbox.env).start()   # langgraph dev --no-browser --no-reload on a free port
print("server:", server.url)"""),
    ("md", "## Connect as a user\nA client sends only its access token for the API audience (`AUTH0_AUDIENCE`), as any LangGraph client does."),
    ("code", """from langgraph_sdk import get_client

alice = sandbox.control.user_by_email("alice@example.com")
tokens = sandbox.control.session(alice["user_id"], audience=sandbox.env["AUTH0_AUDIENCE"])
client = get_client(url=server.url, headers={"Authorization": f"Bearer {tokens['access_token']}"})
thread = await client.threads.create()"""),
    ("md", "## Stream a run until it pauses"),
    ("code", """pauses = []
async for part in client.runs.stream(thread["thread_id"], "agent", stream_mode="updates",
                                     input={"messages": [{"role": "user", "content": "What's on my calendar tomorrow?"}]}):
    if part.event == "updates" and "__interrupt__" in (part.data or {}):
        pauses += part.data["__interrupt__"]
from tools.authorization import AuthorizationRequest

request = AuthorizationRequest.from_json(pauses[0]["value"])  # the typed interrupt value
print("paused for:", request.connection, request.scopes)"""),
    ("md", "## Authorize\nA person opens `authorize_url` — the server's own link page, which signs them in at the tenant and sends them on to the consent; the sandbox plays that part. The browser lands on the **server's** callback, which resumes the thread."),
    ("code", """import httpx

callback_url = sandbox.control.authorize(request.authorize_url, alice["user_id"], "approve")
page = httpx.get(callback_url, timeout=60)
import html, re
shown = " — ".join(html.unescape(re.sub(r"<[^>]+>", "", part)).strip()
                   for part in re.findall(r"<(?:h1|p)\\b[^>]*>(.*?)</(?:h1|p)>", page.text, re.S))
print(page.status_code, "— the browser shows:", shown)"""),
    ("code", """for _ in range(300):
    if (await client.threads.get(thread["thread_id"]))["status"] != "busy":
        break
    await asyncio.sleep(0.2)
state = await client.threads.get_state(thread["thread_id"])
print(state["values"]["messages"][-1]["content"])"""),
    ("code", """server.stop(); sandbox.stop()"""),
]

REAL = [
    ("md", """# Against a real Auth0 tenant and OpenAI

## Dashboard set-up (once)
1. **Application**: Applications › Create › *Regular Web Application*. Allowed Callback URLs:
   `http://127.0.0.1:8765/callback` (the CLI and this notebook) and your server's `/auth/callback`.
   Advanced › Grant Types: *Authorization Code*, *Refresh Token*, **Token Vault**. Turn **refresh token
   rotation off** (Token Vault's refresh-token exchange needs it).
2. **Connections**: enable `google-oauth2` (Calendar scopes, offline access) and `github` for the app,
   with Token Vault enabled on each connection.
3. **Management API**: a machine-to-machine app authorized for the Management API with `read:users`,
   `update:users` (and `create:users` for the Action's companion app).
4. **Account-linking Action** (post-login): create the Action from Auth0's client-initiated account
   linking guide, add its secrets `AUTH0_DOMAIN`, `AUTH0_CLIENT_ID`, `AUTH0_CLIENT_SECRET` (a companion
   Regular Web App with callback `https://YOUR_DOMAIN/continue` and Management API `update:users`),
   `ACTION_SECRET` (`uuidgen`); dependencies `auth0@4.21.0`, `openid-client@6.3.4`, `jose@6.0.10`,
   `@panva/hkdf@1.2.1`, `debug@4.4.0`; deploy it and drag it first into the post-login flow.
5. **API** (for the LangGraph server only): an API whose identifier you put in `AUTH0_AUDIENCE`.

## Environment
`AUTH0_DOMAIN`, `AUTH0_CLIENT_ID`, `AUTH0_CLIENT_SECRET`, `AUTH0_CALLBACK_URL`, `OPENAI_API_KEY`
(and optionally `AUTH0_MGMT_CLIENT_ID`/`SECRET`, `OPENAI_MODEL`, `OPENAI_BASE_URL`). Then log in once
with `vault-agent login`; this notebook uses that stored session."""),
    ("code", """import os

class TenantNotConfigured(Exception):
    \"\"\"Shown as one clear line instead of a traceback.\"\"\"
    def _render_traceback_(self):
        return [f"Stopped: {self}"]

missing = [name for name in ("AUTH0_DOMAIN", "AUTH0_CLIENT_ID", "AUTH0_CLIENT_SECRET", "OPENAI_API_KEY")
           if not os.environ.get(name)]
if missing or os.environ.get("SANDBOX_CONTROL_URL"):
    raise TenantNotConfigured("this notebook needs a real Auth0 tenant and OpenAI; missing: "
                              + (", ".join(missing) or "none, but SANDBOX_CONTROL_URL points at the sandbox")
                              + ". See the set-up steps above.")
print("tenant:", os.environ["AUTH0_DOMAIN"])"""),
    ("code", """import uuid
from langgraph.checkpoint.memory import InMemorySaver
from tools.context import Context
from agent.graph import build_graph
from tools.services import Services
from auth.session import SessionStore
from auth.settings import Settings

settings = Settings()
user = SessionStore(settings).load()
assert user is not None, "run `vault-agent login` first"
services = Services.create(settings)
graph = build_graph(checkpointer=InMemorySaver(), store=services.store)
context = Context(user=user, services=services)
thread = {"configurable": {"thread_id": str(uuid.uuid4())}}
result = await graph.ainvoke({"messages": [("user", "What's on my calendar tomorrow?")]}, thread, context=context)
result.get("__interrupt__") or result["messages"][-1].content"""),
    ("md", "If it paused, open the `authorize_url` above, allow access, paste the URL your browser landed on below, and run the next cell."),
    ("code", """from langgraph.types import Command
callback_url = input("URL the browser landed on: ")
linked = await services.linker(services.store).complete(callback_url)
from tools.authorization import resume_map
done = await graph.ainvoke(Command(resume=resume_map(result["__interrupt__"], linked.state, linked.status)),
                           thread, context=context)
print(done["messages"][-1].content)"""),
]


def write(name: str, cells: list[tuple[str, str]]) -> None:
    nb = new_notebook(cells=[new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, OUT / name)


if __name__ == "__main__":
    write("01_quickstart.ipynb", QUICKSTART)
    write("02_langgraph_server.ipynb", SERVER)
    write("03_real_tenant.ipynb", REAL)
