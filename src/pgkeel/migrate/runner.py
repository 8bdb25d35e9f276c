"""`Migrator`: the Python API behind `pgkeel migrate` (one method per command).

    async with Database.from_settings(settings) as db:
        migrator = Migrator(db, "migrations/identity", schema="identity")
        report = await migrator.up()

Commands that change anything open their own connection, take the set's advisory lock on it,
and only then read the history and decide what to run (check, lock, re-check): two runners
started together apply each migration once, and the second finds nothing left to do.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg import AsyncConnection

from pgkeel.config import Settings
from pgkeel.db import Database
from pgkeel.errors import (
    BaselineRefused,
    LintFailed,
    PgkeelError,
    ProductionRefused,
    UsageError,
    translate,
)
from pgkeel.migrate import _queries as q
from pgkeel.migrate.executor import AppliedMigration, Executor, RunSettings
from pgkeel.migrate.history import History, RowType, row_params
from pgkeel.migrate.lint import LintFinding, Severity, lint_files
from pgkeel.migrate.loader import CHECKSUM_ALGO, MigrationSet, load_directory
from pgkeel.migrate.lock import LockHolder, MigrationLock, find_holder, server_lock_key
from pgkeel.migrate.planner import (
    Analysis,
    DriftIssue,
    Plan,
    State,
    StatusEntry,
    analyze,
    plan_down,
    plan_up,
)
from pgkeel.migrate.scaffold import create_migration
from pgkeel.migrate.versions import Version

__all__ = ["DryRun", "Migrator", "RepairReport", "RunReport", "StatusReport"]

DryRun = Literal["sql", "verify"]
"""`sql`: print the exact SQL, apply nothing. `verify`: also run the transactional files
inside a transaction that is rolled back."""


@dataclass
class RunReport:
    """What `up` / `down` did (or, in a dry run, would do)."""

    command: str
    schema: str
    applied: list[AppliedMigration] = field(default_factory=list)
    dry_run: DryRun | None = None
    sql: str | None = None
    planned: list[str] = field(default_factory=list)
    not_verified: list[str] = field(default_factory=list)
    warnings: list[LintFinding] = field(default_factory=list)
    lock_wait_ms: int = 0
    skipped_repeatables: bool = False


@dataclass
class StatusReport:
    """Every migration's state, the drift found, and who holds the lock right now."""

    schema: str
    entries: list[StatusEntry]
    issues: list[DriftIssue]
    locked_by: LockHolder | None = None

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = {}
        for entry in self.entries:
            result[entry.state.value] = result.get(entry.state.value, 0) + 1
        return result

    @property
    def up_to_date(self) -> bool:
        """Nothing pending or outdated, and no drift."""
        waiting = {State.PENDING, State.UNDONE, State.OUT_OF_ORDER, State.OUTDATED,
                   State.FAILED}
        return not self.issues and not any(e.state in waiting for e in self.entries)


@dataclass
class RepairReport:
    """What `repair` changed in the history (metadata only; no migration is run)."""

    schema: str
    removed_failed: list[str] = field(default_factory=list)
    realigned_checksums: list[str] = field(default_factory=list)
    forgotten_missing: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.removed_failed or self.realigned_checksums or self.forgotten_missing)


