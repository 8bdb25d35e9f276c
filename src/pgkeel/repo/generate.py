"""`Table(...)` declarations from the live catalog (`pgkeel repo generate --schema S`).

Types, nullability and the primary key come from the catalog; a column named like a tenant
(`org_id`, `tenant_id`, `organization_id`) becomes the tenant, else the table is global;
`deleted_at`, `version` and `updated_at` become soft delete, version and updated-at; identity
and generated columns, the version and updated-at columns, and columns whose default is
computed (`now()`, `gen_random_uuid()`, a sequence) are not writable -- a constant default
(`'active'`, `false`) leaves the column writable. Filters and sorts are proposed from the
indexes: a column that an index leads with (after the tenant) gets `filter=`, and `sort=True`
when an index serves that order within the tenant (leads with the tenant, then the column), as
`Registry.check()` asks. The output is a Python module to commit and extend; `--check`
compares it with the catalog again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, LiteralString

from psycopg.rows import dict_row

from pgkeel.db import Database
from pgkeel.repo.fields import FieldType

__all__ = ["GeneratedColumn", "GeneratedTable", "generate_module", "read_schema"]

TABLES: LiteralString = """
SELECT c.relname AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND c.relname <> 'pgkeel_schema_history'
ORDER BY c.relname
"""

COLUMNS: LiteralString = """
SELECT c.relname AS table_name, a.attname AS name, format_type(a.atttypid, NULL) AS type,
       a.attnotnull AS not_null,
       (a.attidentity <> '' OR a.attgenerated <> '') AS filled,
       pg_get_expr(d.adbin, d.adrelid) AS default_expr
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  AND a.attgenerated = ''
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum
"""

# Key columns of every valid, non-partial index (expression columns come back as NULL).
INDEXES: LiteralString = """
SELECT c.relname AS table_name, i.indisprimary AS is_primary,
       array_agg(a.attname ORDER BY k.ord) AS columns
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE n.nspname = %s AND i.indisvalid AND i.indpred IS NULL AND k.ord <= i.indnkeyatts
GROUP BY c.relname, i.indexrelid, i.indisprimary
ORDER BY c.relname, i.indexrelid
"""

TENANT_COLUMNS = ("org_id", "tenant_id", "organization_id")
SENSITIVE_WORDS = ("password", "secret", "token", "hash", "digest")
"""A column named with one of these as its last word (`api_token`, `password_hash`), or with
`password` or `secret` anywhere, is proposed `sensitive=True` (never selected)."""
MANAGED_COLUMNS = ("version", "updated_at")
"""Columns the repository writes itself (optimistic locking, the updated-at stamp)."""
_CONSTANT = re.compile(
    r"^\(*(?:'(?:[^']|'')*'|-?\d+(?:\.\d+)?|true|false|NULL|ARRAY\[[^()]*\])\)*"
    r"(?:::[\w .\[\]\"]+)*$", re.IGNORECASE)
"""A default that is a constant (`'active'::text`, `0`, `false`, `'{}'::text[]`)."""
MAX_LINE = 99

_TYPES: dict[str, FieldType] = {
    "uuid": FieldType.UUID, "text": FieldType.TEXT, "character varying": FieldType.TEXT,
    "citext": FieldType.TEXT, "character": FieldType.TEXT, "integer": FieldType.INT,
    "bigint": FieldType.BIGINT, "smallint": FieldType.SMALLINT, "boolean": FieldType.BOOL,
    "numeric": FieldType.NUMERIC, "double precision": FieldType.FLOAT,
    "date": FieldType.DATE, "timestamp with time zone": FieldType.TIMESTAMPTZ,
    "jsonb": FieldType.JSONB, "text[]": FieldType.TEXT_ARRAY,
    "character varying[]": FieldType.TEXT_ARRAY, "bytea": FieldType.BYTEA,
}

_FILTERS: dict[FieldType, str] = {
    FieldType.UUID: "(Op.EQ, Op.IN)", FieldType.TEXT: "(Op.EQ, Op.IN, Op.ILIKE)",
    FieldType.BOOL: "(Op.EQ,)", FieldType.INT: "COMPARABLE", FieldType.BIGINT: "COMPARABLE",
    FieldType.SMALLINT: "COMPARABLE", FieldType.NUMERIC: "COMPARABLE",
    FieldType.FLOAT: "COMPARABLE", FieldType.DATE: "COMPARABLE",
    FieldType.TIMESTAMPTZ: "COMPARABLE",
}
"""Proposed operators for an indexed column, by type (others are not filterable)."""


@dataclass
class GeneratedColumn:
    name: str
    pg_type: str
    not_null: bool
    filled: bool
    """Filled by the database, not by the caller: identity, generated, or a computed
    default."""
    type: FieldType | None


@dataclass
class GeneratedTable:
    schema: str
    name: str
    columns: list[GeneratedColumn]
    primary_key: list[str]
    indexes: list[list[str | None]]

    @property
    def tenant(self) -> str | None:
        names = {c.name for c in self.columns}
        return next((t for t in TENANT_COLUMNS if t in names), None)

    def leading(self) -> set[str]:
        """Columns an index leads with, after the tenant column when it leads (filters)."""
        lead: set[str] = set()
        for columns in self.indexes:
            rest = columns[1:] if self.tenant and columns[:1] == [self.tenant] else columns
            if rest and rest[0] is not None:
                lead.add(rest[0])
        return lead

    def sortable(self) -> set[str]:
        """Columns an index orders within the tenant: (tenant, column, ...) on a tenant
        table, (column, ...) on a global one."""
        prefix = [self.tenant] if self.tenant else []
        return {str(columns[len(prefix)]) for columns in self.indexes
                if len(columns) > len(prefix) and columns[:len(prefix)] == prefix
                and columns[len(prefix)] is not None}


async def read_schema(db: Database, schema: str) -> list[GeneratedTable]:
    """Every ordinary or partitioned table of `schema`, with its columns and indexes."""
    tables, columns, indexes = await db.read_batch(
        [(TABLES, (schema,), dict_row), (COLUMNS, (schema,), dict_row),
         (INDEXES, (schema,), dict_row)], readonly=True)
    found = {t["name"]: GeneratedTable(schema, t["name"], [], [], []) for t in tables}
    for column in columns:
        table = found.get(column["table_name"])
        if table is not None:
            default = column["default_expr"]
            filled = column["filled"] or column["name"] in MANAGED_COLUMNS or (
                default is not None and not _CONSTANT.match(default))
            table.columns.append(GeneratedColumn(
                column["name"], column["type"], column["not_null"], filled,
                _TYPES.get(column["type"])))
    for index in indexes:
        table = found.get(index["table_name"])
        if table is None:
            continue
        if index["is_primary"]:
            table.primary_key = [c for c in index["columns"] if c is not None]
        table.indexes.append(list(index["columns"]))
    return list(found.values())


def _python_name(table: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in table).upper()


def _q(text: str | tuple[str, ...]) -> str:
    """A Python literal in the house style (double quotes)."""
    if isinstance(text, tuple):
        return "(" + ", ".join(_q(t) for t in text) + ")"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sensitive(name: str) -> bool:
    words = name.lower().split("_")
    return words[-1] in SENSITIVE_WORDS or any(w in name.lower() for w in SENSITIVE_WORDS[:2])


def _field(table: GeneratedTable, column: GeneratedColumn, lead: set[str],
           sortable: set[str]) -> str:
    assert column.type is not None
    parts = [_q(column.name), f"FieldType.{column.type.name}"]
    indexed = column.name in lead and column.name != table.tenant
    if indexed and column.type in _FILTERS:
        parts.append(f"filter={_FILTERS[column.type]}")
        if column.name in sortable:
            parts.append("sort=True")
    if column.not_null:
        parts.append("nullable=False")
    if column.filled and column.name != table.tenant:
        parts.append("writable=False")
    if _sensitive(column.name):
        parts.append("sensitive=True")
    line = f"    Field({', '.join(parts)}),"
    if len(line) > MAX_LINE:
        line = f"    Field({', '.join(parts[:2])},\n          {', '.join(parts[2:])}),"
    return line


def _table(table: GeneratedTable) -> list[str]:
    lines = [f"{_python_name(table.name)} = Table({_q(table.schema)}, {_q(table.name)}, ["]
    lead, sortable = table.leading(), table.sortable()
    for column in table.columns:
        if column.type is None:
            lines.append(f"    # {column.name}: {column.pg_type} has no FieldType; left out")
        else:
            lines.append(_field(table, column, lead, sortable))
    names = {c.name for c in table.columns if c.type is not None}
    options: list[str] = []
    if table.primary_key and table.primary_key != ["id"]:
        key = table.primary_key
        options.append(f"primary_key={_q(key[0])}" if len(key) == 1
                       else f"primary_key={_q(tuple(key))}")
    options.append(f"tenant={_q(table.tenant)}" if table.tenant else "global_table=True")
    for option, special in (("soft_delete", "deleted_at"), ("version", "version"),
                            ("updated_at", "updated_at")):
        if special in names:
            options.append(f"{option}={_q(special)}")
    lines += _wrapped("], ", options, ")")
    if not table.primary_key:
        lines.insert(0, f"# {table.name}: no primary key; declare primary_key=... yourself")
    return lines


def generate_module(schema: str, tables: list[GeneratedTable], *, source: str = "") -> str:
    """The Python module declaring `tables` (deterministic: same catalog, same text)."""
    out = [f'"""Table declarations for schema {_q(schema)}, generated from the database by',
           f"`pgkeel repo generate --schema {schema}`{source}.", "",
           "Review the proposed filters and sorts; `pgkeel repo generate --check` fails when",
           'the database has drifted from this file."""', "",
           "from pgkeel.repo import Field, FieldType, Op, Table",
           "from pgkeel.repo.fields import COMPARABLE", "",
           *_all(tables)]
    for table in tables:
        out += ["", "", *_table(table)]
    text = "\n".join(out) + "\n"
    if "Op." not in text.split("__all__", 1)[1]:
        text = text.replace("from pgkeel.repo import Field, FieldType, Op, Table",
                            "from pgkeel.repo import Field, FieldType, Table")
    if "COMPARABLE" not in text.split("__all__", 1)[1]:
        text = text.replace("from pgkeel.repo.fields import COMPARABLE\n", "")
    return text


