"""The chain and the append-only guard trust no client-settable state: a session can neither
choose its rows' chain positions and hashes nor lift the guard with a setting. Run as an
ordinary role, granted what an application role is granted on the audit log (and UPDATE and
DELETE, so that it is the guard, not a missing privilege, that refuses)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

FORGED_HASH = "ab" * 32


@pytest.fixture
def client(audit_installed, pgkeel_database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection acting as a fresh non-superuser role (SET ROLE)."""
    role = f"pgkt_forger_{secrets.token_hex(4)}"
    ident = sql.Identifier(role)
    with psycopg.connect(pgkeel_database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} NOLOGIN NOBYPASSRLS").format(ident))
        admin.execute(sql.SQL("GRANT USAGE ON SCHEMA audit TO {}").format(ident))
        admin.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON audit.audit_log TO {}")
                      .format(ident))
        with psycopg.connect(pgkeel_database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("SET ROLE {}").format(ident))
            yield conn
        admin.execute(sql.SQL("DROP OWNED BY {}").format(ident))
        admin.execute(sql.SQL("DROP ROLE {}").format(ident))


def _write(conn: psycopg.Connection[Any], org: str, state: str | None) -> None:
    """One audit row in its own transaction, with `pgkeel_audit.chain` set to `state`."""
    with conn.transaction():
        conn.execute("SELECT set_config('pgkeel.org_id', %s, true)", (org,))
        if state is not None:
            conn.execute("SELECT set_config('pgkeel_audit.chain', %s, true)", (state,))
        conn.execute("INSERT INTO audit.audit_log (organization_id, action, entity_type) "
                     "VALUES (%s, 'x.forged', 'Thing')", (org,))


def _chain(sync_conn: psycopg.Connection[Any], org: str) -> list[tuple[Any, ...]]:
    return sync_conn.execute(
        "SELECT seq, encode(prev_hash, 'hex'), encode(hash, 'hex') FROM audit.chain "
        "WHERE organization_id = %s ORDER BY seq", (org,)).fetchall()


async def test_a_client_cannot_choose_seq_or_prev_hash(audit, client, sync_conn, org):
    _write(client, org, None)
    tag = sync_conn.execute("SELECT md5(%s)", (org,)).fetchone()[0]
    forged = [
        f"{tag}:1000:{FORGED_HASH}",                  # the old, unsealed form
        f"{tag}:1000:{FORGED_HASH}:{'00' * 32}",      # a made-up seal
    ]
    for state in forged:
        _write(client, org, state)
    # A genuine state from another transaction does not carry over either.
    with client.transaction():
        client.execute("SELECT set_config('pgkeel.org_id', %s, true)", (org,))
        client.execute("SET CONSTRAINTS ALL IMMEDIATE")
        client.execute("INSERT INTO audit.audit_log (organization_id, action, entity_type) "
                       "VALUES (%s, 'x.forged', 'Thing')", (org,))
        sealed = client.execute("SELECT current_setting('pgkeel_audit.chain')").fetchone()[0]
    assert sealed.count(":") == 3
    parts = sealed.split(":")
    _write(client, org, ":".join([parts[0], "1000", *parts[2:]]))   # its seal no longer fits
    _write(client, org, sealed)
    chain = _chain(sync_conn, org)
    assert [row[0] for row in chain] == [1, 2, 3, 4, 5, 6]
    assert all(chain[i][1] == chain[i - 1][2] for i in range(1, len(chain)))
    assert FORGED_HASH not in {row[1] for row in chain}
    assert (await audit.verify(org_id=org)).ok


def test_the_maintenance_setting_does_not_lift_the_guard(audit, client, org):
    _write(client, org, None)
    for statement in ("DELETE FROM audit.audit_log WHERE organization_id = %s",
                      "UPDATE audit.audit_log SET action = 'x' WHERE organization_id = %s"):
        with pytest.raises(errors.InsufficientPrivilege, match="append-only"), \
                client.transaction():
            client.execute("SELECT set_config('pgkeel.org_id', %s, true)", (org,))
            client.execute("SET LOCAL pgkeel.audit_maintenance = on")
            client.execute(statement, (org,))
    with client.transaction():
        client.execute("SELECT set_config('pgkeel.org_id', %s, true)", (org,))
        assert client.execute("SELECT count(*) FROM audit.audit_log").fetchone() == (1,)


def test_the_owner_keeps_maintenance(audit, sync_conn, org):
    """Maintenance is granted to a role -- the audit schema's owner -- not to a setting."""
    sync_conn.execute("INSERT INTO audit.audit_log (organization_id, action, entity_type) "
                      "VALUES (%s, 'x.kept', 'Thing')", (org,))
    with sync_conn.transaction():
        sync_conn.execute("SET LOCAL pgkeel.audit_maintenance = on")
        deleted = sync_conn.execute("DELETE FROM audit.audit_log WHERE organization_id = %s",
                                    (org,)).rowcount
    assert deleted == 1
