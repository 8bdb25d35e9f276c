"""`pgkeel migrate create|up|down|status|validate|baseline|repair|reset|lint`.

Each command is a thin shell over `pgkeel.migrate.Migrator`; every one takes `--dir`,
`--schema` (defaults: MIGRATIONS_DIR, MIGRATIONS_SCHEMA) and `--json`, and exits non-zero on
failure or drift.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table
from rich.text import Text

from pgkeel.cli._output import JsonFlag, console, emit, err_console, reported_errors, run
from pgkeel.config import load_settings
from pgkeel.db import Database
from pgkeel.embedded import EmbeddedServers
from pgkeel.errors import LintFailed
from pgkeel.migrate import (
    DryRun,
    LintFinding,
    Migrator,
    RunReport,
    Severity,
    State,
    StatusReport,
    create_migration,
    lint_files,
    load_directory,
)

app = typer.Typer(help="Apply, undo, check and lint SQL migrations.", no_args_is_help=True)

T = TypeVar("T")

DirOpt = Annotated[Path | None, typer.Option(
    "--dir", help="Migration directory (default: MIGRATIONS_DIR, else ./migrations).")]
SchemaOpt = Annotated[str | None, typer.Option(
    "--schema", help="Schema of the set (default: MIGRATIONS_SCHEMA, else public).")]
TargetOpt = Annotated[str | None, typer.Option("--target", help="Stop at this version.")]

_STATE_STYLE = {State.APPLIED: "green", State.PENDING: "yellow", State.FAILED: "bold red",
                State.MISSING: "red", State.CHECKSUM_MISMATCH: "red",
                State.OUT_OF_ORDER: "magenta", State.UNDONE: "cyan", State.BASELINE: "blue",
                State.BELOW_BASELINE: "dim", State.OUTDATED: "yellow"}


def _directory(directory: Path | None) -> Path:
    """For commands that never touch the database (create, lint)."""
    return load_settings().migrations_dir if directory is None else directory


def _dry_run(extra: list[str]) -> DryRun | bool:
    """`--dry-run` / `--dry-run=verify`, parsed by hand: Typer options cannot have an
    optional value."""
    mode: DryRun | bool = False
    for arg in extra:
        if arg in ("--dry-run", "--dry-run=sql"):
            mode = "sql"
        elif arg == "--dry-run=verify":
            mode = "verify"
        else:
            raise typer.BadParameter(f"unexpected {arg!r}; use --dry-run or --dry-run=verify")
    return mode


async def _online(directory: Path | None, schema: str | None,
                  fn: Callable[[Migrator], Awaitable[T]]) -> T:
    settings = EmbeddedServers.for_settings(load_settings(), redis=False).settings
    async with Database.from_settings(settings, min_size=1, max_size=2) as db:
        return await fn(Migrator.from_settings(db, settings, directory=directory,
                                               schema=schema))


def _show_run(report: RunReport, as_json: bool) -> None:
    def human() -> None:
        if report.dry_run == "sql":
            sys.stdout.write(report.sql or "-- nothing to apply\n")
            return
        verb = {"up": "applied", "down": "undid"}[report.command]
        if report.dry_run == "verify":
            verb = "verified (rolled back)"
        for item in report.applied:
            resumed = f", resumed at statement {item.resumed_from + 1}" if item.resumed_from \
                else ""
            plural = "" if item.statements == 1 else "s"
            _say(f"{verb} {item.script} ({item.execution_ms} ms, "
                 f"{item.statements} statement{plural}{resumed})")
        for script in report.not_verified:
            _say(f"not verified (transaction=off, or after one): {script}")
        if not report.applied and not report.not_verified:
            _say(f"nothing to {'apply' if report.command == 'up' else 'undo'} "
                 f"in schema {report.schema}")
        _show_findings(report.warnings)
    emit(report, as_json, human)


def _say(text: str, *, err: bool = False, style: str | None = None) -> None:
    """Print user content as is: no markup, no highlighting, no wrapping of long paths."""
    (err_console if err else console).print(text, style=style, markup=False, highlight=False,
                                            soft_wrap=True)


def _show_findings(findings: list[LintFinding]) -> None:
    for finding in findings:
        style = "red" if finding.severity is Severity.ERROR else "yellow"
        _say(str(finding), err=True, style=style)


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="What the migration does, e.g. 'add users'.")],
    *, directory: DirOpt = None, schema: SchemaOpt = None,
    version: Annotated[str | None, typer.Option(help="Use this version.")] = None,
    undo: Annotated[bool, typer.Option("--undo", help="Also create the U file.")] = False,
    repeatable: Annotated[bool, typer.Option("--repeatable", help="An R__ file.")] = False,
    no_transaction: Annotated[bool, typer.Option(
        "--no-transaction", help="Start the file with `-- pgkeel: transaction=off`.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create the next migration file from a template."""
    with reported_errors(as_json):
        paths = create_migration(_directory(directory), name, version=version, undo=undo,
                                 repeatable=repeatable, transactional=not no_transaction)

        def human() -> None:
            for path in paths:
                _say(f"created {path}")
        emit({"created": [str(p) for p in paths]}, as_json, human)


