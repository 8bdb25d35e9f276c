"""`add(tx, event)` / `add_many(tx, events)`: write outbox events in the caller's transaction.

The events commit or roll back with the change they announce: a rolled-back transaction leaves
no event, a committed one leaves every event, and the relay publishes them afterwards.

No NOTIFY is sent from the producer's transaction: NOTIFY takes a database-wide lock at COMMIT
that serialises every committing transaction which notified, a known cause of outages under
many concurrent writers. Instead a commit wakes the relays running in the same process (an
in-process hint, free), and relays elsewhere poll (`OUTBOX_POLL_INTERVAL_S`) or are woken by an
explicit, out-of-transaction `notify(db)`.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, LiteralString

import orjson

from pgkeel.db import Database, Transaction
from pgkeel.errors import OutboxEventInvalid
from pgkeel.outbox.schema import translated

__all__ = ["CHANNEL", "DEFAULT_MAX_ATTEMPTS", "OutboxEvent", "add", "add_many", "notify",
           "on_local_commit", "uuid7"]

DEFAULT_MAX_ATTEMPTS = 25
"""Publish attempts before an event goes to the dead letter state (per event: `max_attempts`)."""

CHANNEL = "pgkeel_outbox"
"""The LISTEN/NOTIFY channel relays listen on for a wake-up hint."""

INSERT_EVENTS: LiteralString = """
INSERT INTO outbox.outbox_events (id, aggregate_type, aggregate_id, event_type, payload,
                                  headers, partition_key, priority, max_attempts,
                                  next_attempt_at)
SELECT id, aggregate_type, aggregate_id, event_type, payload, headers, partition_key, priority,
       max_attempts, coalesce(available_at, now())
FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::jsonb[], %s::jsonb[],
            %s::text[], %s::smallint[], %s::int[], %s::timestamptz[])
     AS e(id, aggregate_type, aggregate_id, event_type, payload, headers, partition_key,
          priority, max_attempts, available_at)"""

INSERT_ONE: LiteralString = """
INSERT INTO outbox.outbox_events (id, aggregate_type, aggregate_id, event_type, payload,
                                  headers, partition_key, priority, max_attempts,
                                  next_attempt_at)
VALUES (%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s, coalesce(%s, now()))"""

NOTIFY: LiteralString = "SELECT pg_notify(%s, '')"


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """An event to publish once the transaction that adds it commits.

    Events with the same `partition_key` are published one after another, in the order they
    were added; by default the key is `"<aggregate_type>:<aggregate_id>"`, so one aggregate's
    events keep their order. `ordered=False` stores no key: such an event is never held back
    by another. Higher `priority` (0-10) is published first; `available_at` delays it.
    """

    event_type: str
    aggregate_type: str
    aggregate_id: Any
    payload: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    partition_key: str | None = None
    ordered: bool = True
    priority: int = 0
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    available_at: datetime | None = None
    id: uuid.UUID | None = None
    """Given: the event's id (for instance derived from a request's idempotency key)."""

    def row(self) -> tuple[Any, ...]:
        """The column values `add` stores, validated (raises OutboxEventInvalid)."""
        if not self.event_type or not self.aggregate_type:
            raise OutboxEventInvalid("An outbox event needs an event_type and aggregate_type.",
                                     details={"event_type": self.event_type,
                                              "aggregate_type": self.aggregate_type})
        if not 0 <= self.priority <= 10:
            raise OutboxEventInvalid("Outbox priority must be between 0 and 10.",
                                     details={"priority": self.priority})
        if self.max_attempts < 1:
            raise OutboxEventInvalid("max_attempts must be at least 1.",
                                     details={"max_attempts": self.max_attempts})
        aggregate_id = str(self.aggregate_id)
        key = (None if not self.ordered else
               self.partition_key or f"{self.aggregate_type}:{aggregate_id}")
        payload = _json(self.payload, "payload")
        headers = _json({str(k): str(v) for k, v in self.headers.items()}, "headers")
        texts = (self.event_type, self.aggregate_type, aggregate_id, key or "")
        if any("\x00" in text for text in texts):
            raise OutboxEventInvalid("Outbox event fields cannot contain NUL characters.")
        return (self.id or uuid7(), self.aggregate_type, aggregate_id, self.event_type,
                payload, headers, key, self.priority, self.max_attempts, self.available_at)


def _json(value: Any, what: str) -> str:
    try:
        text = orjson.dumps(value, default=str).decode()
    except TypeError as exc:
        raise OutboxEventInvalid(f"The event's {what} is not JSON-serialisable: {exc}") from None
    if "\\u0000" in text:
        raise OutboxEventInvalid(f"The event's {what} contains a NUL character.")
    return text


async def add(tx: Transaction, event: OutboxEvent) -> uuid.UUID:
    """Store `event` in `tx`; it is published after `tx` commits. Returns its id."""
    row = event.row()
    await _insert(tx, INSERT_ONE, row)
    return uuid.UUID(str(row[0]))


async def add_many(tx: Transaction, events: Sequence[OutboxEvent]) -> list[uuid.UUID]:
    """Store several events in `tx` with one statement (one round trip); returns their ids
    in order. Events sharing a partition key keep the order of the sequence."""
    if not events:
        return []
    rows = [event.row() for event in events]
    columns = [list(column) for column in zip(*rows, strict=True)]
    await _insert(tx, INSERT_EVENTS, columns)
    return [uuid.UUID(str(row[0])) for row in rows]


async def _insert(tx: Transaction, query: LiteralString, params: Sequence[Any]) -> None:
    with translated():
        await tx.execute(query, params)
    tx.on_commit(_wake_local)


async def notify(db: Database) -> None:
    """Wake every listening relay now (its own tiny transaction; never inside a hot one)."""
    await db.execute(NOTIFY, (CHANNEL,))


_LOCAL_WAKERS: set[Callable[[], None]] = set()


def on_local_commit(waker: Callable[[], None]) -> Callable[[], None]:
    """Call `waker` whenever a transaction in this process commits outbox events; returns a
    function that unregisters it. Relays use it to start publishing at once."""
    _LOCAL_WAKERS.add(waker)
    return lambda: _LOCAL_WAKERS.discard(waker)


def _wake_local() -> None:
    for waker in list(_LOCAL_WAKERS):
        waker()


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7), so new ids land at the primary key's end."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62 | rand & 0x3FFF_FFFF_FFFF_FFFF
    return uuid.UUID(int=value)
