"""`pgkeel_streaming_replica` is a hot standby of the test server itself: the session's
database is there, a write to it arrives, and the standby holds a replication slot of its
own on the server (dropped when the session ends)."""

from __future__ import annotations

import secrets

import psycopg
import pytest
from psycopg import sql

from pgkeel.testing import StreamingReplica

pytestmark = pytest.mark.timeout(300)

SLOT = "SELECT active FROM pg_replication_slots WHERE slot_name = %s"


def test_the_standby_is_a_copy_of_the_test_server(
        pgkeel_streaming_replica: StreamingReplica, pgkeel_database_url: str):
    pair = pgkeel_streaming_replica
    if not pair.of_server:
        pytest.skip(pair.fallback_reason or "a private primary")
    assert pair.primary_url == pgkeel_database_url
    table = sql.Identifier(f"replica_probe_{secrets.token_hex(4)}")
    with psycopg.connect(pair.primary_url, autocommit=True) as primary:
        primary.execute(sql.SQL("CREATE TABLE {} (label text)").format(table))
        primary.execute(sql.SQL("INSERT INTO {} VALUES ('written on the primary')")
                        .format(table))
        assert primary.execute(SLOT, (pair.slot,)).fetchone() == (True,)
    try:
        pair.wait_caught_up()
        with psycopg.connect(pair.standby_url, autocommit=True) as standby:
            assert standby.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
            assert standby.execute(sql.SQL("SELECT label FROM {}").format(table)
                                   ).fetchall() == [("written on the primary",)]
    finally:
        with psycopg.connect(pair.primary_url, autocommit=True) as primary:
            primary.execute(sql.SQL("DROP TABLE {}").format(table))
