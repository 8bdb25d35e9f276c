"""Analytics beacons that never slow a page: each is validated, put on a bounded in-memory
queue and answered 204; a background task writes the queue in batches (one multi-row INSERT
per table and organization, one transaction per batch -- COPY is refused under row-level
security), retrying a failed batch with backoff. Closing the writer (the service's shutdown)
writes everything still queued. A full queue drops the beacon and counts it (`dropped`):
analytics must not push back on page loads."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, LiteralString

from pgkeel.db import Database, use_context
from pgkeel.errors import PgkeelError, ValidationFailed

log = logging.getLogger("pgkeel_apps.dealership")

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


@dataclass
class BeaconStats:
    accepted: int = 0
    written: int = 0
    dropped: int = 0
    failed_batches: int = 0
    by_table: dict[str, int] = field(default_factory=dict)


class BeaconWriter:
    """The queue and its writer task (`async with BeaconWriter(db) as writer`)."""

    def __init__(self, db: Database, *, max_queue: int = 100_000, batch: int = 2_000,
                 flush_interval_s: float = 0.5, shutdown_timeout_s: float = 30.0) -> None:
        self.db = db
        self.batch = batch
        self.flush_interval_s = flush_interval_s
        self.shutdown_timeout_s = shutdown_timeout_s
        self.queue: asyncio.Queue[Beacon] = asyncio.Queue(max_queue)
        self.stats = BeaconStats()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def __aenter__(self) -> BeaconWriter:
        self._task = asyncio.create_task(self._run(), name="dealership-beacons")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def offer(self, table: str, org: Any, row: tuple[Any, ...]) -> bool:
        """Queue one beacon without waiting; False (counted as dropped) when the queue is
        full or the writer is closing."""
        if self._closing:
            self.stats.dropped += 1
            return False
        try:
            self.queue.put_nowait(Beacon(table, org, row))
        except asyncio.QueueFull:
            self.stats.dropped += 1
            return False
        self.stats.accepted += 1
        return True

    async def close(self) -> None:
        """Stop accepting, then write everything queued (up to `shutdown_timeout_s`)."""
        self._closing = True
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._task, self.shutdown_timeout_s)
        except TimeoutError:
            log.error("beacon writer: %d beacons not written at shutdown", self.queue.qsize())
            self.stats.dropped += self.queue.qsize()
        self._task = None

    async def _run(self) -> None:
        while not (self._closing and self.queue.empty()):
            batch = await self._take()
            if batch:
                await self._write_with_retry(batch)

    async def _take(self) -> list[Beacon]:
        batch: list[Beacon] = []
        try:
            batch.append(await asyncio.wait_for(self.queue.get(), self.flush_interval_s))
        except TimeoutError:
            return batch
        while len(batch) < self.batch and not self.queue.empty():
            batch.append(self.queue.get_nowait())
        return batch

    async def _write_with_retry(self, batch: Sequence[Beacon]) -> None:
        delay = 0.05
        while True:
            try:
                await self.write(batch)
                return
            except ValidationFailed as exc:   # refused data: retrying cannot help
                self.stats.dropped += len(batch)
                log.error("beacon batch of %d refused (%s): dropped", len(batch), exc.message)
                return
            except PgkeelError as exc:
                self.stats.failed_batches += 1
                log.warning("beacon batch of %d failed (%s); retrying", len(batch), exc.message)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 -- jitter
                delay = min(delay * 2, 5.0)

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
                self.stats.written += len(rows)
                self.stats.by_table[table] = self.stats.by_table.get(table, 0) + len(rows)
