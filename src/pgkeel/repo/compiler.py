"""SQL for a `Table`, composed only with `psycopg.sql` from the declaration.

A list request compiles to a *shape* (which filters with which operators, which sort, keyset or
offset) plus parameter values. Each shape is rendered to bytes once and cached, so repeated
requests skip composition and PostgreSQL can reuse the prepared statement. The pieces a
statement is made of (a tenant condition, a filter, an ORDER BY) are cached too, by the part of
the shape they depend on. `scope_values`, `filter_values`, `search_values` and `after_terms`
give the parameters each piece binds without composing it, so that a caller that remembers a
shape's statements (the list path and primary-key reads do) collects a repeated request's
values alone.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from psycopg import sql

from pgkeel.repo.fields import Field, FieldType, Op, Search
from pgkeel.repo.query import Filter, SortKey
from pgkeel.repo.table import Table

__all__ = ["Compiler", "Order", "Where", "after_terms", "filter_values", "scope_values",
           "search_values"]

T = TypeVar("T")
Order = tuple[tuple[str, bool], ...]
"""ORDER BY terms: (column name, descending) pairs."""

_CACHE_LIMIT = 512

_COMPARISONS: dict[Op, sql.SQL] = {
    Op.EQ: sql.SQL("{} = %s"), Op.NE: sql.SQL("{} <> %s"),
    Op.LT: sql.SQL("{} < %s"), Op.LTE: sql.SQL("{} <= %s"),
    Op.GT: sql.SQL("{} > %s"), Op.GTE: sql.SQL("{} >= %s"),
    Op.IN: sql.SQL("{} = ANY(%s)"), Op.NOT_IN: sql.SQL("{} <> ALL(%s)"),
    Op.LIKE: sql.SQL("{} LIKE %s"), Op.ILIKE: sql.SQL("{} ILIKE %s"),
}


_EQUALS = sql.SQL("{} = %s")
_IS_NULL = sql.SQL("{} IS NULL")
_IS_NOT_NULL = sql.SQL("{} IS NOT NULL")
_BETWEEN = sql.SQL("{} BETWEEN %s AND %s")


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
        self._fragments: dict[Hashable, sql.Composable] = {}
        self._memo: dict[Hashable, Any] = {}

    def remember(self, key: Hashable, build: Callable[[], T]) -> T:
        """`build()`'s result for `key`, computed once (bounded like the SQL caches): for
        what a request derives from its shape alone, such as its total sort."""
        found: T | None = self._memo.get(key)
        if found is None:
            if len(self._memo) >= _CACHE_LIMIT:
                self._memo.clear()
            found = self._memo[key] = build()
        return found

    def fragment(self, key: Hashable, build: Callable[[], sql.Composable]) -> sql.Composable:
        """The piece of SQL for `key`, composed once by `build()`."""
        part = self._fragments.get(key)
        if part is None:
            if len(self._fragments) >= _CACHE_LIMIT:
                self._fragments.clear()
            part = self._fragments[key] = build()
        return part

    def _on(self, template: sql.SQL, field: Field, key: Hashable) -> sql.Composable:
        """`template` formatted with `field`'s column, cached under `key`."""
        part = self._fragments.get(key)
        if part is None:
            part = self.fragment(key, lambda: template.format(col(field)))
        return part

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
            where.add(self._on(_EQUALS, table.field(table.tenant), "tenant"), "tenant", tenant)
        if table.soft_delete is not None and not include_deleted:
            where.add(self._on(_IS_NULL, table.field(table.soft_delete), "live"), "live")

    def key(self, where: Where, pk: Sequence[Any]) -> None:
        for name, value in zip(self.table.primary_key, pk, strict=True):
            shape = ("pk", name)
            where.add(self._on(_EQUALS, self.table.field(name), shape), shape, value)

    def filters(self, where: Where, filters: Sequence[Filter]) -> None:
        for item in filters:
            if item.custom is not None:
                predicate = self.table.custom_filters[item.custom].predicate
                shape: Hashable = ("custom", item.custom)
                where.add(self.fragment(shape, partial(sql.SQL, "(" + predicate + ")")),
                          shape, *filter_values(item))
                continue
            assert item.field is not None
            shape = (item.field.name, item.op)
            if item.op is Op.IS:
                shape = (*shape, item.value)
                test = _IS_NULL if item.value else _IS_NOT_NULL
                where.add(self._on(test, item.field, shape), shape)
            else:
                template = _BETWEEN if item.op is Op.BETWEEN else _COMPARISONS[item.op]
                where.add(self._on(template, item.field, shape), shape, *filter_values(item))

    def search(self, where: Where, text: str) -> None:
        """`q`: OR across the searchable fields, each matched its declared way."""
        where.add(self.fragment("search", self._search_terms), "search",
                  *search_values(self.table, text))

    def _search_terms(self) -> sql.Composable:
        terms: list[sql.Composable] = []
        config = sql.Literal(self.table.search_config)
        for item in self.table.searchable:
            if item.search is Search.FTS and item.type is FieldType.TSVECTOR:
                terms.append(sql.SQL("{col} @@ websearch_to_tsquery({c}, %s)")
                             .format(c=config, col=col(item)))
            elif item.search is Search.FTS:
                terms.append(sql.SQL("to_tsvector({c}, {col}) @@ websearch_to_tsquery({c}, %s)")
                             .format(c=config, col=col(item)))
            else:
                terms.append(sql.SQL("{} ILIKE %s").format(col(item)))
        return sql.SQL("({})").format(sql.SQL(" OR ").join(terms))

    def order(self, keys: Sequence[SortKey], *, backward: bool = False) -> Order:
        """The ORDER BY terms for `keys`: (column, descending) pairs, hashable for caching."""
        return tuple((k.field.name, k.descending != backward) for k in keys)

    def _order_by(self, order: Order) -> sql.Composable:
        return self.fragment(("order", order), lambda: sql.SQL(", ").join(
            _order_term(self.table.field(name), descending) for name, descending in order))

    def after(self, where: Where, keys: Sequence[SortKey], values: Sequence[Any], *,
              backward: bool) -> None:
        """Rows strictly after `values` in the (possibly reversed) sort order.

        Same direction and no NULLs possible: one row-value comparison, which the index
        serves as an Index Cond. Otherwise the OR-expansion, with NULLs placed explicitly
        (ascending: NULLS LAST; descending: NULLS FIRST -- PostgreSQL's defaults, so default
        btree indexes still apply).
        """
        shape, params = after_terms(keys, values, backward=backward)
        directions: tuple[bool, ...] = shape[1]
        names = tuple(k.field.name for k in keys)
        if shape[0] == "after-row":
            op = "<" if directions[0] else ">"

            def row_comparison() -> sql.Composable:
                row = sql.SQL(", ").join(col(k.field) for k in keys)
                marks = sql.SQL(", ").join(sql.Placeholder() * len(keys))
                return sql.SQL("({}) " + op + " ({})").format(row, marks)

            where.add(self.fragment((shape, names), row_comparison), shape, *params)
            return

        def expansion() -> sql.Composable:
            disjuncts: list[sql.Composable] = []
            unused: list[Any] = []
            for i, (key, value) in enumerate(zip(keys, values, strict=True)):
                beyond = _beyond(key.field, value, directions[i])
                if beyond is None:
                    continue
                terms = [_equal(k.field, v, unused) for k, v in zip(keys[:i], values[:i],
                                                                    strict=True)]
                terms.append(beyond[0])
                disjuncts.append(sql.SQL("({})").format(sql.SQL(" AND ").join(terms)))
            if not disjuncts:
                return sql.SQL("FALSE")
            return sql.SQL("({})").format(sql.SQL(" OR ").join(disjuncts))

        where.add(self.fragment((shape, names), expansion), shape, *params)

    # -- whole statements ----------------------------------------------------------------------

    def cached(self, shape: Hashable, build: Any) -> bytes:
        """The rendered statement for `shape`, built once by `build()`."""
        query = self._cache.get(shape)
        if query is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            query = self._cache[shape] = build().as_bytes(None)
        return query

    def select(self, where: Where, *, order: Order = (), limit: bool = False,
               offset: bool = False, include: Sequence[str] = ()) -> bytes:
        """A SELECT of the table's columns; cached on every input that changes its text."""
        def build() -> sql.Composable:
            parts: list[sql.Composable] = [
                sql.SQL("SELECT {} FROM {} WHERE {}").format(self.columns(include), self.source,
                                                           where.render())]
            if order:
                parts.append(sql.SQL(" ORDER BY {}").format(self._order_by(order)))
            if limit:
                parts.append(sql.SQL(" LIMIT %s"))
            if offset:
                parts.append(sql.SQL(" OFFSET %s"))
            return sql.Composed(parts)
        return self.cached(("select", tuple(where.shape), tuple(include), order, limit, offset),
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


def scope_values(table: Table, tenant: Any) -> list[Any]:
    """The parameters `Compiler.scope` binds: the tenant, when the table has one."""
    return [tenant] if table.tenant is not None else []


def filter_values(item: Filter) -> tuple[Any, ...]:
    """The parameters `Compiler.filters` binds for one filter, in order."""
    if item.custom is not None:
        return (item.value,)
    if item.op is Op.IS:
        return ()
    if item.op is Op.BETWEEN:
        return tuple(item.value)
    return (item.value,)


def search_values(table: Table, text: str) -> list[Any]:
    """The parameters of `Compiler.search`: one per searchable field, each as it matches."""
    pattern = escape_like(text) + "%"
    return [text if item.search is Search.FTS
            else pattern if item.search is Search.PREFIX else "%" + pattern
            for item in table.searchable]


def after_terms(keys: Sequence[SortKey], values: Sequence[Any], *,
                backward: bool) -> tuple[tuple[Any, ...], list[Any]]:
    """The shape of `Compiler.after`'s condition (which decides its text) and its
    parameters: a row comparison when every key runs one way and none can be NULL, else
    the OR-expansion, which binds no parameter for a NULL."""
    directions = tuple(k.descending != backward for k in keys)
    nullable = any(k.field.nullable for k in keys) or any(v is None for v in values)
    if not nullable and len(set(directions)) == 1:
        return ("after-row", directions), list(values)
    params: list[Any] = []
    for i, value in enumerate(values):
        if value is None and not directions[i]:
            continue  # ascending after NULL: nothing follows on this key
        params.extend(v for v in values[:i] if v is not None)
        if value is not None:
            params.append(value)
    return ("after-or", directions, tuple(v is None for v in values)), params


def _order_term(field: Field, descending: bool) -> sql.Composable:
    direction = " DESC" if descending else " ASC"
    if field.nullable:
        direction += " NULLS FIRST" if descending else " NULLS LAST"
    return sql.SQL("{}" + direction).format(col(field))


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
