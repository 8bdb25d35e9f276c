"""What an index would do, before anyone builds it: hypopg's hypothetical indexes, as Dexter
uses them. The planner costs a statement, then costs it again with a hypothetical index that
exists only in this session's memory; nothing is written and nothing is built.

    result = await what_if(db, "CREATE INDEX ON shop.orders (customer_id)",
                           "SELECT * FROM shop.orders WHERE customer_id = %s", (42,))
    result.cost_before, result.cost_after, result.index_used

hypopg must be created in the database (`CREATE EXTENSION hypopg`, Debian's
`postgresql-15-hypopg` for PostgreSQL 15); pgkeel never creates it, and without it the
what-if is skipped with the reason (`hypopg_missing`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Final

from psycopg import sql
from psycopg.abc import Params

from pgkeel.db import Database, Transaction
from pgkeel.errors import PgkeelError

__all__ = ["WhatIf", "hypopg_missing", "what_if", "what_if_foreign_key"]

HYPOPG_STATE: Final = """
SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'hypopg') AS created,
       EXISTS (SELECT FROM pg_available_extensions WHERE name = 'hypopg') AS available
"""
CREATE_HYPOTHETICAL: Final = "SELECT indexname FROM hypopg_create_index(%s)"
RESET_HYPOTHETICAL: Final = "SELECT hypopg_reset()"
# The advice's `CREATE INDEX CONCURRENTLY ON table (columns);`, as hypopg takes it.
_ADVISED_INDEX = re.compile(r"^CREATE INDEX CONCURRENTLY ON (?P<table>.+) \((?P<cols>.+)\);$")


@dataclass(frozen=True)
class WhatIf:
    """The planner's total cost of `query` without and with the hypothetical `index`, and
    whether the plan with it uses it."""

    index: str
    query: str
    cost_before: float
    cost_after: float
    index_used: bool

    @property
    def saving_pct(self) -> float:
        if self.cost_before <= 0:
            return 0.0
        return round(100.0 * (self.cost_before - self.cost_after) / self.cost_before, 1)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "saving_pct": self.saving_pct}


async def hypopg_missing(db: Database) -> str | None:
    """None when hypopg can be used here; otherwise why not, and what would make it so."""
    row = await db.fetch_one(HYPOPG_STATE, readonly=True)
    assert row is not None
    if row["created"]:
        return None
    if row["available"]:
        return ("hypopg is installed on the server but not created in this database: "
                "CREATE EXTENSION hypopg; (as its owner) enables the what-if")
    return ("hypopg is not installed on this server (Debian: apt-get install "
            "postgresql-15-hypopg, for the server's major version), so there is no what-if")


async def what_if(db: Database, index: str, query: str | sql.Composable,
                  params: Params | None = None) -> WhatIf:
    """Cost `query` (with `params`) without and with the hypothetical `index` (a CREATE INDEX
    statement without CONCURRENTLY). The hypothetical index lives in one transaction's
    connection and is dropped before it ends."""
    async with db.transaction() as tx:
        before = await _plan(tx, query, params)
        name = await tx.fetch_val(CREATE_HYPOTHETICAL, (index,))
        try:
            after = await _plan(tx, query, params)
        finally:
            await tx.execute(RESET_HYPOTHETICAL)
    text = query if isinstance(query, str) else query.as_string(None)
    return WhatIf(index, text, float(before["Total Cost"]), float(after["Total Cost"]),
                  str(name) in _index_names(after))


async def what_if_foreign_key(db: Database, table: str, advised_sql: str) -> WhatIf | str:
    """The what-if of a `foreign_key_without_index` advice: the lookup a DELETE or UPDATE of
    a referenced row makes (`WHERE columns = values`, with the values of one of the table's
    rows), without and with the advised index. A reason (str) when it cannot be planned."""
    match = _ADVISED_INDEX.match(advised_sql)
    if match is None:
        return f"not an index this what-if understands: {advised_sql}"
    # Both are identifiers quoted by the catalog (quote_ident), as the advice's SQL holds them.
    relation, columns = sql.SQL(match["table"]), match["cols"].split(", ")
    sample = await db.fetch_one(
        sql.SQL("SELECT {} FROM {} LIMIT 1").format(
            sql.SQL(", ").join(sql.SQL(c) for c in columns), relation), readonly=True)
    if sample is None:
        return f"{table} has no rows to plan a lookup with"
    condition = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.SQL(c)) for c in columns)
    probe = sql.SQL("SELECT 1 FROM {} WHERE {}").format(relation, condition)
    try:
        return await what_if(db, f"CREATE INDEX ON {match['table']} ({match['cols']})", probe,
                             tuple(sample.values()))
    except PgkeelError as exc:
        return f"the what-if failed: {exc.message}"


async def _plan(tx: Transaction, query: str | sql.Composable, params: Params | None
                ) -> dict[str, Any]:
    explain = sql.SQL("EXPLAIN (FORMAT JSON) {}").format(
        sql.SQL(query) if isinstance(query, str) else query)
    plan = await tx.fetch_val(explain, params)
    top: dict[str, Any] = plan[0]["Plan"]
    return top


def _index_names(node: dict[str, Any]) -> set[str]:
    names = {str(node["Index Name"])} if "Index Name" in node else set()
    for child in node.get("Plans", []):
        names |= _index_names(child)
    return names
