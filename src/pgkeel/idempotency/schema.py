"""The idempotency schema: a library migration set applied to schema `idempotency`.

The SQL in `pgkeel/idempotency/migrations/` runs through the ordinary migration runner, so
`pgkeel migrate status --dir <that dir> --schema idempotency` shows it like any other set.
"""

from __future__ import annotations

from pathlib import Path

from pgkeel.db import Database
from pgkeel.migrate import Migrator, RunReport

__all__ = ["MIGRATIONS", "SCHEMA", "install"]

SCHEMA = "idempotency"
"""The schema holding `idempotency_keys`."""

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""The idempotency migration set shipped with pgkeel."""


async def install(db: Database, *, lock_timeout_ms: int = 5_000, wait_s: float = 60.0
                  ) -> RunReport:
    """Apply any pending idempotency migrations (a no-op when up to date)."""
    runner = Migrator(db, MIGRATIONS, schema=SCHEMA, lock_timeout_ms=lock_timeout_ms,
                      wait_s=wait_s)
    return await runner.up()
