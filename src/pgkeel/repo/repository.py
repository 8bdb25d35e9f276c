"""`Repository`: tenant-scoped, instrumented CRUD and listing for one declared table.

Every call takes the organization from the request context (`use_context(org_id=...)`) and
fails closed with `TenantRequired` when there is none -- never "all rows". Reads run as one
read-only round trip unless given a transaction; writes run in their own transaction unless
given one (`tx=`), so several calls can share a transaction with an audit record.
"""

from __future__ import annotations

import builtins
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, LiteralString, TypeVar, cast

from psycopg import sql
from psycopg.rows import AsyncRowFactory, dict_row, kwargs_row

from pgkeel.db import Database, Transaction, current_context
from pgkeel.db.transaction import Statement
from pgkeel.errors import (
    Conflict,
    NotFound,
    PgkeelError,
    TenantRequired,
    UsageError,
    VersionConflict,
)
from pgkeel.observe.metrics import REPO_DURATION, REPO_ERRORS, REPO_SLOW
from pgkeel.repo import writes
from pgkeel.repo.compiler import Compiler, Where, scope_values
from pgkeel.repo.cursor import CursorCodec, default_codec
from pgkeel.repo.fields import FieldType, parse_value
from pgkeel.repo.listing import ListPlan, Page, build_list, finish_list
from pgkeel.repo.query import ListQuery
from pgkeel.repo.table import Table

__all__ = ["Repository"]

R = TypeVar("R")
T = TypeVar("T")
CONSTRAINT_COLUMNS: LiteralString = """
SELECT array_agg(a.attname::text ORDER BY k.ord)
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = to_regclass(%s) AND ic.relname = %s
"""
"""The columns of a unique index (or the index behind a unique constraint), by name."""
_TENANT_TYPES: dict[FieldType, type] = {
    FieldType.UUID: uuid.UUID, FieldType.INT: int, FieldType.BIGINT: int,
    FieldType.SMALLINT: int}
"""Python types a tenant column's organization may have (others: not checked here)."""

_BY_KEY_SHAPES = 64
"""Primary-key SELECTs kept per repository (one per include/include_deleted combination)."""

