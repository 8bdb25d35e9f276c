"""Analytics beacons that never slow a page: each is validated, offered to a
`pgkeel.ingest.BatchQueue` (bounded, in memory) and answered 204. The queue's writer hands
batches to `BeaconWriter.write`: one multi-row INSERT per table and organization, a
transaction per organization (COPY is refused under row-level security). The queue retries a
failed batch with backoff, writes everything still queued when the service stops, and drops
and counts a beacon offered to a full queue (analytics must not push back on page loads):
`pgkeel_ingest_dropped_total{queue="dealership.beacons"}`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, LiteralString

from pgkeel.db import Database, use_context
from pgkeel.ingest import BatchQueue, IngestStats

INSERTS: Final[Mapping[str, LiteralString]] = {
    "car_views": """
INSERT INTO dealership.car_views (organization_id, car_id, session_id, ip_address, user_agent,
                                  referrer, created_at)
SELECT %s, * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::text[],
                         %s::timestamptz[])
""",
    "page_views": """
INSERT INTO dealership.page_views (organization_id, path, session_id, referrer, load_time_ms,
                                   created_at)
SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::text[], %s::integer[], %s::timestamptz[])
""",
    "web_vitals": """
INSERT INTO dealership.web_vitals (organization_id, name, value, path, rating, created_at)
SELECT %s, * FROM unnest(%s::text[], %s::float8[], %s::text[], %s::text[], %s::timestamptz[])
""",
}
"""Per table: the organization, then one array per column (in the beacon's row order)."""


@dataclass(frozen=True, slots=True)
class Beacon:
    table: str
    org: Any
    row: tuple[Any, ...]


class BeaconWriter:
    """The beacons' queue and writer (`async with BeaconWriter(db) as writer`)."""

    def __init__(self, db: Database, *, max_queue: int = 100_000, batch: int = 2_000,
                 flush_interval_s: float = 0.5, shutdown_timeout_s: float = 30.0) -> None:
        self.db = db
        self.queue: BatchQueue[Beacon] = BatchQueue(
            "dealership.beacons", self.write, max_queue=max_queue, batch=batch,
            flush_interval_s=flush_interval_s, shutdown_timeout_s=shutdown_timeout_s)
        self.by_table: dict[str, int] = {}
        """Beacons written, per table."""

    @property
    def stats(self) -> IngestStats:
        return self.queue.stats

    async def __aenter__(self) -> BeaconWriter:
        self.queue.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def offer(self, table: str, org: Any, row: tuple[Any, ...]) -> bool:
        """Queue one beacon without waiting; False (counted as dropped) when the queue is
        full or closing."""
        return self.queue.offer(Beacon(table, org, row))

    async def close(self) -> None:
        """Stop accepting, then write everything queued."""
        await self.queue.close()

    async def write(self, batch: Sequence[Beacon]) -> None:
        """Write one batch: a transaction per organization, a statement per table."""
        groups: dict[Any, dict[str, list[tuple[Any, ...]]]] = defaultdict(
            lambda: defaultdict(list))
        for beacon in batch:
            groups[beacon.org][beacon.table].append(beacon.row)
        for org, tables in groups.items():
            with use_context(org_id=org):
                async with self.db.transaction() as tx:
                    for table, rows in tables.items():
                        columns = [list(column) for column in zip(*rows, strict=True)]
                        await tx.execute(INSERTS[table], (org, *columns))
            for table, rows in tables.items():
                self.by_table[table] = self.by_table.get(table, 0) + len(rows)
