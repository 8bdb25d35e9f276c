"""Profiles: how big the data set is and how long each scenario runs.

`full` is the issue's data set (100 organizations, 1,000,000 users, 1,000,000 audit rows);
`quick` is the CI smoke run (a few thousand rows, seconds per scenario); `tiny` is what the
pytest of the harness uses. Every size can be overridden on the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

__all__ = ["PROFILES", "Profile"]


@dataclass(frozen=True)
class Profile:
    name: str
    database: str
    """The bench's own database (created when missing) -- never the test or demo data."""
    organizations: int
    users: int
    audit_rows: int
    rounds: int
    """Measured rounds; each round runs every contender once, in a rotated order."""
    block_s: float
    """Target time of one contender's block in one round (sets the ops per block)."""
    min_ops: int
    max_ops: int
    bulk_rows: int
    """Rows per bulk-insert operation."""
    http_seconds: float
    """Duration of one load-generator run (one contender, one endpoint, one round)."""
    http_rounds: int
    http_concurrency: int
    http_warmup_s: float
    outbox_events: int = 100_000
    """Events the relay drains (and no-op jobs procrastinate's worker runs) in outbox_relay."""
    school_schools: int = 20
    school_students: int = 20_000
    school_attendances: int = 2_000_000
    """The school scenarios' sample data (the full profile: the report's size; no students:
    no school scenarios, as in the tiny profile the harness test runs)."""

    def with_overrides(self, **changes: Any) -> Profile:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def sizes(self) -> dict[str, int]:
        """What the data set is made of (its identity for the idempotent builder)."""
        return {"organizations": self.organizations, "users": self.users,
                "audit_rows": self.audit_rows}


PROFILES: dict[str, Profile] = {
    "full": Profile(
        name="full", database="pgkeel_bench", organizations=100, users=1_000_000,
        audit_rows=1_000_000, rounds=7, block_s=0.8, min_ops=30, max_ops=400,
        bulk_rows=10_000, http_seconds=8.0, http_rounds=4, http_concurrency=16,
        http_warmup_s=1.0),
    "quick": Profile(
        name="quick", database="pgkeel_bench_quick", organizations=5, users=5_000,
        audit_rows=5_000, rounds=2, block_s=0.04, min_ops=3, max_ops=40, bulk_rows=1_000,
        http_seconds=1.5, http_rounds=1, http_concurrency=4, http_warmup_s=0.3,
        outbox_events=500, school_schools=2, school_students=400, school_attendances=8_000),
    "tiny": Profile(
        name="tiny", database="pgkeel_bench_tiny", organizations=2, users=200,
        audit_rows=200, rounds=1, block_s=0.0, min_ops=2, max_ops=2, bulk_rows=50,
        http_seconds=0.5, http_rounds=1, http_concurrency=2, http_warmup_s=0.0,
        outbox_events=100, school_students=0),
}
