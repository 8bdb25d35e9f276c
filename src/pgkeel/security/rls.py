"""Row-level security for tenant tables, written by the library so apps never hand-write it.

    print(rls_sql(USERS).as_string(None))       # or: pgkeel security rls-sql --table mod:USERS

For a table with a tenant column, the SQL enables and *forces* row-level security (so the
table's owner is subject to it too) and creates one policy, `pgkeel_tenant`, whose USING and
WITH CHECK both compare the tenant column with the transaction's `pgkeel.org_id` setting --
the setting `Database.transaction()` writes from `use_context(org_id=...)`. The setting is
read once per statement (a scalar subquery is an InitPlan), and an unset or empty setting
becomes NULL, which matches no row: a session without an organization sees nothing and
writes nothing (fail closed).
"""

from __future__ import annotations

from typing import Final

from psycopg import sql

from pgkeel.repo import FieldType, Table

__all__ = ["ORG_SETTING", "POLICY", "rls_sql", "rls_sql_for", "tenant_predicate"]

ORG_SETTING: Final = "pgkeel.org_id"
"""The transaction-local setting policies read (set by every `Database.transaction()`)."""

POLICY: Final = "pgkeel_tenant"
"""The name of the tenant policy on every tenant table."""

_CASTS: dict[str, sql.Composable] = {
    FieldType.UUID.value: sql.SQL("::uuid"),
    FieldType.TEXT.value: sql.SQL(""),
    FieldType.BIGINT.value: sql.SQL("::bigint"),
    FieldType.INT.value: sql.SQL("::integer"),
    FieldType.SMALLINT.value: sql.SQL("::smallint"),
}


def tenant_predicate(column: str, column_type: str) -> sql.Composed:
    """`column = (SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::<type>)`."""
    cast = _CASTS.get(column_type)
    if cast is None:
        raise ValueError(f"a tenant column must be one of {', '.join(_CASTS)}, "
                         f"not {column_type!r}")
    return sql.SQL("{} = (SELECT NULLIF(current_setting({}, true), ''){})").format(
        sql.Identifier(column), sql.Literal(ORG_SETTING), cast)


def rls_sql_for(schema: str, table: str, column: str, column_type: str, *,
                extra_policies: sql.Composable | None = None) -> sql.Composed:
    """The statements for one table (idempotent: the policy is dropped and re-created)."""
    target = sql.Identifier(schema, table)
    predicate = tenant_predicate(column, column_type)
    parts: list[sql.Composable] = [
        sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY;\n").format(target),
        sql.SQL("ALTER TABLE {} FORCE ROW LEVEL SECURITY;\n").format(target),
        sql.SQL("DROP POLICY IF EXISTS {} ON {};\n").format(sql.Identifier(POLICY), target),
        sql.SQL("CREATE POLICY {} ON {}\n    USING ({})\n    WITH CHECK ({});\n").format(
            sql.Identifier(POLICY), target, predicate, predicate),
    ]
    if extra_policies is not None:
        parts.append(extra_policies)
    return sql.Composed(parts)


def rls_sql(table: Table) -> sql.Composed:
    """The row-level security statements for a declared tenant table."""
    if table.tenant is None:
        raise ValueError(f"{table.qualified} is a global table: it has no tenant column")
    return rls_sql_for(table.schema, table.name, table.tenant,
                       table.field(table.tenant).type.value)
