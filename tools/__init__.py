"""LangChain tools that act on the user's behalf with provider tokens from Auth0 Token Vault."""
