"""A fresh PostgreSQL database per test session (several people may share the server)."""

from __future__ import annotations

import os
import secrets

import pytest

ADMIN_URL = os.environ.get("VAULT_AGENT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def postgres_url():
    import psycopg

    name = "vault_agent_" + secrets.token_hex(4)
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("VAULT_AGENT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here (VAULT_AGENT_REQUIRE_POSTGRES=1) but {ADMIN_URL} "
                        f"is not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {ADMIN_URL} (set VAULT_AGENT_TEST_PG): {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()
