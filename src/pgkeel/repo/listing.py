"""Listing: one request -> one page, offset or keyset, with the table's count policy.

Offset: the page query and its count travel in one pipeline (one round trip). Count modes
follow PostgREST: `exact` counts, `planned` reads the planner's estimate, `estimated` counts
exactly up to the table's threshold and asks the planner only beyond it: the EXPLAIN is a second
round trip that only a count over the threshold pays, and that count has just scanned threshold
+ 1 rows, so the round trip is a small part of its cost; below the threshold no EXPLAIN is
planned, sent or parsed.
Keyset: `limit + 1` rows after the cursor's row, in the sort made total by the primary key.

A request's statements depend only on its shape (which filters with which operators, the sort,
search, count mode, the cursor's direction), so they are composed once per shape; a repeated
shape only collects its parameter values, in the order the composition binds them.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from psycopg.rows import AsyncRowFactory

from pgkeel.db.transaction import Statement
from pgkeel.repo.compiler import (
    Compiler,
    Where,
    after_terms,
    filter_values,
    scope_values,
    search_values,
)
from pgkeel.repo.cursor import CursorCodec
from pgkeel.repo.fields import Op
from pgkeel.repo.params import check_offset, effective_sort
from pgkeel.repo.query import CountMode, ListQuery, SortKey
from pgkeel.repo.table import Table

__all__ = ["Page", "build_list", "finish_list"]

R = TypeVar("R")


@dataclass
class Page(Generic[R]):
    """One page of a list, offset or keyset (`keyset` says which; the other kind's fields are
    None). `envelope()` is the JSON body: `{items, page, pageSize, total, totalPages,
    totalIsEstimate}` for offset pages, `{items, limit, nextCursor, prevCursor}` for keyset."""

    items: list[R]
    keyset: bool = False
    page: int | None = None
    page_size: int | None = None
    total: int | None = None
    total_is_estimate: bool = False
    limit: int | None = None
    next_cursor: str | None = None
    prev_cursor: str | None = None

    @property
    def total_pages(self) -> int | None:
        if self.total is None or not self.page_size:
            return None
        return math.ceil(self.total / self.page_size)

    def envelope(self, items: list[Any] | None = None) -> dict[str, Any]:
        """The page as the JSON body an endpoint returns (`items` replaces the rows)."""
        body = self.items if items is None else items
        if self.keyset:
            return {"items": body, "limit": self.limit, "nextCursor": self.next_cursor,
                    "prevCursor": self.prev_cursor}
        return {"items": body, "page": self.page, "pageSize": self.page_size,
                "total": self.total, "totalPages": self.total_pages,
                "totalIsEstimate": self.total_is_estimate}


@dataclass
class ListPlan:
    """The statements of one list request, and how to turn their rows into a page."""

    statements: list[Statement]
    query: ListQuery
    keys: list[SortKey]
    limit: int
    page: int = 1
    count: CountMode = CountMode.NONE
    backward: bool = False
    after_cursor: bool = False
    binding: str = ""
    planned: Statement | None = None
    """`estimated` counts: the planner's estimate, sent only when the limited count comes back
    over `threshold` (`beyond_threshold`)."""
    threshold: int = 0

    def beyond_threshold(self, results: list[list[Any]]) -> Statement | None:
        """The statement still to run after `statements` returned `results`: the planner's
        estimate of an `estimated` count that exceeded the threshold, else None."""
        if self.planned is None or int(results[1][0][0]) <= self.threshold:
            return None
        return self.planned


def _where(compiler: Compiler, query: ListQuery, tenant: Any,
           include_deleted: bool) -> Where:
    where = Where()
    compiler.scope(where, tenant, include_deleted=include_deleted)
    compiler.filters(where, query.filters)
    if query.search:
        compiler.search(where, query.search)
    return where


def _where_values(table: Table, query: ListQuery, tenant: Any) -> list[Any]:
    """The parameters `_where` binds, in its order, collected without composing anything."""
    values = scope_values(table, tenant)
    for item in query.filters:
        values += filter_values(item)
    if query.search:
        values += search_values(table, query.search)
    return values


def _where_shape(query: ListQuery, include_deleted: bool) -> tuple[Any, ...]:
    """What of a request decides the text of its WHERE clause: which filters with which
    operators (and `IS`'s value, which picks IS NULL or IS NOT NULL), whether it searches,
    and whether soft-deleted rows are included. Parameter values are not part of it."""
    return (tuple((f.custom, f.field.name if f.field else None, f.op,
                   f.value if f.op is Op.IS else None) for f in query.filters),
            bool(query.search), include_deleted)


def binding_for(table: Table, keys: Sequence[SortKey], query: ListQuery, tenant: Any) -> str:
    filters = [(f.custom or (f.field.name if f.field else ""), f.op.value, f.value)
               for f in query.filters]
    return CursorCodec.binding([table.qualified, [k.token() for k in keys], filters,
                                query.search, str(tenant)])


_EXACT_TYPES = frozenset({str, int, bool, uuid.UUID, type(None)})
"""Types whose equal values always render alike in a binding (unlike 1.0 and 1.00, or one
instant in two time zones): only requests made of these are remembered."""


def _keyset_shape(compiler: Compiler, query: ListQuery,
                  tenant: Any) -> tuple[list[SortKey], str]:
    """The total sort and the cursor binding of a keyset request. Both are pure in its sort,
    filters, search and tenant, so they are remembered per request shape (the sort list is
    shared: callers never mutate it)."""
    table = compiler.table

    def build() -> tuple[list[SortKey], str]:
        keys = effective_sort(table, query.sort)
        return keys, binding_for(table, keys, query, tenant)
    filters = query.filters
    if type(tenant) not in _EXACT_TYPES or any(type(f.value) not in _EXACT_TYPES
                                               for f in filters):
        return build()
    shape = ("keyset", tuple(query.sort), tuple(filters),
             tuple(type(f.value) for f in filters), query.search, type(tenant), tenant)
    return compiler.remember(shape, build)


@dataclass(frozen=True, slots=True)
class _OffsetStatements:
    """What every offset request of one shape shares: its total sort and statements."""

    keys: list[SortKey]
    page: bytes
    count: bytes | None
    planned: bytes | None


def _offset_statements(compiler: Compiler, query: ListQuery, tenant: Any, mode: CountMode,
                       include_deleted: bool) -> _OffsetStatements:
    where = _where(compiler, query, tenant, include_deleted)
    keys = effective_sort(compiler.table, query.sort)
    page = compiler.select(where, order=compiler.order(keys), limit=True, offset=True)
    kind = {CountMode.EXACT: "exact", CountMode.PLANNED: "planned",
            CountMode.ESTIMATED: "limited"}.get(mode)
    return _OffsetStatements(
        keys, page, compiler.count(where, kind) if kind else None,
        compiler.count(where, "planned") if mode is CountMode.ESTIMATED else None)


def build_list(compiler: Compiler, codec: CursorCodec, query: ListQuery, tenant: Any,
               row_factory: AsyncRowFactory[Any], *, include_deleted: bool = False) -> ListPlan:
    """Compile a list request into its statements. The statements of a request shape are
    composed once (`Compiler.remember`); a repeated shape only collects its values."""
    if query.keyset:
        return _keyset_plan(compiler, codec, query, tenant, row_factory,
                            include_deleted=include_deleted)
    table = compiler.table
    size = query.page_size or table.page_size
    page = query.page or 1
    mode = query.count or table.count
    shared = compiler.remember(
        ("offset", tuple(query.sort), _where_shape(query, include_deleted), mode),
        lambda: _offset_statements(compiler, query, tenant, mode, include_deleted))
    values = _where_values(table, query, tenant)
    statements: list[Statement] = [(shared.page, [*values, size, check_offset(page, size)],
                                    row_factory)]
    planned: Statement | None = None
    if shared.planned is not None and shared.count is not None:   # `estimated`
        statements.append((shared.count, [*values, table.count_threshold + 1], None))
        planned = (shared.planned, values, None)
    elif shared.count is not None:
        statements.append((shared.count, values, None))
    return ListPlan(statements, query, shared.keys, size, page=page, count=mode,
                    planned=planned, threshold=table.count_threshold)


def _keyset_plan(compiler: Compiler, codec: CursorCodec, query: ListQuery, tenant: Any,
                 row_factory: AsyncRowFactory[Any], *, include_deleted: bool) -> ListPlan:
    """`limit + 1` rows after the cursor's row (from the start without one)."""
    keys, binding = _keyset_shape(compiler, query, tenant)
    limit = query.limit or compiler.table.page_size
    backward, after = False, None
    cursor_values: list[Any] = []
    if query.cursor:
        cursor_values, backward = codec.decode(query.cursor, keys=keys, binding=binding)
        after = after_terms(keys, cursor_values, backward=backward)

    def compose() -> bytes:
        where = _where(compiler, query, tenant, include_deleted)
        if after is not None:
            compiler.after(where, keys, cursor_values, backward=backward)
        return compiler.select(where, order=compiler.order(keys, backward=backward),
                               limit=True)
    statement = compiler.remember(
        ("keyset-select", tuple(query.sort), _where_shape(query, include_deleted), backward,
         after[0] if after else None), compose)
    values = _where_values(compiler.table, query, tenant)
    if after is not None:
        values += after[1]
    return ListPlan([(statement, [*values, limit + 1], row_factory)], query, keys, limit,
                    backward=backward, after_cursor=after is not None, binding=binding)


def _planned_rows(rows: list[Any]) -> int:
    plan = rows[0][0]
    return int(plan[0]["Plan"]["Plan Rows"])


def _value(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, dict) else getattr(row, name)


def finish_list(plan: ListPlan, results: list[list[Any]], codec: CursorCodec) -> Page[Any]:
    """Turn the statements' rows (and the `beyond_threshold` statement's, when it ran) into
    the page envelope."""
    rows = results[0]
    if plan.query.keyset:
        more = len(rows) > plan.limit
        rows = rows[:plan.limit]
        if plan.backward:
            rows.reverse()
        has_next = True if plan.backward else more
        has_prev = more if plan.backward else plan.after_cursor

        names = [k.field.name for k in plan.keys]

        def cursor(row: Any, backward: bool) -> str:
            values = ([row[name] for name in names] if type(row) is dict
                      else [_value(row, name) for name in names])
            return codec.encode(values, backward=backward, binding=plan.binding)

        return Page(rows, keyset=True, limit=plan.limit,
                    next_cursor=cursor(rows[-1], False) if rows and has_next else None,
                    prev_cursor=cursor(rows[0], True) if rows and has_prev else None)

    total: int | None = None
    estimate = False
    if plan.count is CountMode.EXACT:
        total = int(results[1][0][0])
    elif plan.count is CountMode.PLANNED:
        total, estimate = _planned_rows(results[1]), True
    elif plan.count is CountMode.ESTIMATED:
        limited = int(results[1][0][0])
        if limited > plan.threshold:
            total, estimate = max(limited, _planned_rows(results[2])), True
        else:
            total = limited
    return Page(rows, page=plan.page, page_size=plan.limit, total=total,
                total_is_estimate=estimate)
