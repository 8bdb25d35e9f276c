"""SQL for a `Table`, composed only with `psycopg.sql` from the declaration.

A list request compiles to a *shape* (which filters with which operators, which sort, keyset or
offset) plus parameter values. Each shape is rendered to bytes once and cached, so repeated
requests skip composition and PostgreSQL can reuse the prepared statement.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from pgkeel.repo.fields import Field, Op, Search
from pgkeel.repo.query import Filter, SortKey
from pgkeel.repo.table import Table

__all__ = ["Compiler", "Where"]

_CACHE_LIMIT = 512

_COMPARISONS: dict[Op, sql.SQL] = {
    Op.EQ: sql.SQL("{} = %s"), Op.NE: sql.SQL("{} <> %s"),
    Op.LT: sql.SQL("{} < %s"), Op.LTE: sql.SQL("{} <= %s"),
    Op.GT: sql.SQL("{} > %s"), Op.GTE: sql.SQL("{} >= %s"),
    Op.IN: sql.SQL("{} = ANY(%s)"), Op.NOT_IN: sql.SQL("{} <> ALL(%s)"),
    Op.LIKE: sql.SQL("{} LIKE %s"), Op.ILIKE: sql.SQL("{} ILIKE %s"),
}


def col(field: Field) -> sql.Composed:
    return sql.SQL("t.{}").format(sql.Identifier(field.name))


def escape_like(text: str) -> str:
    """Make user text match literally inside a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class Where:
    """WHERE conditions being collected, with their parameters and their shape."""

    parts: list[sql.Composable] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    shape: list[Hashable] = field(default_factory=list)

    def add(self, part: sql.Composable, shape: Hashable, *params: Any) -> None:
        self.parts.append(part)
        self.shape.append(shape)
        self.params.extend(params)

    def render(self) -> sql.Composable:
        return sql.SQL(" AND ").join(self.parts) if self.parts else sql.SQL("TRUE")


