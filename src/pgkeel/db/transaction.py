"""One database transaction on one pooled connection.

BEGIN, the per-transaction settings (timeouts and the request context) and the first query
travel together in one pipeline, so a transaction costs no extra round trip over the query
itself. A read-only transaction sent whole in one pipeline (`fetch_batch(commit=True)`, what
`Database.fetch_*` and repository reads use) needs no BEGIN and COMMIT at all: everything up to
the pipeline's Sync is one implicit transaction on the server, made read-only by the settings
statement. Errors are translated to `pgkeel.errors` here, at the driver boundary.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from typing import Any, LiteralString, TypeVar, overload

import psycopg
from psycopg import AsyncConnection, AsyncCursor, pq
from psycopg.abc import Params
from psycopg.abc import QueryNoTemplate as Query
from psycopg.rows import AsyncRowFactory, dict_row

from pgkeel.db import _queries
from pgkeel.db.context import DbContext
from pgkeel.db.oneshot import Statement, observe_statements, read_compiled
from pgkeel.errors import (
    CommitOutcomeUnknown,
    DatabaseError,
    PgkeelError,
    UsageError,
    is_connection_lost,
    translate,
)
from pgkeel.observe.querylog import QueryObserver

__all__ = ["Isolation", "Transaction", "CommitCallback", "Statement"]

log = logging.getLogger("pgkeel.db")

R = TypeVar("R")
CommitCallback = Callable[[], Awaitable[None] | None]


_READ_TAGS = frozenset({"SELECT", "SHOW", "EXPLAIN", "FETCH", "SET", "VALUES", "TABLE", ""})
"""Command tags of statements that change no data (a SELECT calling a writing function
is not seen; mark such transactions with `Database.transaction(...)` as usual)."""


_SESSION_TAGS = frozenset({"SET", "RESET"})


class Isolation(StrEnum):
    READ_COMMITTED = "read committed"
    REPEATABLE_READ = "repeatable read"
    SERIALIZABLE = "serializable"


_LEVELS: dict[Isolation | None, LiteralString] = {
    None: "",
    Isolation.READ_COMMITTED: " ISOLATION LEVEL READ COMMITTED",
    Isolation.REPEATABLE_READ: " ISOLATION LEVEL REPEATABLE READ",
    Isolation.SERIALIZABLE: " ISOLATION LEVEL SERIALIZABLE",
}
_BEGIN: dict[tuple[Isolation | None, bool], LiteralString] = {
    (level, readonly): "BEGIN" + text + (" READ ONLY" if readonly else "")
    for level, text in _LEVELS.items() for readonly in (False, True)
}


def _begin_statement(isolation: Isolation | None, readonly: bool) -> LiteralString:
    return _BEGIN[isolation, readonly]


class Transaction:
    """A transaction in progress. Obtain one from `Database.transaction()`."""

    def __init__(
        self,
        conn: AsyncConnection[Any],
        *,
        context: DbContext,
        isolation: Isolation | None = None,
        readonly: bool = False,
        statement_timeout_ms: int | None = None,
        lock_timeout_ms: int | None = None,
        on_connection_lost: Callable[[], None] | None = None,
        observer: QueryObserver | None = None,
    ) -> None:
        self._conn = conn
        self._observer = observer
        self.context = context
        self.pool_name = ""
        """Which pool served this transaction ("primary", "replica1", ...)."""
        self.readonly = readonly
        self._isolation = isolation
        self._begin = _begin_statement(isolation, readonly)
        self._timeouts = (None if statement_timeout_ms is None else str(statement_timeout_ms),
                          None if lock_timeout_ms is None else str(lock_timeout_ms))
        self._params: tuple[str | None, ...] | None = None
        self._on_connection_lost = on_connection_lost
        self._begun = False
        self._finished = False
        self.wrote = False
        """True once a statement's command tag shows a write (drives read-your-writes)."""
        self.session_changed = False
        """True once a statement's command tag was SET or RESET: it may have changed a
        session setting that would outlive the transaction, so the connection is reset to
        its defaults before it goes back to the pool."""
        self._callbacks: list[tuple[CommitCallback, bool]] = []

    @property
    def _settings_params(self) -> tuple[str | None, ...]:
        """The settings statement's parameters: the timeouts, then the context. Built when
        first sent: a read of a table the database reads no context for never needs them."""
        if self._params is None:
            self._params = (*self._timeouts, *self.context.values())
        return self._params

    # -- queries ---------------------------------------------------------------------------

    @property
    def connection(self) -> AsyncConnection[Any]:
        """The underlying psycopg connection, for COPY, LISTEN and the like.

        Call `await tx.begin()` first if the first thing you do is use it directly.
        """
        return self._conn

    async def begin(self) -> None:
        """Send BEGIN now rather than with the first query (rarely needed)."""
        if not self._begun:
            await self._guard(self._send_begin(None, None, None))

    async def execute(self, query: Query, params: Params | None = None) -> int:
        """Run a statement; return the number of rows it affected."""
        cursor = await self._run(query, params, None)
        return cursor.rowcount

    @overload
    async def fetch_all(self, query: Query, params: Params | None = None
                        ) -> list[dict[str, Any]]: ...
    @overload
    async def fetch_all(self, query: Query, params: Params | None = None, *,
                        row_factory: AsyncRowFactory[R]) -> list[R]: ...

    async def fetch_all(self, query: Query, params: Params | None = None, *,
                        row_factory: AsyncRowFactory[Any] = dict_row) -> list[Any]:
        """All rows, as dicts unless another psycopg row factory is given."""
        cursor = await self._run(query, params, row_factory)
        return await self._guard(cursor.fetchall())

    @overload
    async def fetch_one(self, query: Query, params: Params | None = None
                        ) -> dict[str, Any] | None: ...
    @overload
    async def fetch_one(self, query: Query, params: Params | None = None, *,
                        row_factory: AsyncRowFactory[R]) -> R | None: ...

    async def fetch_one(self, query: Query, params: Params | None = None, *,
                        row_factory: AsyncRowFactory[Any] = dict_row) -> Any:
        """The first row, or None."""
        cursor = await self._run(query, params, row_factory)
        return await self._guard(cursor.fetchone())

    async def fetch_val(self, query: Query, params: Params | None = None) -> Any:
        """The first column of the first row, or None."""
        cursor = await self._run(query, params, None)
        row = await self._guard(cursor.fetchone())
        return None if row is None else row[0]

    async def fetch_batch(
        self, statements: Sequence[Statement], *, commit: bool = False,
    ) -> list[list[Any]]:
        """Run several queries in one pipeline and return each one's rows.

        With `commit=True` on a read-only transaction the COMMIT travels in the same pipeline,
        so the whole transaction (BEGIN, settings, queries, COMMIT) costs one network round
        trip. A read-write transaction still commits on its own when its block ends: only
        then can a connection lost at COMMIT be told apart from one lost before it.
        """
        if self._finished:
            raise UsageError("The transaction is already finished.")
        commit = commit and self.readonly
        cursors = [self._conn.cursor(row_factory=rf) if rf else self._conn.cursor()
                   for _, _, rf in statements]
        first = not self._begun
        # Sent whole, a read-only transaction at the session's isolation level is the
        # pipeline's implicit transaction: the settings statement makes it read-only, the
        # Sync that ends the pipeline ends it. Two statements fewer than BEGIN ... COMMIT,
        # which the profile of a one-row read showed as a third of its client-side cost.
        implicit = first and commit and self._isolation is None
        self._begun = True
        started = time.perf_counter()
        try:
            async with self._conn.pipeline():
                if implicit:
                    await self._conn.execute(_queries.SET_READONLY_TRANSACTION_CONTEXT,
                                             self._settings_params)
                elif first:
                    await self._conn.execute(self._begin)
                    await self._conn.execute(_queries.SET_TRANSACTION_CONTEXT,
                                             self._settings_params)
                for cursor, (query, params, _) in zip(cursors, statements, strict=True):
                    await cursor.execute(query, params)
                if commit and not implicit:
                    await self._conn.execute("COMMIT")
        except (psycopg.Error, UnicodeEncodeError) as exc:
            if is_connection_lost(exc) and self._on_connection_lost:
                self._on_connection_lost()
            error = translate(exc)
            self._observe_batch(statements, started, error.code)
            raise error from exc
        self._observe_batch(statements, started, None)
        if commit:
            self._finished = True
        for cursor in cursors:
            self._note_write(cursor)
        return [await self._guard(cursor.fetchall()) for cursor in cursors]

    async def read_compiled(self, statements: Sequence[Statement], *,
                            context: bool) -> list[list[Any]]:
        """A one-shot read of compiled SELECTs (repository reads): the whole transaction.

        The SELECTs are read-only by construction, so `transaction_read_only` is not sent;
        the timeouts are the connection's defaults. With `context` (the table's row-level
        security reads it) the context travels in the same pipeline, ahead of the reads, as
        the pipeline's implicit transaction, so it ends with them; without it a single read
        is one plain statement.
        """
        if self._begun or self._finished or self._isolation is not None:
            raise UsageError("read_compiled() is a whole transaction of its own.")
        self._begun = self._finished = True
        return await read_compiled(self._conn, statements,
                                   self._settings_params[2:] if context else None,
                                   observer=self._observer, pool_name=self.pool_name,
                                   on_connection_lost=self._on_connection_lost)

    async def execute_many(self, query: Query, params_seq: Sequence[Params]) -> None:
        """Run one statement for each parameter set, pipelined."""
        await self.begin()
        cursor = self._conn.cursor()
        await self._guard(cursor.executemany(query, params_seq))

    # -- commit hooks ----------------------------------------------------------------------

    def on_commit(self, callback: CommitCallback, *, if_unknown: bool = False) -> None:
        """Run `callback` once this transaction has committed; never if it rolls back.

        `if_unknown=True` also runs it when the connection is lost during COMMIT and nobody
        knows whether the change landed (`CommitOutcomeUnknown`): right for work that is safe
        to do needlessly, such as invalidating a cache, and wrong for anything else.
        """
        if self._finished:
            raise UsageError("on_commit() called on a finished transaction.")
        self._callbacks.append((callback, if_unknown))

    # -- driven by Database ----------------------------------------------------------------

    async def _run(
        self, query: Query, params: Params | None, row_factory: AsyncRowFactory[Any] | None,
    ) -> AsyncCursor[Any]:
        if self._finished:
            raise UsageError("The transaction is already finished.")
        started = time.perf_counter()
        error: str | None = None
        try:
            if not self._begun:
                cursor = await self._guard(self._send_begin(query, params, row_factory))
            else:
                cursor = (self._conn.cursor(row_factory=row_factory) if row_factory
                          else self._conn.cursor())
                await self._guard(cursor.execute(query, params))
        except PgkeelError as exc:
            error = exc.code
            raise
        finally:
            if self._observer is not None:
                self._observer.record(query, params, time.perf_counter() - started,
                                      error=error, pool=self.pool_name)
        self._note_write(cursor)
        return cursor

    def _observe_batch(self, statements: Sequence[Statement], started: float,
                       error: str | None) -> None:
        observe_statements(self._observer, statements, started, error, self.pool_name)

    def _note_write(self, cursor: AsyncCursor[Any]) -> None:
        tag = (cursor.statusmessage or "").split(" ", 1)[0]
        if tag in _SESSION_TAGS:
            self.session_changed = True
        if not self.wrote and not self.readonly:
            self.wrote = tag not in _READ_TAGS

    async def _send_begin(
        self, query: Query | None, params: Params | None,
        row_factory: AsyncRowFactory[Any] | None,
    ) -> AsyncCursor[Any]:
        """BEGIN + settings (+ the first query) in one pipeline: one network round trip."""
        self._begun = True
        cursor = (self._conn.cursor(row_factory=row_factory) if row_factory
                  else self._conn.cursor())
        # A statement without parameters may be a script of several statements, which only
        # the simple query protocol accepts -- so it cannot join the pipeline.
        pipelined = query is not None and params is not None
        async with self._conn.pipeline():
            await self._conn.execute(self._begin)
            await self._conn.execute(_queries.SET_TRANSACTION_CONTEXT, self._settings_params)
            if query is not None and pipelined:
                await cursor.execute(query, params)
        if query is not None and not pipelined:
            await cursor.execute(query)
        return cursor

    async def _guard(self, operation: Awaitable[R]) -> R:
        """Await a driver call, translating its errors."""
        try:
            return await operation
        except (psycopg.Error, UnicodeEncodeError) as exc:
            if is_connection_lost(exc) and self._on_connection_lost:
                self._on_connection_lost()
            raise translate(exc) from exc

    async def _commit(self) -> None:
        if self._finished:  # committed inside a fetch_batch(commit=True)
            return
        self._finished = True
        if not self._begun:
            return
        status = self._conn.info.transaction_status
        if status == pq.TransactionStatus.INERROR:
            await self._rollback()
            raise DatabaseError(
                "The transaction was aborted by an earlier error and has been rolled back.",
                hint="Do not swallow database errors inside a transaction block.")
        try:
            await self._conn.execute("COMMIT")
        except psycopg.Error as exc:
            if is_connection_lost(exc) or exc.sqlstate in {"08007", "40003"}:
                if self._on_connection_lost:
                    self._on_connection_lost()
                raise CommitOutcomeUnknown(
                    "The connection was lost during COMMIT; the change may or may not be "
                    "applied.", sqlstate=exc.sqlstate,
                    hint="Repeat it only with the same idempotency key, or check whether "
                         "the change is present first.") from exc
            raise translate(exc) from exc

    async def _rollback(self) -> None:
        self._finished = True
        self._callbacks.clear()
        if not self._begun or self._conn.closed:
            return
        if self._conn.info.transaction_status == pq.TransactionStatus.IDLE:
            return
        try:
            await self._conn.execute("ROLLBACK")
        except psycopg.Error:
            # The connection is unusable; closing it makes the pool discard it.
            await self._conn.close()

    async def _run_commit_callbacks(self, *, outcome_unknown: bool = False) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for callback, if_unknown in callbacks:
            if outcome_unknown and not if_unknown:
                continue
            try:
                result = callback()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("on_commit callback %r failed", callback)
