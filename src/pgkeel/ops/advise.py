"""`pgkeel advise`: index and table advice from `ops.advise()`, each with the exact SQL to
run. pgkeel never runs it: dropping or building an index is the operator's decision."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pgkeel.db import Database
from pgkeel.ops import queries
from pgkeel.ops.schema import translated
from pgkeel.ops.whatif import hypopg_missing, what_if_foreign_key

__all__ = ["Advice", "advise"]


@dataclass(frozen=True)
class Advice:
    """One piece of advice: `kind` (invalid_index, duplicate_index, unused_index,
    foreign_key_without_index, sequential_scans, bloat, setting), what it is about, why,
    and the SQL."""

    kind: str
    object: str
    table_name: str
    reason: str
    sql: str
    details: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def advise(db: Database, *, unused_index_min_bytes: int = 10 * 1024 * 1024,
                 seq_scan_min_rows: int = 10_000, seq_scan_min_count: int = 100,
                 bloat_min_bytes: int = 10 * 1024 * 1024, bloat_min_ratio: float = 0.5,
                 what_if: bool = False) -> list[Advice]:
    """Advice for this database. Indexes smaller than `unused_index_min_bytes` (PgHero:
    10 MB) are not called unused; a table needs `seq_scan_min_count` sequential scans
    reading `seq_scan_min_rows` rows each on average to be called scan-heavy, and an
    estimated `bloat_min_bytes` of free space making `bloat_min_ratio` of it to be called
    bloated. Settings hints come last.

    `what_if=True` (hypopg): each foreign key without an index gets `details["what_if"]`,
    the planner's cost of the lookup a referenced row's DELETE makes, without and with the
    advised index (`WhatIf.as_dict()`, or `{"skipped": reason}`); without hypopg a
    `hypopg` advice says why there is no what-if and how to get one."""
    with translated():
        rows = await db.fetch_all(
            queries.ADVISE, (unused_index_min_bytes, seq_scan_min_rows, seq_scan_min_count),
            readonly=True)
        rows += await db.fetch_all(queries.ESTIMATE_BLOAT, (bloat_min_bytes, bloat_min_ratio),
                                   readonly=True)
        rows += await db.fetch_all(queries.ADVISE_SETTINGS, readonly=True)
    found = [Advice(**row) for row in rows]
    return await _with_what_ifs(db, found) if what_if else found


async def _with_what_ifs(db: Database, found: list[Advice]) -> list[Advice]:
    missing = await hypopg_missing(db)
    if missing is not None:
        return [*found, Advice("hypopg", "hypopg", "", missing,
                               "CREATE EXTENSION hypopg;", {"what_if": "skipped"})]
    for item in found:
        if item.kind == "foreign_key_without_index":
            result = await what_if_foreign_key(db, item.table_name, item.sql)
            item.details["what_if"] = (
                {"skipped": result} if isinstance(result, str) else result.as_dict())
    return found