@app.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def up(
    ctx: typer.Context, *, directory: DirOpt = None, schema: SchemaOpt = None,
    target: TargetOpt = None,
    allow_out_of_order: Annotated[bool, typer.Option(
        "--allow-out-of-order", help="Apply pending versions older than applied ones.")] = False,
    no_lint: Annotated[bool, typer.Option(
        "--no-lint", help="Apply even if pending files have lint errors.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Apply pending migrations (and changed repeatables), under the migration lock.

    --dry-run prints the exact SQL and applies nothing.
    --dry-run=verify runs the transactional files in a transaction, then rolls back.
    """
    with reported_errors(as_json):
        mode = _dry_run(ctx.args)
        try:
            report = run(_online(directory, schema, lambda m: m.up(
                target=target, dry_run=mode, allow_out_of_order=allow_out_of_order,
                lint=not no_lint)))
        except LintFailed as exc:
            if not as_json:
                _show_findings([LintFinding(**f) for f in exc.details.get("findings", [])])
            raise
        _show_run(report, as_json)


@app.command()
def down(
    *, directory: DirOpt = None, schema: SchemaOpt = None,
    steps: Annotated[int | None, typer.Option(
        "--steps", min=1, help="How many migrations to undo (default: 1).")] = None,
    target: Annotated[str | None, typer.Option(
        "--target", help="Undo every version above this one.")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the exact SQL and undo nothing.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Undo the newest migrations with their U files."""
    with reported_errors(as_json):
        report = run(_online(directory, schema, lambda m: m.down(
            steps=steps, target=target, dry_run=dry_run)))
        _show_run(report, as_json)


@app.command()
def status(
    directory: DirOpt = None, schema: SchemaOpt = None,
    exit_code: Annotated[bool, typer.Option(
        "--exit-code", help="Also exit 1 when anything is pending.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Show every migration's state; exit 1 on drift."""
    with reported_errors(as_json):
        report = run(_online(directory, schema, lambda m: m.status()))
        emit(_status_data(report), as_json, lambda: _show_status(report))
        if report.issues or (exit_code and not report.up_to_date):
            raise typer.Exit(1)


def _status_data(report: StatusReport) -> dict[str, Any]:
    return {"schema": report.schema, "up_to_date": report.up_to_date,
            "counts": report.counts(), "entries": report.entries, "issues": report.issues,
            "locked_by": report.locked_by}


def _show_status(report: StatusReport) -> None:
    table = Table("version", "description", "type", "state", "installed on", "ms",
                  title=f"schema {report.schema}")
    for entry in report.entries:
        style = _STATE_STYLE.get(entry.state, "")
        installed = f"{entry.installed_on:%Y-%m-%d %H:%M:%S}" if entry.installed_on else ""
        table.add_row(Text(entry.version or ""), Text(entry.description), entry.type,
                      Text(entry.state, style=style), installed,
                      "" if entry.execution_ms is None else str(entry.execution_ms))
    console.print(table)
    for issue in report.issues:
        _say(f"drift: {issue.message}", err=True)
    if report.locked_by:
        _say(f"locked by {report.locked_by.describe()}")


@app.command()
def validate(
    directory: DirOpt = None, schema: SchemaOpt = None,
    allow_out_of_order: Annotated[bool, typer.Option(
        "--allow-out-of-order", help="Do not count older pending versions as drift.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Check the history against the files; exit 1 on any drift, naming file and cause."""
    with reported_errors(as_json):
        issues = run(_online(directory, schema, lambda m: m.validate(
            allow_out_of_order=allow_out_of_order)))

        def human() -> None:
            if not issues:
                console.print("ok: the history matches the files")
            for issue in issues:
                _say(f"{issue.kind}: {issue.message}", err=True)
        emit({"ok": not issues, "issues": issues}, as_json, human)
        if issues:
            raise typer.Exit(1)


@app.command()
def baseline(
    version: Annotated[str, typer.Argument(help="Versions up to this one count as applied.")],
    directory: DirOpt = None, schema: SchemaOpt = None,
    description: Annotated[str, typer.Option(help="Shown in status.")] = "baseline",
    as_json: JsonFlag = False,
) -> None:
    """Start the history of an existing database at VERSION (runs nothing)."""
    with reported_errors(as_json):
        chosen = run(_online(directory, schema, lambda m: m.baseline(version, description)))
        emit({"baseline": chosen}, as_json,
             lambda: _say(f"baseline set at version {chosen}"))


@app.command()
def repair(directory: DirOpt = None, schema: SchemaOpt = None,
           as_json: JsonFlag = False) -> None:
    """Remove failed rows, realign edited checksums, forget versions whose file is gone."""
    with reported_errors(as_json):
        report = run(_online(directory, schema, lambda m: m.repair()))

        def human() -> None:
            if not report.changed:
                console.print("nothing to repair")
            for item in report.removed_failed:
                _say(f"removed failed row: {item}")
            for item in report.realigned_checksums:
                _say(f"realigned checksum: {item}")
            for item in report.forgotten_missing:
                _say(f"forgot missing file: {item}")
        emit(report, as_json, human)


@app.command()
def reset(directory: DirOpt = None, schema: SchemaOpt = None,
          force: Annotated[bool, typer.Option("--force", help="Really drop it.")] = False,
          as_json: JsonFlag = False) -> None:
    """Drop the set's schema and everything in it (refused when APP_ENV=production)."""
    with reported_errors(as_json):
        async def go(m: Migrator) -> str:
            await m.reset(force=force)
            return m.schema
        dropped = run(_online(directory, schema, go))
        emit({"dropped_schema": dropped}, as_json,
             lambda: _say(f"dropped schema {dropped}"))


@app.command()
def lint(directory: DirOpt = None, schema: SchemaOpt = None,
         strict: Annotated[bool, typer.Option("--strict", help="Warnings fail too.")] = False,
         as_json: JsonFlag = False) -> None:
    """Check versioned and repeatable files for dangerous DDL (no database needed)."""
    with reported_errors(as_json):
        findings = lint_files(load_directory(_directory(directory)))
        failing = [f for f in findings if strict or f.severity is Severity.ERROR]

        def human() -> None:
            _show_findings(findings)
            errors = sum(f.severity is Severity.ERROR for f in findings)
            console.print(f"{errors} error(s), {len(findings) - errors} warning(s)")
        emit({"ok": not failing, "findings": findings}, as_json, human)
        if failing:
            raise typer.Exit(1)
