"""Start-up checks of declared tables against the live catalog.

A declared column that is missing or of another type is an error (`SchemaMismatch`): the
service must not start on a schema it does not understand. A sortable field or tenant access
path without a supporting index is a warning that carries the CREATE INDEX to add; so is a
tenant table without forced row-level security (the second tenancy layer).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import LiteralString

from psycopg import sql
from psycopg.rows import dict_row

from pgkeel.db import Database
from pgkeel.errors import SchemaMismatch
from pgkeel.repo.fields import FieldType
from pgkeel.repo.table import Table

__all__ = ["Advice", "check_tables"]

COLUMNS: LiteralString = """
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null
FROM pg_attribute a
WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
"""

# Leading key columns of every valid, non-expression index on the table, with the predicate
# of a partial index (NULL for a full one).
INDEXES: LiteralString = """
SELECT i.indexrelid::regclass::text AS name,
       array_agg(a.attname ORDER BY k.ord) AS columns,
       pg_get_expr(i.indpred, i.indrelid) AS predicate
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = to_regclass(%s) AND i.indisvalid
  AND k.ord <= i.indnkeyatts
GROUP BY i.indexrelid
"""

# Whether row-level security is on and forced, and how many policies the table has.
ROW_SECURITY: LiteralString = """
SELECT c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced,
       (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
FROM pg_class c WHERE c.oid = to_regclass(%s)
"""

# format_type() spellings each declared type accepts.
_ACCEPTS: dict[FieldType, tuple[str, ...]] = {
    FieldType.TEXT: ("text", "character varying", "citext", "character"),
    FieldType.NUMERIC: ("numeric",),
    FieldType.TEXT_ARRAY: ("text[]", "character varying[]"),
    FieldType.TIMESTAMPTZ: ("timestamp with time zone",),
}


@dataclass(frozen=True)
class Advice:
    """A warning about a declared table, with the statement that would fix it."""

    table: str
    message: str
    fix: str | None = None


def _type_ok(declared: FieldType, actual: str) -> bool:
    accepted = _ACCEPTS.get(declared, (declared.value,))
    return any(actual == a or actual.startswith(a + "(") for a in accepted)


def _index_sql(table: Table, columns: list[str]) -> str:
    name = "_".join(["idx", table.name, *columns])[:63]
    return sql.SQL("CREATE INDEX CONCURRENTLY {} ON {} ({});").format(
        sql.Identifier(name), table.ident, sql.SQL(", ").join(map(sql.Identifier, columns))
    ).as_string(None)


async def check_tables(db: Database, tables: Iterable[Table]) -> list[Advice]:
    """Verify every table; raise SchemaMismatch listing all problems, else return advice."""
    problems: list[str] = []
    advice: list[Advice] = []
    for table in tables:
        statements = [(COLUMNS, (table.qualified,), dict_row),
                      (INDEXES, (table.qualified,), dict_row),
                      (ROW_SECURITY, (table.qualified,), dict_row)]
        columns, indexes, security = await db.read_batch(statements, readonly=True)
        if not columns:
            problems.append(f"{table.qualified}: table does not exist")
            continue
        live = {c["name"]: c for c in columns}
        for field in table.fields:
            column = live.get(field.name)
            if column is None:
                problems.append(f"{table.qualified}.{field.name}: column does not exist")
            elif not _type_ok(field.type, column["type"]):
                problems.append(f"{table.qualified}.{field.name}: declared {field.type.value}, "
                                f"the database has {column['type']}")
            elif not field.nullable and not column["not_null"]:
                advice.append(Advice(table.qualified, f"{field.name} is declared NOT NULL but "
                                     "the column allows NULL (keyset paging assumes it)."))
        advice += _index_advice(table, [list(i["columns"]) for i in indexes
                                        if _serves_lists(table, i["predicate"])])
        rls = security[0] if security else None
        if table.tenant and rls and not (rls["enabled"] and rls["forced"] and rls["policies"]):
            advice.append(Advice(
                table.qualified, "tenant table without forced row-level security and a "
                "policy: only repository scoping keeps organizations apart; add the SQL "
                "`pgkeel security rls-sql --table <module>:<NAME>` prints in a migration"))
    if problems:
        raise SchemaMismatch("Declared tables do not match the database: "
                             + "; ".join(problems), details={"problems": problems},
                             hint="Apply the pending migrations, or fix the declaration.")
    return advice


def _serves_lists(table: Table, predicate: str | None) -> bool:
    """Whether an index with this predicate can serve the table's lists: a full index, or a
    partial one on exactly the live rows (`<soft delete column> IS NULL`), which is what
    every list reads unless it asks for deleted rows."""
    if predicate is None:
        return True
    if table.soft_delete is None:
        return False
    column = sql.Identifier(table.soft_delete).as_string(None)
    live = {f"({table.soft_delete} IS NULL)", f"({column} IS NULL)"}
    return predicate in live


def _index_advice(table: Table, indexes: list[list[str]]) -> list[Advice]:
    advice: list[Advice] = []
    lead = [table.tenant] if table.tenant else []
    if table.tenant and not any(ix[:1] == lead for ix in indexes):
        advice.append(Advice(table.qualified, f"no index leads with the tenant column "
                             f"{table.tenant}", _index_sql(table, lead)))
    for field in table.sortable.values():
        wanted = [*lead, field.name]
        if not any(ix[:len(wanted)] == wanted for ix in indexes):
            advice.append(Advice(table.qualified, f"sorting by {field.name} has no index "
                                 f"on ({', '.join(wanted)})", _index_sql(table, wanted)))
    return advice
