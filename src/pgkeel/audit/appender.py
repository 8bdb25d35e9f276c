"""`AuditAppender`: non-blocking audit writes (`append`, `append_nowait`, `append_on_commit`),
and `append_durable` for the events that must not wait in memory.

    async with AuditAppender(db) as appender:      # in the app's lifespan
        await appender.append(action="users.login", entity_type="User", entity_id=7)

`append` validates and serializes the event, puts it in a bounded in-memory queue and
returns; a background task writes batches (one INSERT per organization, one transaction per
batch). Nothing is dropped silently:

- a full queue makes `append` wait (back-pressure) -- `append_nowait` raises AuditQueueFull;
- a failed batch is retried with capped exponential backoff, never discarded;
- a batch the database refuses outright (a bad value) is split in halves until the one bad
  event is found; only that event is dropped, logged and counted;
- closing the appender (the lifespan's shutdown) writes everything still queued, retrying for
  up to `shutdown_timeout_s`; what still cannot be written after that is logged and counted.

`pgkeel_audit_dropped_total` counts every event given up on. Queued events live in this
process's memory until their batch commits: if the process is killed (SIGKILL, the OOM killer,
a power cut) up to a queue's worth is lost, uncounted. `append_durable` writes an event in its
own transaction and returns once it has committed, for the events that must survive that.
The events are not part of the caller's transaction: use `record(tx, ...)` when the audit
row must commit with the change, or `append_on_commit(tx, ...)` to queue only once the
transaction has committed. A batch
whose COMMIT outcome is unknown (connection lost during COMMIT) is retried, so in that rare
case an event can be written twice.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from uuid import UUID

from pgkeel.audit.batch import insert_batch, refused
from pgkeel.audit.events import DEFAULT_REDACTED, FROM_CONTEXT, PreparedEvent, prepare
from pgkeel.audit.metrics import DROPPED, FLUSH_ERRORS, FLUSH_SECONDS, FLUSHED, QUEUE_DEPTH, QUEUED
from pgkeel.audit.record import record
from pgkeel.config import Settings
from pgkeel.db import Database, Transaction, current_context, use_context
from pgkeel.errors import (
    AuditAppenderClosed,
    AuditQueueFull,
    PgkeelError,
    translate,
)

__all__ = ["AppenderStats", "AuditAppender"]

log = logging.getLogger("pgkeel.audit")

@dataclass(frozen=True)
class AppenderStats:
    """This appender's own counts (the Prometheus counters add up every appender)."""

    queued: int
    written: int
    dropped: int
    pending: int
    batches: int
    failed_writes: int


