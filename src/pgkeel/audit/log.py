"""`AuditLog`: the audit log of one database, in one object.

    audit = AuditLog(db)
    await audit.install()                                   # once, at deploy / start-up
    async with db.transaction() as tx:                      # in-transaction (the default)
        await tx.execute("UPDATE users SET status = %s WHERE id = %s", ("inactive", 7))
        await audit.record(tx, action="users.update", entity_type="User", entity_id=7,
                           old={"status": "active"}, new={"status": "inactive"})
    await audit.enable("public.students")                   # trigger capture
    with use_context(org_id=org_id):                        # lists: the list grammar
        page = await Repository(db, AUDIT_LOG).list(parse_list_params(
            AUDIT_LOG, [("action", "users.update"), ("limit", "50")]))
    report = await audit.verify(org_id=org_id)

Each method is a thin shell over one module (`record`, `capture`, `queries`, `partitions`,
`verify`, `checkpoint`); the non-blocking appender is `AuditAppender`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from pgkeel.audit import capture, queries, schema
from pgkeel.audit import partitions as parts
from pgkeel.audit.checkpoint import Checkpoint, take_checkpoint
from pgkeel.audit.events import DEFAULT_REDACTED, FROM_CONTEXT, AuditEvent
from pgkeel.audit.record import record
from pgkeel.audit.verify import VerifyReport, verify
from pgkeel.db import Database, Transaction
from pgkeel.migrate import RunReport

__all__ = ["AuditLog"]


class AuditLog:
    """Record, capture, query, prune and verify the audit log of `db`."""

    def __init__(self, db: Database, *, redact: Iterable[str] = DEFAULT_REDACTED) -> None:
        self.db = db
        self.redact = frozenset(redact)

    # -- set-up ------------------------------------------------------------------------------

    async def install(self, *, months_ahead: int = 3) -> RunReport:
        """Apply the audit migrations (idempotent), then create partitions ahead."""
        report = await schema.install(self.db)
        await parts.create_partitions(self.db, months_ahead=months_ahead)
        return report

    # -- writing -----------------------------------------------------------------------------

    async def record(
        self, tx: Transaction, *, action: str, entity_type: str, entity_id: Any = None,
        old: Any = None, new: Any = None, metadata: Any = None, org_id: Any = FROM_CONTEXT,
        actor_id: Any = FROM_CONTEXT, request_id: Any = FROM_CONTEXT,
        changed: Iterable[str] | None = None,
    ) -> UUID:
        """Write one audit row inside `tx` (see `pgkeel.audit.record`); returns its event id."""
        return await record(tx, action=action, entity_type=entity_type, entity_id=entity_id,
                            old=old, new=new, metadata=metadata, org_id=org_id,
                            actor_id=actor_id, request_id=request_id, changed=changed,
                            redact=self.redact)

    # -- trigger capture ---------------------------------------------------------------------

    async def enable(self, table: str, *, mode: capture.CaptureMode = "statement",
                     exclude: Sequence[str] = (), ignore: Sequence[str] = (),
                     org_column: str | None = None) -> capture.CaptureMode:
        """Audit every change to `table` with triggers (see `pgkeel.audit.capture.enable`)."""
        return await capture.enable(self.db, table, mode=mode, exclude=exclude, ignore=ignore,
                                    org_column=org_column)

    async def disable(self, table: str) -> bool:
        return await capture.disable(self.db, table)

    async def tracked_tables(self) -> list[capture.TrackedTable]:
        return await capture.tracked_tables(self.db)

    # -- reading -----------------------------------------------------------------------------

    async def trail(self, org_id: Any, entity_type: str, entity_id: Any, *, limit: int = 100,
                    newest_first: bool = True) -> list[AuditEvent]:
        return await queries.trail(self.db, org_id, entity_type, entity_id, limit=limit,
                                   newest_first=newest_first)

    async def user_activity(self, user_id: Any, *, days: int = 30,
                            org_id: Any = None) -> queries.ActivitySummary:
        return await queries.user_activity_summary(self.db, user_id, days=days, org_id=org_id)

    async def daily_stats(self, org_id: Any, *, days: int = 30, since: datetime | None = None,
                          until: datetime | None = None,
                          action: str | Sequence[str] | None = None
                          ) -> list[queries.DailyCount]:
        return await queries.daily_stats(self.db, org_id, days=days, since=since,
                                         until=until, action=action)

    # -- partitions and retention ------------------------------------------------------------

    async def create_partitions(self, *, months_ahead: int = 3,
                                from_time: datetime | None = None) -> list[str]:
        return await parts.create_partitions(self.db, months_ahead=months_ahead,
                                                  from_time=from_time)

    async def list_partitions(self) -> list[parts.Partition]:
        return await parts.list_partitions(self.db)

    async def prune(self, *, older_than: timedelta | None = None,
                    cutoff: datetime | None = None, detach: bool = False,
                    dry_run: bool = False) -> parts.PruneReport:
        return await parts.prune(self.db, older_than=older_than, cutoff=cutoff,
                                      detach=detach, dry_run=dry_run)

    # -- tamper evidence ---------------------------------------------------------------------

    async def verify(self, *, org_id: Any = None,
                     checkpoint: Checkpoint | None = None) -> VerifyReport:
        return await verify(self.db, org_id=org_id, checkpoint=checkpoint)

    async def checkpoint(self) -> Checkpoint:
        return await take_checkpoint(self.db)
