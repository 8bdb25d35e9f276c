"""Fixtures for the migration tests: a migration directory in tmp_path, a Migrator on a fresh
schema of the run's database, and catalog snapshots for comparing schemas."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from pgkeel.db import Database
from pgkeel.migrate import Migrator


class Files:
    """A migration directory: `files.write("V1__x.sql", sql)` (dedented)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, text: str, *, raw: bytes | None = None) -> Path:
        path = self.root / name
        if raw is not None:
            path.write_bytes(raw)
        else:
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def remove(self, name: str) -> None:
        (self.root / name).unlink()


@pytest.fixture
def files(tmp_path: Path) -> Files:
    return Files(tmp_path / "migrations")


def make_migrator(db: Database, files: Files, schema: str, **options: object) -> Migrator:
    """Fast-failing defaults so lock waits and retries never slow the suite."""
    defaults: dict[str, object] = {"lock_timeout_ms": 2000, "retry_base_delay_s": 0.01,
                                   "wait_s": 10.0}
    return Migrator(db, files.root, schema=schema, **{**defaults, **options})  # type: ignore[arg-type]


@pytest.fixture
def migrator(pgkeel_db: Database, files: Files, pgkeel_schema: str) -> Migrator:
    return make_migrator(pgkeel_db, files, pgkeel_schema)


@pytest.fixture
async def aconn(pgkeel_database_url: str) -> AsyncIterator[psycopg.AsyncConnection[object]]:
    """An autocommit async connection for checks and for playing another session."""
    conn = await psycopg.AsyncConnection.connect(pgkeel_database_url, autocommit=True)
    try:
        yield conn
    finally:
        await conn.close()


async def fetch(conn: psycopg.AsyncConnection[object], query: str,
                params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    cursor = await conn.execute(query.encode(), params or None)
    return await cursor.fetchall()  # type: ignore[return-value]


CATALOG = """
SELECT 'column', c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || COALESCE(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = %(s)s AND c.relname <> 'pgkeel_schema_history'
  AND c.relkind IN ('r', 'p', 'v', 'm')
UNION ALL
SELECT 'index', indexdef FROM pg_indexes
WHERE schemaname = %(s)s AND tablename <> 'pgkeel_schema_history'
UNION ALL
SELECT 'constraint', conrelid::regclass::text || ' ' || conname || ' '
       || pg_get_constraintdef(oid)
FROM pg_constraint
WHERE connamespace = %(s)s::regnamespace
  AND conrelid::regclass::text NOT LIKE '%%pgkeel_schema_history'
UNION ALL
SELECT 'view', viewname || ' ' || definition FROM pg_views WHERE schemaname = %(s)s
UNION ALL
SELECT 'function', p.proname || '(' || pg_get_function_arguments(p.oid) || ') '
       || md5(p.prosrc)
FROM pg_proc p WHERE p.pronamespace = %(s)s::regnamespace
UNION ALL
SELECT 'sequence', sequencename FROM pg_sequences WHERE schemaname = %(s)s
ORDER BY 1, 2
"""


async def catalog(conn: psycopg.AsyncConnection[object], schema: str) -> list[tuple[object, ...]]:
    """Every column, index, constraint, view, function and sequence of `schema`."""
    cursor = await conn.execute(CATALOG, {"s": schema})
    return await cursor.fetchall()  # type: ignore[return-value]


async def history(conn: psycopg.AsyncConnection[object], schema: str) -> list[tuple[object, ...]]:
    """(version, type, script, success, statements_applied) per history row, in rank order."""
    query = psycopg.sql.SQL(
        "SELECT version, type, script, success, statements_applied FROM {} "
        "ORDER BY installed_rank").format(psycopg.sql.Identifier(schema, "pgkeel_schema_history"))
    cursor = await conn.execute(query)
    return await cursor.fetchall()  # type: ignore[return-value]
