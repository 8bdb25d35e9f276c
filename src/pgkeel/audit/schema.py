"""Installing the audit schema: the library's own migration set, applied to schema `audit`.

The SQL lives in `pgkeel/audit/migrations/` (package data) and is applied by the ordinary
migration runner, so it is versioned, locked, checksummed and shown by `pgkeel migrate
status --dir <that dir> --schema audit` like any application migration.
"""

from __future__ import annotations

from pathlib import Path

from pgkeel.db import Database
from pgkeel.migrate import Migrator, RunReport

__all__ = ["MIGRATIONS", "SCHEMA", "install", "migrator"]

SCHEMA = "audit"
"""The schema holding every audit table and function."""

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""The audit migration set shipped with pgkeel."""


def migrator(db: Database, *, lock_timeout_ms: int = 5_000, wait_s: float = 60.0) -> Migrator:
    """A `Migrator` for the audit migration set."""
    return Migrator(db, MIGRATIONS, schema=SCHEMA, lock_timeout_ms=lock_timeout_ms,
                    wait_s=wait_s)


async def install(db: Database, *, lock_timeout_ms: int = 5_000, wait_s: float = 60.0
                  ) -> RunReport:
    """Apply any pending audit migrations (idempotent: a no-op when up to date)."""
    return await migrator(db, lock_timeout_ms=lock_timeout_ms, wait_s=wait_s).up()
