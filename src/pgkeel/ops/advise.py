"""`pgkeel advise`: index and table advice from `ops.advise()`, each with the exact SQL to
run. pgkeel never runs it: dropping or building an index is the operator's decision."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pgkeel.db import Database
from pgkeel.ops import queries
from pgkeel.ops.schema import translated

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
                 bloat_min_bytes: int = 10 * 1024 * 1024, bloat_min_ratio: float = 0.5
                 ) -> list[Advice]:
    """Advice for this database. Indexes smaller than `unused_index_min_bytes` (PgHero:
    10 MB) are not called unused; a table needs `seq_scan_min_count` sequential scans
    reading `seq_scan_min_rows` rows each on average to be called scan-heavy, and an
    estimated `bloat_min_bytes` of free space making `bloat_min_ratio` of it to be called
    bloated. Settings hints come last."""
    with translated():
        rows = await db.fetch_all(
            queries.ADVISE, (unused_index_min_bytes, seq_scan_min_rows, seq_scan_min_count),
            readonly=True)
        rows += await db.fetch_all(queries.ESTIMATE_BLOAT, (bloat_min_bytes, bloat_min_ratio),
                                   readonly=True)
        rows += await db.fetch_all(queries.ADVISE_SETTINGS, readonly=True)
    return [Advice(**row) for row in rows]
