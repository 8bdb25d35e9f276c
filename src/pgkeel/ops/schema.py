"""Installing the ops schema: the library's own migration set, applied to schema `ops`.

The SQL functions in `pgkeel/ops/migrations/` are what `pgkeel health` and `pgkeel stats` call,
so psql users and the CLI get the same answers; the ordinary migration runner applies them
(`pgkeel migrate status --dir <that dir> --schema ops` shows them).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pgkeel.db import Database
from pgkeel.errors import DatabaseError, OpsNotInstalled
from pgkeel.migrate import Migrator, RunReport

__all__ = ["MIGRATIONS", "SCHEMA", "install", "translated"]

SCHEMA = "ops"
"""The schema holding the statistics and health functions."""

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""The ops migration set shipped with pgkeel."""

_MISSING = frozenset({"3F000", "42883"})  # undefined schema / function


async def install(db: Database, *, lock_timeout_ms: int = 5_000, wait_s: float = 60.0
                  ) -> RunReport:
    """Apply any pending ops migrations (a no-op when up to date)."""
    runner = Migrator(db, MIGRATIONS, schema=SCHEMA, lock_timeout_ms=lock_timeout_ms,
                      wait_s=wait_s)
    return await runner.up()


@contextmanager
def translated() -> Iterator[None]:
    """Raise `OpsNotInstalled` for a database error that means the functions are missing."""
    try:
        yield
    except DatabaseError as exc:
        if exc.sqlstate not in _MISSING:
            raise
        raise OpsNotInstalled(
            "The ops schema is not installed in this database.",
            hint="Run `pgkeel ops install` (or `await pgkeel.ops.install(db)`).") from exc
