"""`BatchQueue`: fire-and-forget ingestion (analytics beacons, click streams, metrics rows)
that never makes the caller wait for the database.

    async def write(batch: Sequence[Row]) -> None:      # one transaction, however you like
        ...
    async with BatchQueue("beacons", write) as queue:   # in the app's lifespan
        queue.offer(row)                                # no await: never blocks

`offer` puts the item on a bounded in-memory queue and returns at once. A background task
takes the queue in batches (up to `batch` items, or whatever arrived within
`flush_interval_s`) and hands each batch to `write`:

- a batch that fails with a `PgkeelError` (the database unreachable, a serialization
  failure, a timeout) is retried with capped, jittered exponential backoff;
- a batch the database refuses as invalid (`ValidationFailed`), or that fails with an error
  that is not pgkeel's (a bug in `write`), is dropped, logged and counted: retrying cannot help;
- a full queue drops the *offered* item and counts it, rather than push back on the caller:
  this is for data where losing a little under overload beats slowing the request (use
  `pgkeel.audit.AuditAppender`, which applies back-pressure and never drops, for records);
- closing the queue (the lifespan's shutdown) stops accepting and writes everything still
  queued, for up to `shutdown_timeout_s`; what is left after that is dropped and counted.

Every drop is counted in `stats` and in `pgkeel_ingest_dropped_total{queue,reason}` (reasons
`full`, `closed`, `refused`, `shutdown`); alert on its increase. Items live in this process's
memory until their batch commits: a killed process (SIGKILL, OOM) loses up to a queue's worth,
uncounted.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from prometheus_client import Counter, Gauge, Histogram

from pgkeel.errors import PgkeelError, ValidationFailed
from pgkeel.observe.metrics import REGISTRY

__all__ = ["BatchQueue", "IngestStats"]

log = logging.getLogger("pgkeel.ingest")

T = TypeVar("T")

ACCEPTED = Counter("pgkeel_ingest_accepted", "Items accepted by an ingestion queue.",
                   ["queue"], registry=REGISTRY)
WRITTEN = Counter("pgkeel_ingest_written", "Items an ingestion queue wrote (batch committed).",
                  ["queue"], registry=REGISTRY)
DROPPED = Counter("pgkeel_ingest_dropped",
                  "Items an ingestion queue gave up on: full, closed, refused, shutdown.",
                  ["queue", "reason"], registry=REGISTRY)
FAILED_BATCHES = Counter("pgkeel_ingest_failed_batches",
                         "Batch writes that failed and were retried.", ["queue"],
                         registry=REGISTRY)
DEPTH = Gauge("pgkeel_ingest_queue_depth", "Items waiting in an ingestion queue.", ["queue"],
              registry=REGISTRY)
BATCH_SECONDS = Histogram("pgkeel_ingest_batch_duration_seconds",
                          "Time to write one batch.", ["queue"], registry=REGISTRY)


@dataclass
class IngestStats:
    """This queue's counts since it was created."""

    accepted: int = 0
    written: int = 0
    dropped: int = 0
    failed_batches: int = 0


class BatchQueue(Generic[T]):
    """A bounded queue and its batch writer (see the module docstring)."""

    def __init__(self, name: str, write: Callable[[Sequence[T]], Awaitable[None]], *,
                 max_queue: int = 100_000, batch: int = 2_000, flush_interval_s: float = 0.5,
                 shutdown_timeout_s: float = 30.0, max_backoff_s: float = 5.0) -> None:
        if max_queue < 1 or batch < 1:
            raise ValueError("max_queue and batch must be >= 1")
        self.name = name
        self._write = write
        self.batch = batch
        self.flush_interval_s = flush_interval_s
        self.shutdown_timeout_s = shutdown_timeout_s
        self.max_backoff_s = max_backoff_s
        self.queue: asyncio.Queue[T] = asyncio.Queue(max_queue)
        self.stats = IngestStats()
        self._in_flight = 0
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._depth = DEPTH.labels(name)
        self._accepted = ACCEPTED.labels(name)

    async def __aenter__(self) -> BatchQueue[T]:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def start(self) -> None:
        """Start the writer task (`async with` does it)."""
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._run(), name=f"pgkeel-ingest-{self.name}")

    @property
    def depth(self) -> int:
        """Items queued or being written."""
        return self.queue.qsize() + self._in_flight

    def offer(self, item: T) -> bool:
        """Queue one item without waiting; False (counted as dropped) when the queue is full
        or closing."""
        if self._closing:
            self._drop(1, "closed")
            return False
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self._drop(1, "full")
            return False
        self.stats.accepted += 1
        self._accepted.inc()
        self._depth.set(self.queue.qsize())
        return True

    async def close(self) -> None:
        """Stop accepting, then write everything queued (up to `shutdown_timeout_s`)."""
        self._closing = True
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._task, self.shutdown_timeout_s)
        except TimeoutError:
            left = self.depth
            log.error("ingest queue %s: %d items not written at shutdown", self.name, left)
            self._drop(left, "shutdown")
        self._task = None
        self._in_flight = 0
        self._depth.set(0)

    def _drop(self, count: int, reason: str) -> None:
        self.stats.dropped += count
        DROPPED.labels(self.name, reason).inc(count)

    async def _run(self) -> None:
        while not (self._closing and self.queue.empty()):
            batch = await self._take()
            if batch:
                self._in_flight = len(batch)   # still counted if cancelled at shutdown
                await self._write_with_retry(batch)
                self._in_flight = 0

    async def _take(self) -> list[T]:
        batch: list[T] = []
        try:
            batch.append(await asyncio.wait_for(self.queue.get(), self.flush_interval_s))
        except TimeoutError:
            return batch
        while len(batch) < self.batch and not self.queue.empty():
            batch.append(self.queue.get_nowait())
        self._depth.set(self.queue.qsize())
        return batch

    async def _write_with_retry(self, batch: Sequence[T]) -> None:
        delay = 0.05
        while True:
            started = time.perf_counter()
            try:
                await self._write(batch)
            except ValidationFailed as exc:   # refused data: retrying cannot help
                self._drop(len(batch), "refused")
                log.error("ingest queue %s: batch of %d refused (%s): dropped", self.name,
                          len(batch), exc.message)
                return
            except PgkeelError as exc:
                self.stats.failed_batches += 1
                FAILED_BATCHES.labels(self.name).inc()
                log.warning("ingest queue %s: batch of %d failed (%s); retrying", self.name,
                            len(batch), exc.message)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 -- jitter
                delay = min(delay * 2, self.max_backoff_s)
                continue
            except Exception:   # a bug in `write`: dropping keeps the writer alive
                self._drop(len(batch), "refused")
                log.exception("ingest queue %s: batch of %d failed: dropped", self.name,
                              len(batch))
                return
            BATCH_SECONDS.labels(self.name).observe(time.perf_counter() - started)
            self.stats.written += len(batch)
            WRITTEN.labels(self.name).inc(len(batch))
            return