class Migrator:
    """One migration set: a directory of SQL files applied to one schema."""

    def __init__(
        self,
        db: Database,
        directory: str | Path,
        *,
        schema: str = "public",
        lock_timeout_ms: int = 5_000,
        statement_timeout_ms: int = 0,
        lock_retries: int = 3,
        retry_base_delay_s: float = 0.25,
        wait_s: float = 60.0,
        production: bool = False,
    ) -> None:
        if not schema or len(schema.encode()) > 63:
            raise UsageError(f"Invalid schema name {schema!r}.")
        self.db = db
        self.directory = Path(directory)
        self.schema = schema
        self.wait_s = wait_s
        self.production = production
        self.history = History(schema)
        self.settings = RunSettings(lock_timeout_ms=lock_timeout_ms,
                                    statement_timeout_ms=statement_timeout_ms,
                                    lock_retries=lock_retries,
                                    retry_base_delay_s=retry_base_delay_s)

    @classmethod
    def from_settings(cls, db: Database, settings: Settings, *,
                      directory: str | Path | None = None,
                      schema: str | None = None) -> Migrator:
        """A migrator configured from MIGRATIONS_DIR, MIGRATIONS_SCHEMA, MIGRATE_* and APP_ENV."""
        return cls(db, settings.migrations_dir if directory is None else directory,
                   schema=schema or settings.migrations_schema,
                   lock_timeout_ms=settings.migrate_lock_timeout_ms,
                   statement_timeout_ms=settings.migrate_statement_timeout_ms,
                   lock_retries=settings.migrate_lock_retries, wait_s=settings.migrate_wait_s,
                   production=settings.is_production)

    def load(self) -> MigrationSet:
        """Read and check the directory (no database needed)."""
        return load_directory(self.directory)

    # -- commands without the lock -----------------------------------------------------------

    def create(self, name: str, *, version: str | None = None, undo: bool = False,
               repeatable: bool = False, transactional: bool = True) -> list[Path]:
        """Write the next migration file(s) from a template."""
        return create_migration(self.directory, name, version=version, undo=undo,
                                repeatable=repeatable, transactional=transactional)

    def lint(self) -> list[LintFinding]:
        """Lint every versioned and repeatable file (no database needed)."""
        return lint_files(self.load())

    async def status(self, *, allow_out_of_order: bool = False) -> StatusReport:
        """The state of every migration, and any drift."""
        files = self.load()
        with _translated():
            async with self.db.transaction(readonly=True) as tx:
                await tx.begin()
                conn = tx.connection
                rows = await self.history.rows(conn)
                holder = await find_holder(conn, await server_lock_key(conn, self.schema))
        analysis = analyze(files, rows, allow_out_of_order=allow_out_of_order)
        return StatusReport(self.schema, analysis.entries, analysis.issues, holder)

    async def validate(self, *, allow_out_of_order: bool = False) -> list[DriftIssue]:
        """Every difference between the history and the files (empty: no drift)."""
        return (await self.status(allow_out_of_order=allow_out_of_order)).issues

    # -- commands under the lock -------------------------------------------------------------

    async def up(self, *, target: str | Version | None = None, dry_run: DryRun | bool = False,
                 allow_out_of_order: bool = False, lint: bool = True) -> RunReport:
        """Apply pending migrations (up to `target`), then changed repeatables."""
        files, mode = self.load(), _dry_mode(dry_run)
        report = RunReport("up", self.schema, dry_run=mode)
        async with self._session(lock=mode != "sql") as (conn, waited):
            report.lock_wait_ms = round(waited * 1000)
            rows = await self.history.rows(conn)
            plan = plan_up(files, rows, target=_version(target),
                           allow_out_of_order=allow_out_of_order)
            report.skipped_repeatables = plan.skipped_repeatables
            if lint:
                report.warnings = _check_lint(plan)
            await self._execute(conn, plan, report, create_history=not rows)
        return report

    async def down(self, *, steps: int | None = None, target: str | Version | None = None,
                   dry_run: DryRun | bool = False) -> RunReport:
        """Undo the newest applied migration(s) with their U files (default: one step)."""
        if steps is not None and target is not None:
            raise UsageError("Give either steps or target, not both.")
        if steps is not None and steps < 1:
            raise UsageError("steps must be at least 1.")
        files, mode = self.load(), _dry_mode(dry_run)
        report = RunReport("down", self.schema, dry_run=mode)
        async with self._session(lock=mode != "sql") as (conn, waited):
            report.lock_wait_ms = round(waited * 1000)
            rows = await self.history.rows(conn)
            plan = plan_down(files, rows, steps=steps, target=_version(target))
            await self._execute(conn, plan, report, create_history=False)
        return report

    async def baseline(self, version: str | Version, description: str = "baseline") -> str:
        """Mark `version` and everything below it as applied, without running anything."""
        chosen = _version(version)
        assert chosen is not None
        async with self._session() as (conn, _):
            rows = await self.history.rows(conn)
            taken = [r for r in rows if r.type in (RowType.SQL, RowType.BASELINE) and r.success]
            if taken:
                raise BaselineRefused(
                    f"Schema {self.schema!r} already has applied migrations (latest: "
                    f"{taken[-1].script}); a baseline only starts an empty history.",
                    details={"schema": self.schema})
            await self.history.ensure(conn)
            await self.history.insert(conn, row_params(
                version=chosen, description=description, row_type=RowType.BASELINE,
                script=f"<< baseline {chosen} >>"))
        return str(chosen)

    async def repair(self) -> RepairReport:
        """Remove failed rows, realign edited checksums, forget applied versions whose file
        is gone; record what changed in a REPAIR row. Runs no migration."""
        files = self.load()
        report = RepairReport(self.schema)
        async with self._session() as (conn, _):
            analysis = analyze(files, await self.history.rows(conn), allow_out_of_order=True)
            failed = _failed_rows(analysis)
            by_version = files.by_version()
            async with conn.transaction():
                for version, record in analysis.records.items():
                    row, file = record.effective, by_version.get(version)
                    if row is None or row.type is not RowType.SQL or not row.success:
                        continue
                    if file is None:
                        report.forgotten_missing.append(row.script)
                        await self.history.insert(conn, row_params(
                            version=version, description=row.description,
                            row_type=RowType.DELETE, script=row.script))
                    elif row.checksum != file.checksum or row.checksum_algo != CHECKSUM_ALGO:
                        report.realigned_checksums.append(file.script)
                        await self.history.update_checksum(conn, row.installed_rank,
                                                           file.checksum, CHECKSUM_ALGO)
                if failed:
                    report.removed_failed = [f"{script} (rank {rank})"
                                             for rank, script in sorted(failed.items())]
                    await self.history.delete(conn, list(failed))
                if report.changed:
                    await self.history.insert(conn, row_params(
                        version=None, description=_repair_note(report),
                        row_type=RowType.REPAIR, script="<< repair >>"))
        return report

    async def reset(self, *, force: bool = False) -> None:
        """DROP the set's schema with everything in it, history included. Refused in
        production, and without `force`."""
        if self.production:
            raise ProductionRefused(
                f"reset would drop schema {self.schema!r}; refused because APP_ENV=production.",
                details={"schema": self.schema})
        if not force:
            raise UsageError(f"reset drops schema {self.schema!r} and everything in it; "
                             "pass --force (force=True) to confirm.")
        async with self._session() as (conn, _):
            await self.history.drop_schema(conn)

    # -- internals -----------------------------------------------------------------------------

    @asynccontextmanager
    async def _session(self, *, lock: bool = True
                       ) -> AsyncIterator[tuple[AsyncConnection[Any], float]]:
        """The runner's own connection, holding the set's advisory lock (unless `lock` is
        False: a plain dry run reads only)."""
        name = f"pgkeel migrate {socket.gethostname()}:{os.getpid()}"[:63]
        conn = await self.db.connect_direct(application_name=name)
        try:
            with _translated():
                await conn.execute(q.SESSION_SETUP)
                guard = MigrationLock(conn, await server_lock_key(conn, self.schema),
                                      schema=self.schema, wait_s=self.wait_s)
                waited = await guard.acquire() if lock else 0.0
                try:
                    yield conn, waited
                finally:
                    await guard.release()
        finally:
            await conn.close()

    async def _execute(self, conn: AsyncConnection[Any], plan: Plan, report: RunReport, *,
                       create_history: bool) -> None:
        executor = Executor(conn, self.history, self.settings)
        report.planned = [step.file.script for step in plan.steps]
        if report.dry_run == "sql":
            parts = []
            if create_history and not await self.history.exists(conn):
                parts.append("\n".join(s.as_string(conn) + ";"
                                       for s in self.history.create_statements()))
            parts += [executor.render(step) for step in plan.steps]
            report.sql = "\n\n".join(parts) + ("\n" if parts else "")
            return
        if report.dry_run == "verify":
            report.applied, report.not_verified = await executor.rehearse(plan.steps)
            return
        await self.history.ensure(conn)
        for step in plan.steps:
            try:
                report.applied.append(await executor.run(step))
            except PgkeelError as exc:
                exc.details["applied_before"] = [a.script for a in report.applied]
                raise


