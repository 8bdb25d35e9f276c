"""Reads that are a whole implicit transaction of their own: no BEGIN, no COMMIT, no
`transaction_read_only` (compiled SELECTs are read-only by construction), the timeouts the
connection's defaults. `Database.read_compiled` runs them on a pooled connection without a
`Transaction`; `Transaction.read_compiled` runs them inside one that is never begun."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.abc import Params
from psycopg.abc import QueryNoTemplate as Query
from psycopg.rows import AsyncRowFactory

from pgkeel.db import _queries
from pgkeel.errors import is_connection_lost, translate
from pgkeel.observe.querylog import QueryObserver

__all__ = ["Statement", "is_select", "observe_statements", "read_compiled"]

Statement = tuple[Query, Params | None, AsyncRowFactory[Any] | None]
"""(query, params, row factory or None for tuples) -- one query of a `fetch_batch`."""


async def read_compiled(conn: AsyncConnection[Any], statements: Sequence[Statement],
                        context: Sequence[str | None] | None, *,
                        observer: QueryObserver | None, pool_name: str,
                        on_connection_lost: Callable[[], None] | None) -> list[list[Any]]:
    """Compiled SELECTs on `conn` as one implicit transaction: one plain statement when
    there is a single read and no context, else one pipeline with `SET_CONTEXT` (`context`
    holds its values when the table's row-level security reads them) ahead of the reads."""
    started = time.perf_counter()
    try:
        if context is None and len(statements) == 1:
            query, params, row_factory = statements[0]
            cursor = conn.cursor(row_factory=row_factory) if row_factory else conn.cursor()
            await cursor.execute(query, params)
            rows = [await cursor.fetchall()]
        else:
            cursors = [conn.cursor(row_factory=rf) if rf else conn.cursor()
                       for _, _, rf in statements]
            async with conn.pipeline():
                if context is not None:
                    await conn.execute(_queries.SET_CONTEXT, context)
                for cursor, (query, params, _) in zip(cursors, statements, strict=True):
                    await cursor.execute(query, params)
            rows = [await cursor.fetchall() for cursor in cursors]
    except (psycopg.Error, UnicodeEncodeError) as exc:
        if is_connection_lost(exc) and on_connection_lost:
            on_connection_lost()
        error = translate(exc)
        observe_statements(observer, statements, started, error.code, pool_name)
        raise error from exc
    observe_statements(observer, statements, started, None, pool_name)
    return rows


def observe_statements(observer: QueryObserver | None, statements: Sequence[Statement],
                       started: float, error: str | None, pool_name: str) -> None:
    """Pipelined statements share one timing: each is recorded with the batch's."""
    if observer is not None:
        elapsed = time.perf_counter() - started
        for query, params, _ in statements:
            observer.record(query, params, elapsed, error=error, pool=pool_name)


def is_select(query: Query) -> bool:
    """Whether `query` starts with SELECT (after blanks and `--` comments)."""
    text = (query.as_string(None) if isinstance(query, sql.Composable)
            else query.decode() if isinstance(query, bytes) else str(query))
    text = text.lstrip()
    while text.startswith("--"):
        text = text.partition("\n")[2].lstrip()
    return text[:6].upper() == "SELECT"
