"""`Database`: the primary pool, optional replica pools, transactions and retries.

    db = Database.from_settings(settings)
    async with db:
        async with db.transaction() as tx:
            await tx.execute("UPDATE ...", (...))
            tx.on_commit(lambda: print("committed"))
        total = await db.run_in_tx(transfer, retries=5, isolation=Isolation.SERIALIZABLE)
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, overload

from psycopg import AsyncConnection
from psycopg.abc import Params
from psycopg.abc import QueryNoTemplate as Query
from psycopg.rows import AsyncRowFactory, dict_row

from pgkeel.config import Settings, redact_dsn
from pgkeel.db import _queries
from pgkeel.db.context import current_context, reads_need_primary
from pgkeel.db.oneshot import Statement, is_select, read_compiled
from pgkeel.db.pools import Pools
from pgkeel.db.retry import RetryPolicy
from pgkeel.db.transaction import Isolation, Transaction
from pgkeel.errors import (
    CommitOutcomeUnknown,
    DatabaseUnavailable,
    UsageError,
)
from pgkeel.observe import tracing
from pgkeel.observe.metrics import track_database
from pgkeel.observe.querylog import QueryObserver, SlowQuery

__all__ = ["Database", "PingResult"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class PingResult:
    """What `Database.ping()` measured."""

    ok: bool
    latency_ms: float
    server_version: int
    in_recovery: bool
    pools: dict[str, dict[str, int]]


class Database:
    """A primary connection pool plus optional read replicas."""

    def __init__(
        self,
        url: str,
        *,
        replica_urls: tuple[str, ...] | list[str] = (),
        min_size: int = 2,
        max_size: int = 10,
        pool_timeout_s: float = 10.0,
        connect_timeout_s: float = 2.0,
        statement_timeout_ms: int = 30_000,
        replica_max_lag_s: float = 5.0,
        reconnect_timeout_s: float = 5.0,
        sslmode: str | None = None,
        application_name: str = "pgkeel",
        retry: RetryPolicy | None = None,
        prepare_threshold: int | None = 5,
        name: str = "primary",
        slow_query_ms: float = 300.0,
        trace: bool = False,
        trace_params: bool = False,
        always_send_context: bool = False,
        transaction_pooler: bool = False,
    ) -> None:
        self.url = redact_dsn(url)
        self.settings: Settings | None = None
        """The settings this Database was made from (`from_settings`), for components that
        take their defaults from them (such as a repository's cursor secret)."""
        self.statement_timeout_ms = statement_timeout_ms
        self.connect_timeout_s = connect_timeout_s
        self.pool_timeout_s = pool_timeout_s
        self.retry = retry or RetryPolicy()
        self.transaction_pooler = transaction_pooler
        """Behind a transaction-mode pooler: no session state (no prepared statements, no
        per-connection defaults); every transaction sends its statement timeout."""
        if transaction_pooler:
            prepare_threshold = None
        self.always_send_context = always_send_context
        """Send the request context with every read, as writes always do: for databases whose
        own functions or views read `pgkeel.org_id` where row-level security does not."""
        self._reads_context: dict[str, bool] = {}
        self.observer = QueryObserver(slow_ms=slow_query_ms, trace=trace,
                                      trace_params=trace_params)
        connect_kwargs: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": max(2, math.ceil(connect_timeout_s)),
            "application_name": application_name,
            "prepare_threshold": prepare_threshold,
        }
        if sslmode:
            connect_kwargs["sslmode"] = sslmode
        self._pools = Pools(
            url, redacted_url=self.url, replica_urls=replica_urls, name=name,
            min_size=min_size, max_size=max_size, pool_timeout_s=pool_timeout_s,
            connect_timeout_s=connect_timeout_s, reconnect_timeout_s=reconnect_timeout_s,
            replica_max_lag_s=replica_max_lag_s, statement_timeout_ms=statement_timeout_ms,
            transaction_pooler=transaction_pooler, connect_kwargs=connect_kwargs)
        track_database(self)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> Database:
        if settings.database_url is None:
            raise UsageError("DATABASE_URL is not set.",
                             hint="Use EmbeddedServers.for_settings() to fill it in.")
        options: dict[str, Any] = {
            "replica_urls": settings.database_replica_urls,
            "min_size": settings.db_pool_min_size,
            "max_size": settings.db_pool_max_size,
            "pool_timeout_s": settings.db_pool_timeout_s,
            "connect_timeout_s": settings.db_connect_timeout_s,
            "statement_timeout_ms": settings.db_statement_timeout_ms,
            "replica_max_lag_s": settings.db_replica_max_lag_s,
            "transaction_pooler": settings.db_transaction_pooler,
            "sslmode": settings.db_sslmode,
            "slow_query_ms": settings.slow_query_ms,
            "trace": settings.db_trace,
            "trace_params": settings.db_trace_params,
        }
        options.update(overrides)
        db = cls(settings.database_url, **options)
        db.settings = settings
        return db

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self, *, wait: bool = True) -> None:
        """Open the pools; with `wait`, fail fast with DatabaseUnavailable if the primary is
        unreachable (replicas never block start-up): one direct connection first, so that a
        server that is down, misnamed or refusing the login is reported with its cause
        within the connect timeout, before any pool starts retrying in the background."""
        if wait:
            cause = await self._pools.why_unavailable()
            if cause is not None:
                raise cause
        await self._pools.open()
        if wait:
            try:
                await self.ping()
            except DatabaseUnavailable as exc:
                cause = await self._pools.why_unavailable()
                if cause is None:
                    raise
                raise cause from exc

    async def close(self) -> None:
        await self._pools.close()

    async def __aenter__(self) -> Database:
        try:
            await self.open()
        except BaseException:
            await self.close()  # no pool keeps reconnecting behind a failed `async with`
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- transactions ----------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(
        self,
        *,
        isolation: Isolation | None = None,
        readonly: bool = False,
        timeout: float | None = None,
        lock_timeout: float | None = None,
        replica: bool = False,
    ) -> AsyncIterator[Transaction]:
        """A transaction; commits on normal exit, rolls back on an exception.

        `timeout` / `lock_timeout` (seconds) are enforced by the server for this transaction
        only. `replica=True` (read-only) prefers a healthy replica unless this context scope
        has already committed a write, which it must then read back from the primary, or the
        read is a cache fill (`primary_reads()`).
        """
        context = current_context()
        replica = replica and not (context.scope and context.scope.wrote) \
            and not reads_need_primary()
        with tracing.span("pgkeel.transaction", {
                "db.system": "postgresql", "pgkeel.transaction.readonly": readonly or replica,
                "pgkeel.transaction.isolation": str(isolation or "default")}) as span:
            async with self._transaction(context, isolation=isolation, readonly=readonly,
                                         timeout=timeout, lock_timeout=lock_timeout,
                                         replica=replica) as tx:
                if span is not None:
                    span.set_attribute("pgkeel.pool", tx.pool_name)
                yield tx

    @asynccontextmanager
    async def _transaction(self, context: Any, *, isolation: Isolation | None, readonly: bool,
                           timeout: float | None, lock_timeout: float | None, replica: bool
                           ) -> AsyncIterator[Transaction]:
        async with self._pools.connection(replica=replica) as (pool, conn):
            tx = Transaction(
                conn, context=context, isolation=isolation, readonly=readonly or replica,
                statement_timeout_ms=(round(timeout * 1000) if timeout is not None
                                      else self.statement_timeout_ms if self.transaction_pooler
                                      else None),
                lock_timeout_ms=None if lock_timeout is None else round(lock_timeout * 1000),
                on_connection_lost=lambda: self._pools.connection_lost(pool),
                observer=self.observer)
            tx.pool_name = pool.name
            try:
                try:
                    yield tx
                except BaseException:
                    await tx._rollback()
                    raise
                try:
                    await tx._commit()
                except CommitOutcomeUnknown:
                    await tx._run_commit_callbacks(outcome_unknown=True)
                    raise
            finally:
                if tx.session_changed:
                    await self._pools.reset_session(conn)
        if tx.wrote and context.scope is not None:
            context.scope.wrote = True
        await tx._run_commit_callbacks()

    async def run_in_tx(
        self,
        fn: Callable[[Transaction], Awaitable[T]],
        *,
        retries: int | None = None,
        policy: RetryPolicy | None = None,
        isolation: Isolation | None = None,
        readonly: bool = False,
        timeout: float | None = None,
        lock_timeout: float | None = None,
        replica: bool = False,
    ) -> T:
        """Run `fn(tx)` in a transaction, re-running the whole function on a serialization
        failure (40001) or deadlock (40P01) with capped exponential backoff and full jitter.

        Raises TransactionConflict when the retries run out. A lost connection at COMMIT
        raises CommitOutcomeUnknown and is never retried: the change may have been applied.
        """
        policy = policy or self.retry
        if retries is not None:
            policy = RetryPolicy(retries, policy.base_delay_s, policy.max_delay_s)
        return await policy.run(partial(self._attempt, fn, isolation=isolation,
                                        readonly=readonly, timeout=timeout,
                                        lock_timeout=lock_timeout, replica=replica))

    async def _attempt(self, fn: Callable[[Transaction], Awaitable[T]], *,
                       isolation: Isolation | None, readonly: bool, timeout: float | None,
                       lock_timeout: float | None, replica: bool) -> T:
        async with self.transaction(isolation=isolation, readonly=readonly, timeout=timeout,
                                    lock_timeout=lock_timeout, replica=replica) as tx:
            return await fn(tx)

    # -- one-statement helpers (each its own transaction, one round trip) -------------------

    async def execute(self, query: Query, params: Params | None = None) -> int:
        async with self.transaction() as tx:
            return await tx.execute(query, params)

    @overload
    async def fetch_all(self, query: Query, params: Params | None = None, *,
                        replica: bool = False, readonly: bool = False, context: bool = True
                        ) -> list[dict[str, Any]]: ...
    @overload
    async def fetch_all(self, query: Query, params: Params | None = None, *,
                        replica: bool = False, readonly: bool = False, context: bool = True,
                        row_factory: AsyncRowFactory[R]) -> list[R]: ...

    async def fetch_all(
        self, query: Query, params: Params | None = None, *, replica: bool = False,
        readonly: bool = False, context: bool = True,
        row_factory: AsyncRowFactory[Any] = dict_row,
    ) -> list[Any]:
        """All rows of one query, in a transaction of its own. `readonly=True` (implied by
        `replica=True`) sends the settings and the query as one round trip. A replica that
        fails mid-query is marked down and the read is repeated on the primary.

        `context=False` (read-only reads only) sends a SELECT alone, with neither the request
        context nor `transaction_read_only`: for a hot read of tables the database reads no
        context for (`reads_context`). On a table with row-level security it sees no
        organization, so its policies return nothing rather than another tenant's rows."""
        return await self._fetch(query, params, row_factory, replica, readonly=readonly,
                                 context=context)

    @overload
    async def fetch_one(self, query: Query, params: Params | None = None, *,
                        replica: bool = False, readonly: bool = False, context: bool = True
                        ) -> dict[str, Any] | None: ...
    @overload
    async def fetch_one(self, query: Query, params: Params | None = None, *,
                        replica: bool = False, readonly: bool = False, context: bool = True,
                        row_factory: AsyncRowFactory[R]) -> R | None: ...

    async def fetch_one(
        self, query: Query, params: Params | None = None, *, replica: bool = False,
        readonly: bool = False, context: bool = True,
        row_factory: AsyncRowFactory[Any] = dict_row,
    ) -> Any:
        rows = await self._fetch(query, params, row_factory, replica, readonly=readonly,
                                 context=context)
        return rows[0] if rows else None

    async def fetch_val(self, query: Query, params: Params | None = None, *,
                        replica: bool = False, readonly: bool = False,
                        context: bool = True) -> Any:
        rows = await self._fetch(query, params, None, replica, readonly=readonly,
                                 context=context)
        return rows[0][0] if rows else None

    async def _fetch(self, query: Query, params: Params | None,
                     row_factory: AsyncRowFactory[Any] | None, replica: bool, *,
                     readonly: bool, context: bool) -> list[Any]:
        statement = [(query, params, row_factory)]
        if context:
            return (await self.read_batch(statement, replica=replica, readonly=readonly))[0]
        if not (readonly or replica):
            raise UsageError("context=False is for read-only reads.",
                             hint="Pass readonly=True: writes always send the context.")
        if not is_select(query):
            raise UsageError("context=False sends a SELECT only.",
                             hint="Other statements need readonly=True with the context.")
        return (await self.read_compiled(statement, replica=replica, context=False))[0]

    async def read_batch(self, statements: Sequence[Statement], *, replica: bool = False,
                         readonly: bool = False) -> list[list[Any]]:
        """Several statements in one transaction, pipelined; read-only (and on a replica
        when `replica=True`) it is a single network round trip including COMMIT."""
        return await self._read(lambda tx: tx.fetch_batch(statements, commit=True), replica,
                                readonly or replica)

    async def read_compiled(self, statements: Sequence[Statement], *, replica: bool = False,
                            context: bool = True) -> list[list[Any]]:
        """Compiled SELECTs (repository reads) in one round trip, as one implicit
        transaction. `context=False` -- the database reads no context for these tables
        (`reads_context`) -- sends the reads alone; `always_send_context` restores
        `read_batch(readonly=True)` for every read."""
        if self.always_send_context:
            return await self.read_batch(statements, replica=replica, readonly=True)
        if replica and self._pools.replicas:
            return await self._read(lambda tx: tx.read_compiled(statements, context=context),
                                    replica, True)
        pool = self._pools.primary
        conn = await self._pools.take_primary()
        try:
            return await read_compiled(
                conn, statements, current_context().values() if context else None,
                observer=self.observer, pool_name=pool.name,
                on_connection_lost=partial(self._pools.connection_lost, pool))
        finally:
            await pool.putconn(conn)

    async def _one_shot(self, fn: Callable[[Transaction], Awaitable[T]]) -> T:
        """A read that is a whole transaction of its own on the primary, without
        `transaction()`'s two context managers: it has no commit, no callbacks and no writes
        to track. A connection left mid-statement (a cancelled read) is discarded by the pool
        on putconn."""
        pool = self._pools.primary
        conn = await self._pools.take_primary()
        try:
            tx = Transaction(conn, context=current_context(), readonly=True,
                             statement_timeout_ms=(self.statement_timeout_ms
                                                   if self.transaction_pooler else None),
                             on_connection_lost=lambda: self._pools.connection_lost(pool),
                             observer=self.observer)
            tx.pool_name = pool.name
            return await fn(tx)
        finally:
            await pool.putconn(conn)

    async def reads_context(self, table: str) -> bool:
        """Whether reading `table` (schema-qualified) makes the database read the request
        context: row-level security is on, or it is a view (which may read tables that have
        it), and this role is subject to it. Asked of the
        catalog once per table; a table the catalog does not know counts as yes."""
        known = self._reads_context.get(table)
        if known is None:
            value = await self.fetch_val(_queries.READS_CONTEXT, (table,), readonly=True)
            known = self._reads_context[table] = value is not False
        return known or self.always_send_context

    def reads_context_known(self, table: str) -> bool | None:
        """`reads_context(table)` when the catalog was already asked about `table`, else
        None: the answer without an await on every read after the first."""
        known = self._reads_context.get(table)
        if known is None:
            return None
        return known or self.always_send_context

    async def _read(self, fn: Callable[[Transaction], Awaitable[T]], replica: bool,
                    readonly: bool) -> T:
        if replica and self._pools.replicas:
            served_by = self._pools.primary.name
            try:
                async with self.transaction(readonly=True, replica=True) as tx:
                    served_by = tx.pool_name
                    return await fn(tx)
            except DatabaseUnavailable:
                if served_by == self._pools.primary.name:
                    raise
                # That replica is now marked down; a read is safe to repeat on the primary.
        if readonly:
            return await self._one_shot(fn)
        async with self.transaction() as tx:
            return await fn(tx)

    # -- health ----------------------------------------------------------------------------

    async def ping(self) -> PingResult:
        """Round-trip the primary; raises DatabaseUnavailable when it cannot be reached."""
        started = time.perf_counter()
        async with self.transaction(readonly=True, timeout=self.connect_timeout_s) as tx:
            row = await tx.fetch_one(_queries.PING, row_factory=_tuple_row)
        assert row is not None
        return PingResult(ok=True, latency_ms=(time.perf_counter() - started) * 1000,
                          server_version=int(row[0]), in_recovery=bool(row[1]),
                          pools=self.pool_stats())

    def pool_stats(self) -> dict[str, dict[str, int]]:
        """psycopg_pool's counters per pool (primary first)."""
        return self._pools.stats()

    def slow_queries(self, min_ms: float | None = None) -> list[SlowQuery]:
        """Recent statements at least `min_ms` (default SLOW_QUERY_MS) long, oldest first."""
        return self.observer.slow_queries(min_ms)

    def query_metrics(self) -> dict[str, float]:
        """Statements run by this Database: total, slow, average milliseconds."""
        return self.observer.metrics()

    async def explain(self, query: SlowQuery) -> list[str]:
        """The current plan of a recorded slow statement (EXPLAIN, not ANALYZE: nothing
        runs), with the parameters it was recorded with."""
        statement = b"EXPLAIN " + query.sql.encode()
        async with self.transaction(readonly=True) as tx:
            rows = await tx.fetch_all(statement, query._raw_params, row_factory=_tuple_row)
        return [str(row[0]) for row in rows]

    def replica_status(self) -> list[dict[str, Any]]:
        return [replica.describe() for replica in self._pools.replicas.replicas]

    async def connect_direct(self, *, application_name: str | None = None
                             ) -> AsyncConnection[Any]:
        """A new autocommit connection to the primary, outside the pool (close it yourself):
        for session state that must outlive a transaction, such as an advisory lock."""
        return await self._pools.connect_direct(application_name)


def _tuple_row(cursor: Any) -> Callable[[Any], Any]:
    return tuple
