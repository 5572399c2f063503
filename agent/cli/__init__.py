"""The `vault-agent` command line: chat, login, connections, threads, sandbox."""