class AuditAppender:
    """A bounded queue of audit events written in batches by a background task."""

    def __init__(
        self,
        db: Database,
        *,
        max_queue: int = 10_000,
        batch_size: int = 1_000,
        flush_interval_s: float = 0.2,
        shutdown_timeout_s: float = 30.0,
        retry_max_delay_s: float = 5.0,
        redact: Iterable[str] = DEFAULT_REDACTED,
    ) -> None:
        if max_queue < 1 or batch_size < 1:
            raise ValueError("max_queue and batch_size must be at least 1")
        self.db = db
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.shutdown_timeout_s = shutdown_timeout_s
        self.retry_max_delay_s = retry_max_delay_s
        self.redact = frozenset(redact)
        self._items: deque[PreparedEvent] = deque()
        self._work = asyncio.Event()       # wakes the writer
        self._space = asyncio.Event()      # wakes appenders waiting for room
        self._progress = asyncio.Event()   # set after every settled batch (for flush())
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._deadline = 0.0
        self._oldest_at = 0.0
        self._flush_target = 0
        """Events up to this count are urgent: a `flush()` waits for them."""
        self._queued = self._settled = self._written = self._dropped = 0
        self._batches = self._failed = 0

    @classmethod
    def from_settings(cls, db: Database, settings: Settings, **overrides: Any) -> AuditAppender:
        """An appender sized by AUDIT_QUEUE_SIZE, AUDIT_BATCH_SIZE, AUDIT_FLUSH_INTERVAL_S and
        AUDIT_SHUTDOWN_TIMEOUT_S."""
        options: dict[str, Any] = {
            "max_queue": settings.audit_queue_size,
            "batch_size": settings.audit_batch_size,
            "flush_interval_s": settings.audit_flush_interval_s,
            "shutdown_timeout_s": settings.audit_shutdown_timeout_s,
        }
        options.update(overrides)
        return cls(db, **options)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the writer task (it runs with an empty request context)."""
        if self._task is not None:
            return
        self._closing = False
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(), name="pgkeel-audit-appender",
                                      context=contextvars.Context())

    async def close(self) -> None:
        """Stop accepting events, write everything queued, stop the writer."""
        task = self._task
        if task is None or self._closing:
            if task is not None:
                await asyncio.shield(task)
            return
        self._closing = True
        self._deadline = asyncio.get_running_loop().time() + self.shutdown_timeout_s
        self._work.set()
        self._space.set()
        await asyncio.shield(task)
        self._task = None

    async def __aenter__(self) -> AuditAppender:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- appending ---------------------------------------------------------------------------

    def _prepare(self, fields: dict[str, Any]) -> PreparedEvent:
        fields.setdefault("redact", self.redact)
        if fields.get("created_at") is None:
            fields["created_at"] = datetime.now(UTC)
        context = fields.pop("context", None) or current_context()
        return prepare(context=context, **fields)

    async def append(
        self, *, action: str, entity_type: str, entity_id: Any = None, old: Any = None,
        new: Any = None, metadata: Any = None, org_id: Any = FROM_CONTEXT,
        actor_id: Any = FROM_CONTEXT, request_id: Any = FROM_CONTEXT,
        changed: Iterable[str] | None = None, created_at: datetime | None = None,
    ) -> None:
        """Queue one event (same fields as `record`); waits only while the queue is full."""
        event = self._prepare({
            "action": action, "entity_type": entity_type, "entity_id": entity_id, "old": old,
            "new": new, "metadata": metadata, "org_id": org_id, "actor_id": actor_id,
            "request_id": request_id, "changed": changed, "created_at": created_at})
        await self._put(event)

    def append_nowait(
        self, *, action: str, entity_type: str, entity_id: Any = None, old: Any = None,
        new: Any = None, metadata: Any = None, org_id: Any = FROM_CONTEXT,
        actor_id: Any = FROM_CONTEXT, request_id: Any = FROM_CONTEXT,
        changed: Iterable[str] | None = None, created_at: datetime | None = None,
    ) -> None:
        """Queue one event without waiting; raises AuditQueueFull when the queue is full
        (the event is then not queued, and not counted as dropped: the caller knows)."""
        event = self._prepare({
            "action": action, "entity_type": entity_type, "entity_id": entity_id, "old": old,
            "new": new, "metadata": metadata, "org_id": org_id, "actor_id": actor_id,
            "request_id": request_id, "changed": changed, "created_at": created_at})
        self._check_open()
        if len(self._items) >= self.max_queue:
            raise AuditQueueFull(details={"max_queue": self.max_queue},
                                 hint="Use `await append(...)` to wait for room instead.")
        self._push(event)

    async def append_durable(
        self, *, action: str, entity_type: str, entity_id: Any = None, old: Any = None,
        new: Any = None, metadata: Any = None, org_id: Any = FROM_CONTEXT,
        actor_id: Any = FROM_CONTEXT, request_id: Any = FROM_CONTEXT,
        changed: Iterable[str] | None = None,
    ) -> UUID:
        """Write one event now, in its own transaction, and return its event id once
        committed.

        For events that must survive this process being killed (logins, security events):
        queued events are in memory until their batch commits. One transaction per event,
        so use it for the events that matter, not for every read."""
        async def write(tx: Transaction) -> UUID:
            return await record(tx, action=action, entity_type=entity_type,
                                entity_id=entity_id, old=old, new=new, metadata=metadata,
                                org_id=org_id, actor_id=actor_id, request_id=request_id,
                                changed=changed, redact=self.redact)
        # The transaction runs in the event's organization: the tenant policy admits only it.
        org = current_context().org_id if org_id is FROM_CONTEXT else org_id
        with use_context(org_id=org):
            return await self.db.run_in_tx(write)

    def append_on_commit(self, tx: Transaction, **fields: Any) -> None:
        """Queue the event once `tx` commits (nothing if it rolls back). Organization, actor
        and request id default to the transaction's context."""
        event = self._prepare({**fields, "context": tx.context})
        self._check_open()
        tx.on_commit(partial(self._put_committed, event))

    async def _put_committed(self, event: PreparedEvent) -> None:
        try:
            await self._put(event)
        except AuditAppenderClosed as exc:  # the change committed: its event must not vanish
            self._drop([event], exc)

    async def _put(self, event: PreparedEvent) -> None:
        while len(self._items) >= self.max_queue:
            self._check_open()
            self._space.clear()
            await self._space.wait()
        self._check_open()
        self._push(event)

    def _check_open(self) -> None:
        if self._task is None or self._closing:
            raise AuditAppenderClosed(
                hint="Run the app inside `async with AuditAppender(db)` (see docs/audit.md).")

    def _push(self, event: PreparedEvent) -> None:
        if not self._items:
            self._oldest_at = asyncio.get_running_loop().time()
            self._work.set()
        self._items.append(event)
        self._queued += 1
        QUEUED.inc()
        QUEUE_DEPTH.inc()
        if len(self._items) >= self.batch_size:
            self._work.set()

    async def flush(self) -> None:
        """Wait until every event appended before this call is written (or given up on)."""
        target = self._queued
        if self._task is None or self._task.done():
            if self._settled < target:
                raise AuditAppenderClosed("The audit appender is not running.")
            return
        task = self._task
        self._flush_target = max(self._flush_target, target)
        while self._settled < target:
            self._work.set()
            self._progress.clear()
            waiter = asyncio.ensure_future(self._progress.wait())
            try:
                await asyncio.wait([waiter, task], return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            if task.done() and self._settled < target:
                raise AuditAppenderClosed("The audit appender stopped before flushing.")

    @property
    def pending(self) -> int:
        """Events queued and not yet written."""
        return len(self._items)

    def stats(self) -> AppenderStats:
        return AppenderStats(queued=self._queued, written=self._written,
                             dropped=self._dropped, pending=len(self._items),
                             batches=self._batches, failed_writes=self._failed)

    # -- the writer --------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._items:
                if self._closing:
                    return
                self._work.clear()
                await self._work.wait()
                continue
            # A flush hurries the events appended before it, not those appended since.
            urgent = self._closing or self._settled < self._flush_target
            wait = self._oldest_at + self.flush_interval_s - loop.time()
            if len(self._items) < self.batch_size and not urgent and wait > 0:
                self._work.clear()
                try:
                    async with asyncio.timeout(wait):
                        await self._work.wait()
                except TimeoutError:
                    pass
                continue
            batch = [self._items[i] for i in range(min(self.batch_size, len(self._items)))]
            try:
                await self._write(batch)
            except Exception as exc:  # never let a bug strand the queue: log, back off, retry
                log.exception("audit appender: unexpected error writing a batch")
                if not (self._closing and loop.time() >= self._deadline):
                    await asyncio.sleep(1.0)
                    continue
                self._drop(batch, translate(exc))
            for _ in batch:
                self._items.popleft()
            self._settled += len(batch)
            self._batches += 1
            QUEUE_DEPTH.dec(len(batch))
            self._oldest_at = loop.time()
            self._space.set()
            self._progress.set()

    async def _write(self, batch: list[PreparedEvent]) -> None:
        """Write `batch` in one transaction, retrying until it commits; split a refused
        batch to isolate the bad event."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            try:
                with FLUSH_SECONDS.time():
                    await insert_batch(self.db, batch)
            except PgkeelError as exc:
                self._failed += 1
                FLUSH_ERRORS.inc()
                if refused(exc):
                    if len(batch) == 1:
                        self._drop(batch, exc)
                        return
                    middle = len(batch) // 2
                    await self._write(batch[:middle])
                    await self._write(batch[middle:])
                    return
                attempt += 1
                if self._closing and loop.time() >= self._deadline:
                    self._drop(batch, exc)
                    return
                delay = min(self.retry_max_delay_s, 0.05 * 2 ** attempt)
                delay *= random.uniform(0.5, 1.0)  # noqa: S311 -- jitter, not security
                if self._closing:
                    delay = max(0.0, min(delay, self._deadline - loop.time()))
                log.warning("audit appender: writing %d event(s) failed (%s: %s); retry %d "
                            "in %.2f s", len(batch), exc.code, exc.message, attempt, delay)
                await asyncio.sleep(delay)
                continue
            self._written += len(batch)
            FLUSHED.inc(len(batch))
            return

    def _drop(self, batch: list[PreparedEvent], exc: PgkeelError) -> None:
        self._dropped += len(batch)
        DROPPED.inc(len(batch))
        for event in batch:
            log.error("audit appender: DROPPED event action=%s entity=%s:%s org=%s (%s: %s)",
                      event.action, event.entity_type, event.entity_id,
                      event.organization_id, exc.code, exc.message)
