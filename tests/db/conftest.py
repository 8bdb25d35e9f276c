"""Fixtures shared by the database-core tests."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql


@pytest.fixture
def items(sync_conn: psycopg.Connection, pgkeel_schema: str) -> sql.Composed:
    """An empty `items (id serial, label text)` table in the test's own schema."""
    table = sql.Identifier(pgkeel_schema, "items")
    sync_conn.execute(sql.SQL("CREATE TABLE {} (id serial PRIMARY KEY, label text)").format(
        table))
    return sql.SQL("{}").format(table)