def _wrapped(start: str, items: list[str], end: str) -> list[str]:
    """`start` + comma-separated `items` + `end`, continued under the first item when a
    line would pass MAX_LINE."""
    lines, line = [], start
    for i, item in enumerate(items):
        text = item + ("," if i < len(items) - 1 else end)
        if line != start and len(line) + 1 + len(text) > MAX_LINE:
            lines.append(line)
            line = " " * len(start) + text
        else:
            line += text if line == start else " " + text
    return [*lines, line]


def _all(tables: list[GeneratedTable]) -> list[str]:
    """The `__all__` line, one name per line when it would be too long."""
    names = [_q(_python_name(t.name)) for t in tables]
    line = "__all__ = [" + ", ".join(names) + "]"
    if len(line) <= MAX_LINE:
        return [line]
    return ["__all__ = [", *(f"    {name}," for name in names), "]"]


def describe(tables: list[GeneratedTable]) -> list[dict[str, Any]]:
    """`--json`: what was read, per table."""
    return [{"table": f"{t.schema}.{t.name}", "tenant": t.tenant, "primary_key": t.primary_key,
             "columns": [{"name": c.name, "type": c.pg_type, "not_null": c.not_null,
                          "field_type": c.type.value if c.type else None}
                         for c in t.columns]} for t in tables]
