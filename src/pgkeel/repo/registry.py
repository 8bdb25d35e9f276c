"""`Registry`: the declared tables by name, their repositories, and the Python query API.

    registry = Registry(db, [users, courses])
    await registry.check()                                  # at start-up
    rows = await registry.find_many("courses", [("credits", ">=", 3)],
                                    order_by="title", limit=20, use_replica=True)

`find_many(table, conditions, order_by=, order_direction=, limit=, offset=, use_replica=)` runs
on the same engine as the HTTP grammar: tables and columns from the registry only,
operators from an allowlist, values always bound.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pgkeel.db import Database
from pgkeel.errors import UsageError
from pgkeel.repo.catalog import Advice, check_tables
from pgkeel.repo.cursor import CursorCodec
from pgkeel.repo.fields import Op
from pgkeel.repo.query import CountMode, Filter, ListQuery, SortKey
from pgkeel.repo.repository import Repository
from pgkeel.repo.table import Table

__all__ = ["OPERATORS", "Registry"]

OPERATORS: dict[str, Op] = {
    "=": Op.EQ, "!=": Op.NE, "<": Op.LT, "<=": Op.LTE, ">": Op.GT, ">=": Op.GTE,
    "IN": Op.IN, "NOT IN": Op.NOT_IN, "LIKE": Op.LIKE, "ILIKE": Op.ILIKE,
    "IS NULL": Op.IS, "IS NOT NULL": Op.IS, "BETWEEN": Op.BETWEEN,
}

Condition = tuple[str, str, Any] | tuple[str, str]


class Registry:
    """Repositories for a set of tables, addressed by table name."""

    def __init__(self, db: Database, tables: Iterable[Table], *,
                 cursor_codec: CursorCodec | None = None) -> None:
        self.db = db
        self.tables = {t.name: t for t in tables}
        self._repos: dict[str, Repository[dict[str, Any]]] = {
            name: Repository(db, t, cursor_codec=cursor_codec)
            for name, t in self.tables.items()}

    def repo(self, table: str) -> Repository[dict[str, Any]]:
        if table not in self._repos:
            match = difflib.get_close_matches(table, list(self._repos), n=1)
            raise UsageError(f"No registered table {table!r}.",
                             hint=f"Did you mean {match[0]!r}?" if match else None)
        return self._repos[table]

    async def check(self) -> list[Advice]:
        """Start-up validation of every table against the live catalog."""
        return await check_tables(self.db, self.tables.values())

    async def find_many(
        self, table: str,
        conditions: Mapping[str, Any] | Sequence[Condition] = (), *,
        order_by: str | Sequence[str] | None = None, order_direction: str = "asc",
        limit: int | None = None, offset: int = 0, use_replica: bool = False,
    ) -> list[dict[str, Any]]:
        """Rows of `table` (in the current organization) matching every condition.

        `conditions` is `{column: value}` (equality) or `[(column, operator, value)]` with an
        operator from OPERATORS (`IS NULL` / `IS NOT NULL` take no value).
        """
        repo = self.repo(table)
        spec = repo.table
        if order_direction.lower() not in ("asc", "desc"):
            raise UsageError("order_direction must be 'asc' or 'desc'.")
        items = (list(conditions.items()) if isinstance(conditions, Mapping)
                 else list(conditions))
        filters = [self._condition(spec, item) for item in items]
        names = [order_by] if isinstance(order_by, str) else list(order_by or ())
        sort = [SortKey(self._column(spec, n), order_direction.lower() == "desc")
                for n in names]
        size = limit or spec.page_size
        if not 1 <= size <= spec.max_page_size:
            raise UsageError(f"limit must be between 1 and {spec.max_page_size}.")
        if offset % size:
            raise UsageError("offset must be a multiple of limit.")
        query = ListQuery(filters=filters, sort=sort, page=offset // size + 1, page_size=size,
                          count=CountMode.NONE)
        page = await repo.list(query, replica=use_replica)
        return list(page.items)

    def _column(self, table: Table, name: str) -> Any:
        field = table.by_name.get(name)
        if field is None or field.sensitive:
            match = difflib.get_close_matches(name, [f.name for f in table.selectable], n=1)
            raise UsageError(f"{table.qualified} has no usable column {name!r}.",
                             hint=f"Did you mean {match[0]!r}?" if match else None)
        return field

    def _condition(self, table: Table, item: Any) -> Filter:
        value: Any
        if len(item) == 2 and isinstance(item[1], str) and item[1].upper() in (
                "IS NULL", "IS NOT NULL"):
            name, operator, value = item[0], item[1].upper(), None
        elif len(item) == 2:
            name, operator, value = item[0], "=", item[1]
        else:
            name, operator, value = item[0], str(item[1]).upper(), item[2]
        field = self._column(table, name)
        op = OPERATORS.get(operator)
        if op is None:
            raise UsageError(f"Operator {operator!r} is not allowed.",
                             hint=f"Use one of: {', '.join(OPERATORS)}.")
        if op is Op.IS:
            return Filter(field, op, operator == "IS NULL")
        if op in (Op.IN, Op.NOT_IN, Op.BETWEEN):
            value = list(value)
            if op is Op.BETWEEN and len(value) != 2:
                raise UsageError("BETWEEN takes two values.")
        return Filter(field, op, value)