@contextmanager
def _translated() -> Iterator[None]:
    """Driver errors from the runner's own queries become pgkeel errors."""
    try:
        yield
    except psycopg.Error as exc:
        raise translate(exc) from exc


def _check_lint(plan: Plan) -> list[LintFinding]:
    findings = lint_files([step.file for step in plan.steps])
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if errors:
        raise LintFailed(
            f"{len(errors)} lint error(s) in pending migrations; first: {errors[0]}",
            details={"findings": [vars(f) for f in findings]},
            hint="Use the safe alternative the message gives, suppress one finding with "
                 "`-- pgkeel: lint-ignore <code>`, or run up --no-lint.")
    return findings


def _dry_mode(dry_run: DryRun | bool) -> DryRun | None:
    if dry_run is True:
        return "sql"
    if dry_run is False:
        return None
    if dry_run not in ("sql", "verify"):
        raise UsageError(f"dry_run must be 'sql' or 'verify', not {dry_run!r}.")
    return dry_run


def _version(value: str | Version | None) -> Version | None:
    if value is None or isinstance(value, Version):
        return value
    try:
        return Version.parse(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _failed_rows(analysis: Analysis) -> dict[int, str]:
    """Rank -> script of every failure that still shows (the ones `repair` removes)."""
    failed: dict[int, str] = {}
    for record in [*analysis.records.values(), *analysis.repeatables.values()]:
        for row in (record.failure, record.effective):
            if row is not None and not row.success:
                failed[row.installed_rank] = row.script
    return failed


def _repair_note(report: RepairReport) -> str:
    parts = []
    if report.removed_failed:
        parts.append("removed failed: " + ", ".join(report.removed_failed))
    if report.realigned_checksums:
        parts.append("realigned checksums: " + ", ".join(report.realigned_checksums))
    if report.forgotten_missing:
        parts.append("forgot missing: " + ", ".join(report.forgotten_missing))
    return "; ".join(parts)
