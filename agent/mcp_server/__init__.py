"""`vault-agent mcp`: the Calendar and GitHub tools for any MCP client (streamable HTTP).

The server is an OAuth protected resource (`resource.py`): every request carries the user's Auth0 access
token for this server's URL. A tool call whose connection is not linked answers with URL-mode
elicitation (`elicitation.py`); the server hosts the pages the user is sent to, completes the linking and
tells the client (`notifications/elicitation/complete`) so it retries. `tools.py` runs the same tools the
agent uses, `app.py` assembles it all.
"""
