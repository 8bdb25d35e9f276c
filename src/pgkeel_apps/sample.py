"""Loading sample data for `make demo`: rows with COPY, as the schema owner."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import sql

from pgkeel.db import Database


def _copy_statement(schema: str, table: str, columns: Sequence[str]) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(schema, table), sql.SQL(", ").join(map(sql.Identifier, columns)))


async def copy_rows(db: Database, schema: str, table: str, columns: Sequence[str],
                    rows: Iterable[Sequence[Any]]) -> None:
    """COPY `rows` (tuples in `columns` order) into `schema.table`, in one transaction."""
    statement = _copy_statement(schema, table, columns)
    async with db.transaction() as tx:
        await tx.begin()
        async with tx.connection.cursor().copy(statement) as copy:
            for row in rows:
                await copy.write_row(row)


async def copy_text(db: Database, schema: str, table: str, columns: Sequence[str],
                    chunks: Iterable[str]) -> None:
    """COPY pre-formatted text (tab-separated lines, `\\N` for NULL) into `schema.table`, in
    one transaction: for the millions of rows where adapting each value would dominate."""
    statement = _copy_statement(schema, table, columns)
    async with db.transaction() as tx:
        await tx.begin()
        async with tx.connection.cursor().copy(statement) as copy:
            for chunk in chunks:
                await copy.write(chunk)