class Compiler:
    """Builds and caches the SQL of one table."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.source = sql.SQL("{} AS t").format(table.ident)
        self._cache: dict[Hashable, bytes] = {}

    # -- pieces ------------------------------------------------------------------------------

    def columns(self, include: Sequence[str] = ()) -> sql.Composable:
        fields = [*self.table.selectable, *(self.table.field(n) for n in include)]
        return sql.SQL(", ").join(col(f) for f in fields)

    def returning(self, include: Sequence[str] = ()) -> sql.Composable:
        fields = [*self.table.selectable, *(self.table.field(n) for n in include)]
        return sql.SQL(", ").join(sql.Identifier(f.name) for f in fields)

    def scope(self, where: Where, tenant: Any, *, include_deleted: bool = False) -> None:
        """The conditions every statement carries: tenant first, then soft delete."""
        table = self.table
        if table.tenant is not None:
            where.add(sql.SQL("{} = %s").format(col(table.field(table.tenant))), "tenant", tenant)
        if table.soft_delete is not None and not include_deleted:
            where.add(sql.SQL("{} IS NULL").format(col(table.field(table.soft_delete))), "live")

    def key(self, where: Where, pk: Sequence[Any]) -> None:
        for name, value in zip(self.table.primary_key, pk, strict=True):
            where.add(sql.SQL("{} = %s").format(col(self.table.field(name))), ("pk", name), value)

    def filters(self, where: Where, filters: Sequence[Filter]) -> None:
        for item in filters:
            if item.custom is not None:
                predicate = self.table.custom_filters[item.custom].predicate
                where.add(sql.SQL("(" + predicate + ")"), ("custom", item.custom), item.value)
                continue
            assert item.field is not None
            column = col(item.field)
            shape = (item.field.name, item.op)
            if item.op is Op.IS:
                test = sql.SQL("{} IS NULL" if item.value else "{} IS NOT NULL")
                where.add(test.format(column), (*shape, item.value))
            elif item.op is Op.BETWEEN:
                where.add(sql.SQL("{} BETWEEN %s AND %s").format(column), shape, *item.value)
            else:
                where.add(_COMPARISONS[item.op].format(column), shape, item.value)

    def search(self, where: Where, text: str) -> None:
        """`q`: OR across the searchable fields, each matched its declared way."""
        terms: list[sql.Composable] = []
        params: list[Any] = []
        config = sql.Literal(self.table.search_config)
        for item in self.table.searchable:
            if item.search is Search.FTS:
                terms.append(sql.SQL("to_tsvector({c}, {col}) @@ websearch_to_tsquery({c}, %s)")
                             .format(c=config, col=col(item)))
                params.append(text)
            else:
                terms.append(sql.SQL("{} ILIKE %s").format(col(item)))
                pattern = escape_like(text) + "%"
                params.append(pattern if item.search is Search.PREFIX else "%" + pattern)
        where.add(sql.SQL("({})").format(sql.SQL(" OR ").join(terms)), "search", *params)

    def order(self, keys: Sequence[SortKey], *, backward: bool = False) -> sql.Composable:
        return sql.SQL(", ").join(_order_term(k, k.descending != backward) for k in keys)

    def after(self, where: Where, keys: Sequence[SortKey], values: Sequence[Any], *,
              backward: bool) -> None:
        """Rows strictly after `values` in the (possibly reversed) sort order.

        Same direction and no NULLs possible: one row-value comparison, which the index
        serves as an Index Cond. Otherwise the OR-expansion, with NULLs placed explicitly
        (ascending: NULLS LAST; descending: NULLS FIRST -- PostgreSQL's defaults, so default
        btree indexes still apply).
        """
        directions = [k.descending != backward for k in keys]
        nullable = any(k.field.nullable for k in keys) or any(v is None for v in values)
        if not nullable and len(set(directions)) == 1:
            op = "<" if directions[0] else ">"
            row = sql.SQL(", ").join(col(k.field) for k in keys)
            marks = sql.SQL(", ").join(sql.Placeholder() * len(keys))
            where.add(sql.SQL("({}) " + op + " ({})").format(row, marks),
                      ("after-row", tuple(directions)), *values)
            return
        disjuncts: list[sql.Composable] = []
        params: list[Any] = []
        for i, (key, value) in enumerate(zip(keys, values, strict=True)):
            beyond = _beyond(key.field, value, directions[i])
            if beyond is None:
                continue
            terms = [_equal(k.field, v, params) for k, v in zip(keys[:i], values[:i],
                                                                strict=True)]
            terms.append(beyond[0])
            params.extend(beyond[1])
            disjuncts.append(sql.SQL("({})").format(sql.SQL(" AND ").join(terms)))
        shape = ("after-or", tuple(directions), tuple(v is None for v in values))
        if not disjuncts:
            where.add(sql.SQL("FALSE"), shape)
            return
        where.add(sql.SQL("({})").format(sql.SQL(" OR ").join(disjuncts)), shape, *params)

    # -- whole statements ----------------------------------------------------------------------

    def cached(self, shape: Hashable, build: Any) -> bytes:
        """The rendered statement for `shape`, built once by `build()`."""
        query = self._cache.get(shape)
        if query is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            query = self._cache[shape] = build().as_bytes(None)
        return query

    def select(self, where: Where, *, order: sql.Composable | None = None, limit: bool = False,
               offset: bool = False, include: Sequence[str] = (),
               shape: Hashable = ()) -> bytes:
        def build() -> sql.Composable:
            parts: list[sql.Composable] = [
                sql.SQL("SELECT {} FROM {} WHERE {}").format(self.columns(include), self.source,
                                                           where.render())]
            if order is not None:
                parts.append(sql.SQL(" ORDER BY {}").format(order))
            if limit:
                parts.append(sql.SQL(" LIMIT %s"))
            if offset:
                parts.append(sql.SQL(" OFFSET %s"))
            return sql.Composed(parts)
        return self.cached(("select", tuple(where.shape), tuple(include), limit, offset, shape),
                           build)

    def count(self, where: Where, kind: str) -> bytes:
        """kind: 'exact', 'planned' (EXPLAIN) or 'limited' (exact up to a LIMIT %s)."""
        def build() -> sql.Composable:
            body = sql.SQL("SELECT 1 FROM {} WHERE {}").format(self.source, where.render())
            if kind == "planned":
                return sql.SQL("EXPLAIN (FORMAT JSON) {}").format(body)
            if kind == "limited":
                return sql.SQL("SELECT count(*) FROM ({} LIMIT %s) AS s").format(body)
            return sql.SQL("SELECT count(*) FROM {} WHERE {}").format(self.source,
                                                                     where.render())
        return self.cached(("count", kind, tuple(where.shape)), build)


def _order_term(key: SortKey, descending: bool) -> sql.Composable:
    direction = " DESC" if descending else " ASC"
    if key.field.nullable:
        direction += " NULLS FIRST" if descending else " NULLS LAST"
    return sql.SQL("{}" + direction).format(col(key.field))


def _equal(field: Field, value: Any, params: list[Any]) -> sql.Composable:
    if value is None:
        return sql.SQL("{} IS NULL").format(col(field))
    params.append(value)
    return sql.SQL("{} = %s").format(col(field))


def _beyond(field: Field, value: Any,
            descending: bool) -> tuple[sql.Composable, list[Any]] | None:
    """Rows past `value` on one key; None when nothing can follow (ascending after NULL)."""
    column = col(field)
    if descending:  # NULLS FIRST, then larger to smaller
        if value is None:
            return sql.SQL("{} IS NOT NULL").format(column), []
        return sql.SQL("{} < %s").format(column), [value]
    if value is None:  # NULLS LAST: nothing after the NULLs on this key
        return None
    if field.nullable:
        return sql.SQL("({c} > %s OR {c} IS NULL)").format(c=column), [value]
    return sql.SQL("{} > %s").format(column), [value]
