"""Housekeeping: delete expired keys and clear stale locks, in small batches; count keys.

    report = await reap(db)              # what `pgkeel idempotency reap` and maintenance run
    numbers = await stats(db)            # what `pgkeel idempotency stats` shows

Each batch is its own short transaction that skips rows another transaction holds, so the
reaper never blocks requests and never holds many locks. A stale lock is an in-flight key
whose lease has run out: its request died without committing anything, so deleting the key
lets a retry run from the start. Both work across organizations unless `org` names one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, LiteralString

from pgkeel.db import Database

__all__ = ["KeyStats", "ReapReport", "reap", "stats"]

_ORG_FILTER: LiteralString = " AND organization_id = %(org)s"

_REAP: LiteralString = """
DELETE FROM idempotency.idempotency_keys
WHERE (organization_id, route, key) IN (
    SELECT organization_id, route, key FROM idempotency.idempotency_keys
    WHERE {condition}{org}
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED)
"""

_EXPIRED: LiteralString = "expires_at <= now()"
_STALE: LiteralString = ("state = 'in_flight' AND locked_until <= now() - "
                         "make_interval(secs => %(grace)s)")

REAP_EXPIRED = _REAP.replace("{condition}", _EXPIRED).replace("{org}", "")
REAP_EXPIRED_ORG = _REAP.replace("{condition}", _EXPIRED).replace("{org}", _ORG_FILTER)
REAP_STALE = _REAP.replace("{condition}", _STALE).replace("{org}", "")
REAP_STALE_ORG = _REAP.replace("{condition}", _STALE).replace("{org}", _ORG_FILTER)

_STATS: LiteralString = """
SELECT count(*) AS total,
       count(*) FILTER (WHERE expires_at > now() AND state = 'completed') AS completed,
       count(*) FILTER (WHERE expires_at > now() AND state = 'in_flight'
                          AND locked_until > now()) AS in_flight,
       count(*) FILTER (WHERE expires_at > now() AND state = 'in_flight'
                          AND locked_until <= now()) AS stale,
       count(*) FILTER (WHERE expires_at <= now()) AS expired,
       count(*) FILTER (WHERE attempts > 1) AS retried,
       count(DISTINCT organization_id) AS organizations,
       min(created_at) AS oldest_created_at
FROM idempotency.idempotency_keys
"""
STATS = _STATS
STATS_ORG = _STATS + "WHERE organization_id = %(org)s"


@dataclass(frozen=True)
class ReapReport:
    """What one `reap` deleted."""

    expired: int
    stale: int
    batches: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class KeyStats:
    """The keys by state: completed (replayable), in flight, stale (lease run out) and
    expired (awaiting the reaper); `retried` keys were taken over after a dead attempt."""

    total: int
    completed: int
    in_flight: int
    stale: int
    expired: int
    retried: int
    organizations: int
    oldest_created_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def reap(db: Database, *, batch_size: int = 1_000, max_batches: int | None = None,
               stale_grace_s: float = 0.0, org: str | None = None) -> ReapReport:
    """Delete expired keys and in-flight keys whose lease ended `stale_grace_s` ago, at most
    `batch_size` rows per transaction and `max_batches` transactions (None: until done)."""
    params: dict[str, Any] = {"limit": batch_size, "grace": stale_grace_s, "org": org}
    batches = 0
    deleted = {"expired": 0, "stale": 0}
    for kind, query in (("expired", REAP_EXPIRED_ORG if org else REAP_EXPIRED),
                        ("stale", REAP_STALE_ORG if org else REAP_STALE)):
        while max_batches is None or batches < max_batches:
            count = await db.execute(query, params)
            batches += 1
            deleted[kind] += count
            if count < batch_size:
                break
    return ReapReport(expired=deleted["expired"], stale=deleted["stale"], batches=batches)


async def stats(db: Database, *, org: str | None = None) -> KeyStats:
    """Key counts by state, across organizations or for `org`."""
    row = await (db.fetch_one(STATS_ORG, {"org": org}, readonly=True) if org
                 else db.fetch_one(STATS, readonly=True))
    assert row is not None
    return KeyStats(**row)
