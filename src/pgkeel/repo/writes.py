"""INSERT / UPDATE / UPSERT / DELETE / COPY statements for a table, cached per shape.

Only declared columns can be written; a column the database fills (`writable=False`), the
tenant, the primary key and the version can never be changed by an update.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, LiteralString

from psycopg import sql

from pgkeel.db import Transaction
from pgkeel.errors import UsageError
from pgkeel.repo.compiler import Compiler, Where
from pgkeel.repo.fields import did_you_mean

__all__ = ["CHUNK", "copy_rows", "delete", "insert", "set_deleted", "update", "upsert"]

CHUNK = 500
"""Rows per multi-row INSERT statement."""


def _columns(compiler: Compiler, names: Sequence[str]) -> list[str]:
    table = compiler.table
    unknown = [n for n in names if n not in table.by_name]
    if unknown:
        api = table.by_api.get(unknown[0])
        raise UsageError(f"{table.qualified} has no column {unknown[0]!r}.",
                         details={"columns": unknown},
                         hint=(f"{unknown[0]!r} is the API name of {api.name!r}: map a body "
                               "with Table.from_api()." if api is not None else
                               did_you_mean(unknown[0], table.by_name)
                               or f"Known columns: {', '.join(sorted(table.by_name))}."))
    return list(names)


def insert(compiler: Compiler, first: Mapping[str, Any], count: int,
           rows: Sequence[Mapping[str, Any]] | None = None) -> tuple[bytes, list[Any]]:
    """INSERT of `count` rows shaped like `first` (all rows must have the same columns)."""
    names = _columns(compiler, sorted(first))
    rows = rows or [first]
    params: list[Any] = []
    expected = set(names)
    for row in rows:
        if row.keys() != expected:
            raise UsageError("All rows of create_many() need the same columns.")
        params.extend(row[n] for n in names)

    def build() -> sql.Composable:
        one = sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(names)))
        return sql.SQL("INSERT INTO {} ({}) VALUES {} RETURNING {}").format(
            compiler.table.ident, sql.SQL(", ").join(map(sql.Identifier, names)),
            sql.SQL(", ").join([one] * count), compiler.returning())
    return compiler.cached(("insert", tuple(names), count), build), params


def _assignments(compiler: Compiler, changes: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
    table = compiler.table
    names = _columns(compiler, sorted(changes))
    fixed = {table.tenant, table.version, table.soft_delete, *table.primary_key}
    for name in names:
        if name in fixed or not table.field(name).writable:
            raise UsageError(f"{table.qualified}.{name} cannot be changed by update().")
    return names, [changes[n] for n in names]


def _bookkeeping(compiler: Compiler) -> list[sql.Composable]:
    """version + 1 and updated_at = now(), where the table has them."""
    table = compiler.table
    extra: list[sql.Composable] = []
    if table.version is not None:
        extra.append(sql.SQL("{c} = t.{c} + 1").format(c=sql.Identifier(table.version)))
    if table.updated_at is not None:
        extra.append(sql.SQL("{} = now()").format(sql.Identifier(table.updated_at)))
    return extra


def update(compiler: Compiler, changes: Mapping[str, Any],
           where: Where) -> tuple[bytes, list[Any]]:
    names, values = _assignments(compiler, changes)

    def build() -> sql.Composable:
        sets = [sql.SQL("{} = %s").format(sql.Identifier(n)) for n in names]
        return sql.SQL("UPDATE {} SET {} WHERE {} RETURNING {}").format(
            compiler.source, sql.SQL(", ").join([*sets, *_bookkeeping(compiler)]),
            where.render(), compiler.returning())
    return compiler.cached(("update", tuple(names), tuple(where.shape)), build), \
        [*values, *where.params]


def upsert(compiler: Compiler, values: Mapping[str, Any], conflict: Sequence[str],
           update_columns: Sequence[str] | None) -> tuple[bytes, list[Any]]:
    table = compiler.table
    names = _columns(compiler, sorted(values))
    targets = _columns(compiler, list(conflict))
    never = {*targets, table.tenant, *table.primary_key}
    changing = [n for n in (update_columns or names) if n not in never]
    _assignments(compiler, {n: None for n in changing})

    def build() -> sql.Composable:
        sets: list[sql.Composable] = [
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(n)) for n in changing]
        sets += _bookkeeping(compiler)
        if not sets:  # nothing to change: touch a target so RETURNING still yields the row
            sets = [sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(targets[0]))]
        guard: sql.Composable = sql.SQL("")
        if table.tenant is not None:
            guard = sql.SQL(" WHERE t.{c} = EXCLUDED.{c}").format(c=sql.Identifier(table.tenant))
        return sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}{} "
                       "RETURNING {}").format(
            compiler.source, sql.SQL(", ").join(map(sql.Identifier, names)),
            sql.SQL(", ").join(sql.Placeholder() * len(names)),
            sql.SQL(", ").join(map(sql.Identifier, targets)), sql.SQL(", ").join(sets), guard,
            compiler.returning())
    shape = ("upsert", tuple(names), tuple(targets), tuple(changing))
    return compiler.cached(shape, build), [values[n] for n in names]


def delete(compiler: Compiler, where: Where) -> bytes:
    def build() -> sql.Composable:
        return sql.SQL("DELETE FROM {} WHERE {} RETURNING 1").format(compiler.source,
                                                                      where.render())
    return compiler.cached(("delete", tuple(where.shape)), build)


def set_deleted(compiler: Compiler, where: Where, deleted: bool) -> bytes:
    column = compiler.table.soft_delete
    assert column is not None

    def build() -> sql.Composable:
        value = sql.SQL("now()" if deleted else "NULL")
        sets = [sql.SQL("{} = {}").format(sql.Identifier(column), value),
                *_bookkeeping(compiler)]
        return sql.SQL("UPDATE {} SET {} WHERE {} RETURNING {}").format(
            compiler.source, sql.SQL(", ").join(sets), where.render(), compiler.returning())
    return compiler.cached(("set_deleted", deleted, tuple(where.shape)), build)


# COPY FROM refuses a table where row-level security applies to the current role; such rows
# are copied into a temporary table of the same columns, then inserted from it, so that the
# table's policies still check every row (WITH CHECK) and its triggers still run.
RLS_ACTIVE: LiteralString = "SELECT row_security_active(%s::regclass)"
STAGING = "pgkeel_copy_staging"


async def copy_rows(compiler: Compiler, tx: Transaction,
                    rows: Sequence[Mapping[str, Any]]) -> int:
    """COPY rows in (binary-safe text COPY through psycopg); returns how many. Under
    row-level security, through a temporary staging table and INSERT ... SELECT."""
    names = _columns(compiler, sorted(rows[0]))
    columns = sql.SQL(", ").join(map(sql.Identifier, names))
    await tx.begin()
    target = compiler.table.ident
    staged = bool(await tx.fetch_val(RLS_ACTIVE, (compiler.table.qualified,)))
    if staged:
        target = sql.Identifier(STAGING)
        await tx.execute(sql.SQL(
            "CREATE TEMPORARY TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA"
        ).format(target, columns, compiler.table.ident))
    cursor = tx.connection.cursor()
    expected = set(names)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(target, columns)
    async with cursor.copy(statement) as copy:
        for row in rows:
            if row.keys() != expected:
                raise UsageError("All rows of create_many() need the same columns.")
            await copy.write_row([row[n] for n in names])
    if staged:
        await tx.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
            compiler.table.ident, columns, columns, target))
        await tx.execute(sql.SQL("DROP TABLE {}").format(target))
    tx.wrote = True
    return len(rows)
