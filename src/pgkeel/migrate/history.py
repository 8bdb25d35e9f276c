"""The `pgkeel_schema_history` table of one migration set (in the set's schema).

Rows are appended, never rewritten, except that `repair` may delete failed rows and realign a
checksum, and says so in a REPAIR row. A run of a file outside a transaction updates its own row
as each statement succeeds (`statements_applied`, plus a checksum of the statements run so
far), which is what lets a re-run resume exactly where the last one stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, LiteralString

from psycopg import AsyncConnection, sql
from psycopg.rows import tuple_row

from pgkeel.migrate import _queries as q
from pgkeel.migrate.versions import Version

__all__ = ["History", "HistoryRow", "RowType"]


class RowType(StrEnum):
    SQL = "SQL"                  # a versioned migration was applied
    UNDO = "UNDO"                # a versioned migration was undone by its U file
    REPEATABLE = "REPEATABLE"    # a repeatable migration was (re-)applied
    BASELINE = "BASELINE"        # versions up to this one count as applied
    DELETE = "DELETE"            # `repair` forgot an applied version whose file is gone
    REPAIR = "REPAIR"            # `repair` changed the history (an audit note)


@dataclass(frozen=True)
class HistoryRow:
    """One row of `pgkeel_schema_history`."""

    installed_rank: int
    version: Version | None
    description: str
    type: RowType
    script: str
    checksum: str | None
    checksum_algo: str | None
    installed_by: str
    installed_on: datetime
    execution_ms: int
    success: bool
    statements_applied: int
    statements_total: int
    applied_checksum: str | None
    transactional: bool
    error: str | None

    @property
    def changed_something(self) -> bool:
        """False for a failure that left nothing behind (rolled back, or stopped before its
        first statement succeeded)."""
        return self.success or (not self.transactional and self.statements_applied > 0)


class History:
    """Reads and appends `pgkeel_schema_history` rows in `schema` on a given connection."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.schema_id = sql.Identifier(schema)
        self.table = sql.Identifier(schema, q.HISTORY_TABLE)

    def _sql(self, template: LiteralString) -> sql.Composed:
        return sql.SQL(template).format(table=self.table, schema=self.schema_id)

    async def exists(self, conn: AsyncConnection[Any]) -> bool:
        cursor = await conn.execute(q.HISTORY_EXISTS, (self.schema, q.HISTORY_TABLE))
        row = await cursor.fetchone()
        return bool(row and row[0])

    def create_statements(self) -> list[sql.Composed]:
        """CREATE SCHEMA / TABLE IF NOT EXISTS for the set's schema and history table."""
        return [self._sql(q.CREATE_SCHEMA), self._sql(q.CREATE_HISTORY),
                self._sql(q.COMMENT_HISTORY)]

    async def ensure(self, conn: AsyncConnection[Any]) -> None:
        """Create the schema and the history table unless they exist."""
        if await self.exists(conn):
            return
        async with conn.transaction():
            for statement in self.create_statements():
                await conn.execute(statement)

    async def drop_schema(self, conn: AsyncConnection[Any]) -> None:
        """DROP SCHEMA ... CASCADE: every object of the set, and its history."""
        await conn.execute(self._sql(q.DROP_SCHEMA))

    async def rows(self, conn: AsyncConnection[Any]) -> list[HistoryRow]:
        """Every row in rank order; none when the table does not exist yet."""
        if not await self.exists(conn):
            return []
        cursor = conn.cursor(row_factory=tuple_row)
        await cursor.execute(self._sql(q.SELECT_HISTORY))
        return [_to_row(values) for values in await cursor.fetchall()]

    def insert_query(self) -> sql.Composed:
        return self._sql(q.INSERT_HISTORY)

    def progress_query(self) -> sql.Composed:
        return self._sql(q.UPDATE_PROGRESS)

    async def insert(self, conn: AsyncConnection[Any], params: dict[str, Any]) -> int:
        """Append a row (see `row_params`); return its installed_rank."""
        cursor = await conn.execute(self.insert_query(), params)
        row = await cursor.fetchone()
        assert row is not None
        return int(row[0])

    async def update_progress(self, conn: AsyncConnection[Any], params: dict[str, Any]) -> None:
        await conn.execute(self.progress_query(), params)

    async def update_checksum(self, conn: AsyncConnection[Any], rank: int, checksum: str,
                              algo: str) -> None:
        await conn.execute(self._sql(q.UPDATE_CHECKSUM), (checksum, algo, rank))

    async def delete(self, conn: AsyncConnection[Any], ranks: list[int]) -> None:
        await conn.execute(self._sql(q.DELETE_HISTORY_ROWS), (ranks,))


def row_params(
    *, version: Version | None, description: str, row_type: RowType, script: str,
    checksum: str | None = None, checksum_algo: str | None = None, execution_ms: int = 0,
    success: bool = True, statements_applied: int = 0, statements_total: int = 0,
    applied_checksum: str | None = None, transactional: bool = True, error: str | None = None,
) -> dict[str, Any]:
    """The parameters of one INSERT_HISTORY."""
    return {
        "version": None if version is None else str(version), "description": description,
        "type": row_type.value, "script": script, "checksum": checksum,
        "checksum_algo": checksum_algo, "execution_ms": execution_ms, "success": success,
        "statements_applied": statements_applied, "statements_total": statements_total,
        "applied_checksum": applied_checksum, "transactional": transactional, "error": error,
    }


def _to_row(values: tuple[Any, ...]) -> HistoryRow:
    (rank, version, description, type_, script, checksum, algo, installed_by, installed_on,
     execution_ms, success, applied, total, applied_checksum, transactional, error) = values
    return HistoryRow(
        installed_rank=rank, version=None if version is None else Version.parse(version),
        description=description, type=RowType(type_), script=script, checksum=checksum,
        checksum_algo=algo, installed_by=installed_by, installed_on=installed_on,
        execution_ms=execution_ms, success=success, statements_applied=applied,
        statements_total=total, applied_checksum=applied_checksum,
        transactional=transactional, error=error)