class Repository(Generic[R]):
    """CRUD and listing for `table`. Rows are dicts unless `row_type` is given (any class
    taking the columns as keyword arguments: a dataclass, a pydantic model)."""

    def __init__(self, db: Database, table: Table, *, row_type: type[R] | None = None,
                 cursor_codec: CursorCodec | None = None, name: str | None = None) -> None:
        self.db = db
        self.table = table
        self.name = name or table.name
        self.compiler = Compiler(table)
        self.codec = cursor_codec or default_codec(db.settings)
        self.row_factory: AsyncRowFactory[R] = cast(
            "AsyncRowFactory[R]", dict_row if row_type is None else kwargs_row(row_type))
        self._timers: dict[str, Any] = {}
        self._constraints: dict[str, builtins.list[str]] = {}
        self._by_key: dict[tuple[bool, tuple[str, ...]], bytes] = {}
        """The primary-key SELECT per (include_deleted, include): its parameters are the
        tenant (when the table has one) then the key's values, in that order."""
        self._text_tenant = (table.tenant is not None
                             and table.field(table.tenant).type is FieldType.TEXT)
        self._tenant_type = (_TENANT_TYPES.get(table.field(table.tenant).type)
                             if table.tenant is not None else None)

    # -- reads ---------------------------------------------------------------------------------

    async def find(self, pk: Any, *, tx: Transaction | None = None, replica: bool = False,
                   include: Sequence[str] = (), include_deleted: bool = False) -> R | None:
        """The row with this primary key in the current organization, or None."""
        return await self._observed("get", self._find(pk, tx, replica, include,
                                                      include_deleted, required=False))

    async def get(self, pk: Any, *, tx: Transaction | None = None, replica: bool = False,
                  include: Sequence[str] = (), include_deleted: bool = False) -> R:
        """Like `find`, but a missing row (or one of another organization) is `NotFound`."""
        row = await self._observed("get", self._find(pk, tx, replica, include,
                                                     include_deleted, required=True))
        return cast("R", row)

    async def _find(self, pk: Any, tx: Transaction | None, replica: bool,
                    include: Sequence[str], include_deleted: bool, *,
                    required: bool) -> R | None:
        tenant = self._tenant()
        values = self._pk(pk)
        shape = (include_deleted, tuple(include))
        statement = self._by_key.get(shape)
        if statement is None:  # composed once per shape; later calls only bind values
            where = Where()
            self.compiler.scope(where, tenant, include_deleted=include_deleted)
            self.compiler.key(where, values)
            statement = self.compiler.select(where, include=shape[1])
            if len(self._by_key) >= _BY_KEY_SHAPES:
                self._by_key.clear()
            self._by_key[shape] = statement
        params = scope_values(self.table, tenant)   # a new list: the values go after it
        params += values
        rows = await self._read([(statement, params, self.row_factory)], tx, replica)
        if rows[0]:
            return cast("R", rows[0][0])
        if required:
            raise NotFound(f"No {self.name} with that id.",
                           details={"resource": self.name, "id": str(pk)})
        return None

    async def get_many(self, pks: Iterable[Any], *, tx: Transaction | None = None,
                       replica: bool = False) -> builtins.list[R]:
        """The rows among `pks` that exist in this organization (in primary-key order)."""
        if len(self.table.primary_key) != 1:
            raise UsageError("get_many needs a single-column primary key.")
        column = self.table.field(self.table.primary_key[0])
        where = self._scoped()
        where.add(sql.SQL("t.{} = ANY(%s)").format(sql.Identifier(column.name)), "pk-any",
                  list(pks))
        statement = self.compiler.select(where, order=((column.name, False),))
        rows = await self._observed(
            "get_many", self._read([(statement, where.params, self.row_factory)], tx, replica))
        return cast("builtins.list[R]", rows[0])

    async def exists(self, pk: Any, *, tx: Transaction | None = None) -> bool:
        return await self.find(pk, tx=tx) is not None

    async def count(self, query: ListQuery | None = None, *,
                    tx: Transaction | None = None, replica: bool = False) -> int:
        """Exact number of rows matching `query`'s filters and search."""
        query = query or ListQuery()
        where = self._scoped()
        self.compiler.filters(where, query.filters)
        if query.search:
            self.compiler.search(where, query.search)
        statement = self.compiler.count(where, "exact")
        rows = await self._observed("count", self._read([(statement, where.params, None)],
                                                        tx, replica))
        return int(rows[0][0][0])

    async def list(self, query: ListQuery | None = None, *, tx: Transaction | None = None,
                   replica: bool = False,
                   include_deleted: bool = False) -> Page[R]:
        """One page: offset (`page`/`page_size`, with the count policy) or keyset
        (`cursor`/`limit`), in a total order."""
        query = query or ListQuery()
        plan = build_list(self.compiler, self.codec, query, self._tenant(), self.row_factory,
                          include_deleted=include_deleted)
        results = await self._observed("list", self._read_list(plan, tx, replica))
        return finish_list(plan, results, self.codec)

    # -- writes --------------------------------------------------------------------------------

    async def create(self, values: Mapping[str, Any], *, tx: Transaction | None = None) -> R:
        """Insert one row (the tenant column is filled from the context); return it."""
        statement, params = writes.insert(self.compiler, self._with_tenant(values), 1)
        rows = await self._observed("create", self._write(statement, params, tx))
        return cast("R", rows[0])

    async def create_many(
        self, rows: Sequence[Mapping[str, Any]], *, tx: Transaction | None = None,
        copy: bool = False,
    ) -> builtins.list[R] | int:
        """Insert many rows: multi-row INSERT ... RETURNING in chunks, or with `copy=True`
        COPY (fastest, returns only the count)."""
        org = self._tenant() if rows else None   # once, not per row
        filled = [self._with_tenant(r, org) for r in rows]
        if not filled:
            return 0 if copy else []
        if copy:
            return await self._observed("create_many", self._in_tx(
                tx, lambda t: writes.copy_rows(self.compiler, t, filled)))

        async def insert_all(t: Transaction) -> builtins.list[R]:
            created: builtins.list[R] = []
            for start in range(0, len(filled), writes.CHUNK):
                chunk = filled[start:start + writes.CHUNK]
                statement, params = writes.insert(self.compiler, chunk[0], len(chunk), chunk)
                created += await t.fetch_all(statement, params, row_factory=self.row_factory)
            return created
        return await self._observed("create_many", self._in_tx(tx, insert_all))

    async def update(self, pk: Any, changes: Mapping[str, Any], *,
                     expected_version: int | None = None,
                     tx: Transaction | None = None) -> R:
        """Change columns of one row. With `expected_version`, a row changed since (its
        version moved on) raises `VersionConflict` (409); a missing row raises NotFound."""
        if not changes:
            return await self.get(pk, tx=tx)
        where = self._scoped()
        self.compiler.key(where, self._pk(pk))
        if expected_version is not None:
            if self.table.version is None:
                raise UsageError(f"{self.table.qualified} has no version column.")
            where.add(sql.SQL("t.{} = %s").format(sql.Identifier(self.table.version)),
                      "version", expected_version)
        statement, params = writes.update(self.compiler, changes, where)
        rows = await self._observed("update", self._write(statement, params, tx))
        if rows:
            return cast("R", rows[0])
        if expected_version is not None and await self.find(pk, tx=tx) is not None:
            raise VersionConflict(
                f"This {self.name} was changed by someone else.",
                details={"resource": self.name, "id": str(pk),
                         "expected_version": expected_version},
                hint="Re-read it and apply your change again.")
        raise NotFound(f"No {self.name} with that id.", details={"resource": self.name,
                                                                  "id": str(pk)})

    async def upsert(self, values: Mapping[str, Any], *, conflict: Sequence[str],
                     update: Sequence[str] | None = None,
                     tx: Transaction | None = None) -> R:
        """Insert, or update `update` columns (default: all given) of the row that conflicts
        on `conflict`. A conflicting row of another organization is never touched."""
        statement, params = writes.upsert(self.compiler, self._with_tenant(values), conflict,
                                          update)
        rows = await self._observed("upsert", self._write(statement, params, tx))
        if not rows:
            raise NotFound(f"No {self.name} could be written for that key.",
                           details={"resource": self.name})
        return cast("R", rows[0])

    async def soft_delete(self, pk: Any, *, tx: Transaction | None = None) -> None:
        await self._mark_deleted("soft_delete", pk, True, tx)

    async def restore(self, pk: Any, *, tx: Transaction | None = None) -> R:
        rows = await self._mark_deleted("restore", pk, False, tx)
        return cast("R", rows[0])

    async def delete(self, pk: Any, *, tx: Transaction | None = None) -> None:
        """Delete the row for good (soft-deleted or not)."""
        where = self._scoped(include_deleted=True)
        self.compiler.key(where, self._pk(pk))
        statement = writes.delete(self.compiler, where)
        rows = await self._observed("delete", self._write(statement, where.params, tx))
        if not rows:
            raise NotFound(f"No {self.name} with that id.", details={"resource": self.name,
                                                                      "id": str(pk)})

    async def _mark_deleted(self, operation: str, pk: Any, deleted: bool,
                            tx: Transaction | None) -> builtins.list[Any]:
        if self.table.soft_delete is None:
            raise UsageError(f"{self.table.qualified} has no soft-delete column.")
        where = self._scoped(include_deleted=True)
        self.compiler.key(where, self._pk(pk))
        column = sql.Identifier(self.table.soft_delete)
        where.add(sql.SQL("t.{} IS NOT NULL" if not deleted else "t.{} IS NULL").format(column),
                  ("deleted", deleted))
        statement = writes.set_deleted(self.compiler, where, deleted)
        rows = await self._observed(operation, self._write(statement, where.params, tx))
        if not rows:
            raise NotFound(f"No {self.name} with that id.", details={"resource": self.name,
                                                                      "id": str(pk)})
        return rows

    # -- plumbing ------------------------------------------------------------------------------

    def _tenant(self) -> Any:
        if self.table.tenant is None:
            return None
        org = current_context().org_id
        if org is None:
            raise TenantRequired(f"{self.name}: no organization in the request context.",
                                 hint="Run the call inside use_context(org_id=...).")
        # A text tenant column (such as audit_log's, shared by every app) is bound as text.
        if self._text_tenant:
            return str(org)
        if self._tenant_type is not None and type(org) is not self._tenant_type:
            self._check_tenant_type(org)
        return org

    def _check_tenant_type(self, org: Any) -> None:
        """A context organization of the wrong type fails here, by name, rather than as an
        operator error from the server (a uuid column compared with an integer). A string
        the column's type parses is let through (the server casts it)."""
        expected = self._tenant_type
        assert expected is not None
        assert self.table.tenant is not None
        if isinstance(org, expected) and not isinstance(org, bool):
            return
        column = self.table.field(self.table.tenant)
        if isinstance(org, str):
            try:
                parse_value(column.type, org)
                return
            except ValueError:
                pass
        name = expected.__name__ if expected.__module__ == "builtins" else \
            f"{expected.__module__}.{expected.__qualname__}"
        raise UsageError(
            f"{self.name}: the organization in the request context is {org!r} "
            f"({type(org).__name__}), but the tenant column {column.name} is {column.type}.",
            details={"tenant": column.name, "type": str(column.type),
                     "given": type(org).__name__},
            hint=f"Pass use_context(org_id=...) a {name}.")

    def _scoped(self, *, include_deleted: bool = False) -> Where:
        where = Where()
        self.compiler.scope(where, self._tenant(), include_deleted=include_deleted)
        return where

    def _pk(self, pk: Any) -> tuple[Any, ...]:
        values = pk if isinstance(pk, tuple) else (pk,)
        if len(values) != len(self.table.primary_key):
            raise UsageError(f"{self.name}: the primary key has {len(self.table.primary_key)} "
                             "columns.")
        return values

    def _with_tenant(self, values: Mapping[str, Any], org: Any = None) -> dict[str, Any]:
        """`values` with the tenant column set to `org` (default: the context's)."""
        row = dict(values)
        tenant = self.table.tenant
        if tenant is not None:
            if org is None:
                org = self._tenant()
            if tenant in row and str(row[tenant]) != str(org):
                raise TenantRequired(f"{self.name}: a row for another organization.",
                                     hint="The tenant column comes from the context.")
            row[tenant] = org
        return row

    async def _read(self, statements: builtins.list[Statement], tx: Transaction | None,
                    replica: bool) -> builtins.list[builtins.list[Any]]:
        if tx is not None:
            return await tx.fetch_batch(statements)
        context = self.db.reads_context_known(self.table.qualified)
        if context is None:
            context = await self.db.reads_context(self.table.qualified)
        return await self.db.read_compiled(statements, replica=replica, context=context)

    async def _read_list(self, plan: ListPlan, tx: Transaction | None,
                         replica: bool) -> builtins.list[builtins.list[Any]]:
        results = await self._read(plan.statements, tx, replica)
        beyond = plan.beyond_threshold(results)
        if beyond is not None:   # an `estimated` count over the threshold: ask the planner
            results += await self._read([beyond], tx, replica)
        return results

    async def _write(self, statement: bytes, params: Sequence[Any],
                     tx: Transaction | None) -> builtins.list[Any]:
        return await self._in_tx(tx, lambda t: t.fetch_all(statement, params,
                                                            row_factory=self.row_factory))

    async def _in_tx(self, tx: Transaction | None,
                     fn: Callable[[Transaction], Awaitable[T]]) -> T:
        if tx is not None:
            return await fn(tx)
        async with self.db.transaction() as own:
            return await fn(own)

    async def _constraint_columns(self, constraint: str) -> builtins.list[str]:
        """The columns of one of this table's constraints, in key order (cached)."""
        columns = self._constraints.get(constraint)
        if columns is None:
            value = await self.db.fetch_val(CONSTRAINT_COLUMNS, (self.table.qualified,
                                                                 constraint), readonly=True)
            columns = self._constraints[constraint] = [str(c) for c in value or ()]
        return columns

    async def _observed(self, operation: str, work: Awaitable[T]) -> T:
        """Time the call into the repo histogram; count slow calls and errors."""
        started = time.perf_counter()
        try:
            return await work
        except Conflict as exc:
            REPO_ERRORS.labels(self.name, operation, exc.code).inc()
            if not exc.details.get("fields") and exc.details.get("constraint"):
                # Under row-level security PostgreSQL leaves the key out of the message.
                exc.details["fields"] = await self._constraint_columns(
                    str(exc.details["constraint"]))
            raise
        except PgkeelError as exc:
            REPO_ERRORS.labels(self.name, operation, exc.code).inc()
            raise
        finally:
            elapsed = time.perf_counter() - started
            timer = self._timers.get(operation)
            if timer is None:
                timer = self._timers[operation] = REPO_DURATION.labels(self.name, operation)
            timer.observe(elapsed)
            if elapsed * 1000 >= self.db.observer.slow_ms:
                REPO_SLOW.labels(self.name, operation).inc()
