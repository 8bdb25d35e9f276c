"""Installing the outbox schema: the library's own migration set, applied to schema `outbox`.

The SQL lives in `pgkeel/outbox/migrations/` (package data) and is applied by the ordinary
migration runner, so it is versioned, locked and checksummed like any application migration
(`pgkeel migrate status --dir <that dir> --schema outbox` shows it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pgkeel.db import Database
from pgkeel.errors import DatabaseError, OutboxNotInstalled
from pgkeel.migrate import Migrator, RunReport

__all__ = ["MIGRATIONS", "SCHEMA", "install", "not_installed", "translated"]

SCHEMA = "outbox"
"""The schema holding the outbox and inbox tables."""

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""The outbox migration set shipped with pgkeel."""

_MISSING = frozenset({"3F000", "42P01"})  # undefined schema / table


async def install(db: Database, *, lock_timeout_ms: int = 5_000, wait_s: float = 60.0
                  ) -> RunReport:
    """Apply any pending outbox migrations (a no-op when up to date)."""
    runner = Migrator(db, MIGRATIONS, schema=SCHEMA, lock_timeout_ms=lock_timeout_ms,
                      wait_s=wait_s)
    return await runner.up()


def not_installed(exc: DatabaseError) -> OutboxNotInstalled | None:
    """An `OutboxNotInstalled` when `exc` means the outbox tables are missing, else None."""
    if exc.sqlstate not in _MISSING:
        return None
    return OutboxNotInstalled(
        "The outbox schema is not installed in this database.",
        hint="Run `pgkeel outbox install` (or `await pgkeel.outbox.install(db)`).")


@contextmanager
def translated() -> Iterator[None]:
    """Raise `OutboxNotInstalled` for a database error that means the tables are missing."""
    try:
        yield
    except DatabaseError as exc:
        missing = not_installed(exc)
        if missing is not None:
            raise missing from exc
        raise
