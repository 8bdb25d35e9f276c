"""A `people` table with duplicate and NULL sort values, in two organizations."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from pgkeel.repo import (
    CountMode,
    CursorCodec,
    CustomFilter,
    Field,
    FieldType,
    Op,
    Repository,
    Search,
    Table,
)
from pgkeel.repo.fields import COMPARABLE, TEXTUAL

ORG_A = uuid.UUID("00000000-0000-0000-0000-00000000000a")
ORG_B = uuid.UUID("00000000-0000-0000-0000-00000000000b")


def people_table(schema: str) -> Table:
    return Table(schema, "people", [
        Field("id", FieldType.INT, filter=COMPARABLE, sort=True, nullable=False,
              writable=False),
        Field("org_id", FieldType.UUID, nullable=False),
        Field("name", FieldType.TEXT, filter=TEXTUAL, sort=True, search=Search.ILIKE,
              nullable=False),
        Field("team", FieldType.TEXT, filter=(*TEXTUAL, Op.IS), sort=True),
        Field("score", FieldType.INT, filter=(*COMPARABLE, Op.IS), sort=True),
        Field("active", FieldType.BOOL, filter=(Op.EQ,), nullable=False),
        Field("secret", FieldType.TEXT, sensitive=True),
        Field("created_at", FieldType.TIMESTAMPTZ, filter=COMPARABLE, sort=True,
              nullable=False, writable=False),
        Field("deleted_at", FieldType.TIMESTAMPTZ, writable=False),
        Field("version", FieldType.INT, nullable=False, writable=False),
    ], tenant="org_id", soft_delete="deleted_at", version="version",
        default_sort=("-created_at",), page_size=5, max_page_size=50, count=CountMode.EXACT,
        count_threshold=10,
        custom_filters=[CustomFilter("tagged", FieldType.TEXT,
                                     "EXISTS (SELECT 1 FROM unnest(ARRAY['x','y']) AS g(v) "
                                     "WHERE g.v = %s AND t.team IS NOT NULL)")])


@pytest.fixture
def people(sync_conn: psycopg.Connection, pgkeel_schema: str, pgkeel_db) -> Repository:
    table = sql.Identifier(pgkeel_schema, "people")
    sync_conn.execute(sql.SQL("""
        CREATE TABLE {t} (
            id serial PRIMARY KEY, org_id uuid NOT NULL, name text NOT NULL, team text,
            score int, active boolean NOT NULL DEFAULT true, secret text,
            created_at timestamptz NOT NULL DEFAULT now(), deleted_at timestamptz,
            version int NOT NULL DEFAULT 1);
        CREATE INDEX ON {t} (org_id, created_at);
    """).format(t=table))
    rows = []
    teams = ["red", "blue", None]
    for i in range(1, 31):
        rows.append((ORG_A, f"person {i:02d}", teams[i % 3], None if i % 4 == 0 else i % 5,
                     i % 2 == 0, f"s{i}", f"2024-01-{(i % 10) + 1:02d}T00:00:00Z"))
    for i in range(1, 6):
        rows.append((ORG_B, f"other {i}", "red", i, True, "x", "2024-02-01T00:00:00Z"))
    with sync_conn.cursor() as cur:
        cur.executemany(sql.SQL(
            "INSERT INTO {} (org_id, name, team, score, active, secret, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)").format(table), rows)
    return Repository(pgkeel_db, people_table(pgkeel_schema),
                      cursor_codec=CursorCodec(b"0123456789abcdef-test-secret"))
