"""Auth0 side of vault-agent: configuration, Token Vault exchange, account linking, Management API,
user sessions. Imports nothing from `tools/`, `agent/` or `sandbox/`."""
