"""`pgkeel audit install|enable|disable|tables|verify|checkpoint|prune|partitions`.

Thin shells over `pgkeel.audit.AuditLog`; every command takes `--json`. `verify` exits 1 when
it finds anything, so it can run from cron or CI and page someone.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from pgkeel.audit import AuditLog, Checkpoint, parse_age
from pgkeel.audit.capture import CaptureMode
from pgkeel.audit.partitions import default_partition_rows
from pgkeel.cli._output import (
    EXIT_ERROR,
    JsonFlag,
    console,
    emit,
    emit_applied,
    err_console,
    reported_errors,
    run,
)
from pgkeel.config import Settings, load_settings
from pgkeel.db import Database
from pgkeel.embedded import EmbeddedServers
from pgkeel.errors import UsageError

app = typer.Typer(help="The audit log: install, capture tables, verify, checkpoint, prune.",
                  no_args_is_help=True)

T = TypeVar("T")

TableArg = Annotated[str, typer.Argument(help="Table name, e.g. public.users.")]


async def _online(fn: Callable[[AuditLog, Settings], Awaitable[T]]) -> T:
    settings = EmbeddedServers.for_settings(load_settings(), redis=False).settings
    async with Database.from_settings(settings, min_size=1, max_size=2) as db:
        return await fn(AuditLog(db), settings)


def _key(settings: Settings) -> bytes | None:
    secret = settings.audit_checkpoint_key
    return secret.get_secret_value().encode() if secret is not None else None


@app.command()
def install(
    months_ahead: Annotated[int | None, typer.Option(
        help="Partitions to create ahead (default: AUDIT_PARTITIONS_AHEAD).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Apply the audit schema's migrations (idempotent) and create partitions ahead."""
    async def go(audit: AuditLog, settings: Settings) -> list[str]:
        report = await audit.install(
            months_ahead=settings.audit_partitions_ahead if months_ahead is None
            else months_ahead)
        return [item.script for item in report.applied]

    with reported_errors(as_json):
        emit_applied(run(_online(go)), as_json, "audit")


@app.command()
def enable(
    table: TableArg,
    *,
    mode: Annotated[str, typer.Option(help="statement (bulk-friendly) or row.")] = "statement",
    exclude: Annotated[list[str] | None, typer.Option(
        "--exclude", help="Column never stored (repeatable), e.g. password_hash.")] = None,
    ignore: Annotated[list[str] | None, typer.Option(
        "--ignore", help="Column whose change alone is not audited (repeatable).")] = None,
    org_column: Annotated[str | None, typer.Option(
        help="The row's organization column (default: pgkeel.org_id).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Audit every INSERT/UPDATE/DELETE/TRUNCATE on TABLE with triggers."""
    if mode not in ("statement", "row"):
        raise typer.BadParameter("--mode must be statement or row")
    chosen: CaptureMode = "row" if mode == "row" else "statement"

    async def go(audit: AuditLog, _: Settings) -> str:
        return await audit.enable(table, mode=chosen, exclude=exclude or (),
                                  ignore=ignore or (), org_column=org_column)

    with reported_errors(as_json):
        used = run(_online(go))
        emit({"table": table, "mode": used}, as_json, lambda: console.print(
            f"auditing {table} ({used}-level triggers)", highlight=False))


@app.command()
def disable(table: TableArg, as_json: JsonFlag = False) -> None:
    """Remove TABLE's audit triggers (its audit rows stay)."""
    async def go(audit: AuditLog, _: Settings) -> bool:
        return await audit.disable(table)

    with reported_errors(as_json):
        removed = run(_online(go))
        emit({"table": table, "disabled": removed}, as_json, lambda: console.print(
            f"stopped auditing {table}" if removed else f"{table} was not audited",
            highlight=False))


@app.command()
def tables(as_json: JsonFlag = False) -> None:
    """List the tables with audit triggers."""
    async def go(audit: AuditLog, _: Settings) -> list[Any]:
        return await audit.tracked_tables()

    with reported_errors(as_json):
        found = run(_online(go))

        def human() -> None:
            grid = Table("table", "mode", "primary key", "excluded", "ignored", "org column")
            for t in found:
                grid.add_row(t.table, t.mode, ", ".join(t.pk_columns), ", ".join(t.excluded),
                             ", ".join(t.ignored), t.org_column or "")
            console.print(grid)
        emit(found, as_json, human)


@app.command()
def verify(
    org: Annotated[str | None, typer.Option(help="Only this organization.")] = None,
    checkpoint: Annotated[Path | None, typer.Option(
        help="Also check the chain heads exported by `pgkeel audit checkpoint`.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Recompute the hash chains; exit 1 on any edited, deleted or inserted row."""
    async def go(audit: AuditLog, settings: Settings) -> Any:
        exported = Checkpoint.load(checkpoint, _key(settings)) if checkpoint else None
        return await audit.verify(org_id=org, checkpoint=exported)

    with reported_errors(as_json):
        report = run(_online(go))

    def human() -> None:
        for finding in report.findings:
            err_console.print(str(finding), markup=False, highlight=False, soft_wrap=True)
        summary = (f"{report.rows} rows in {report.organizations} organization(s)"
                   + (f", {report.checkpoint_heads} checkpointed head(s)"
                      if checkpoint else ""))
        if report.ok:
            console.print(f"ok: {summary} verified", highlight=False)
        else:
            counts = ", ".join(f"{n} {kind}" for kind, n in sorted(report.counts().items()))
            err_console.print(f"FAILED: {counts} ({summary})", highlight=False)
    emit(report.to_dict(), as_json, human)
    if not report.ok:
        raise typer.Exit(EXIT_ERROR)


@app.command(name="checkpoint")
def checkpoint_command(
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write to this file (default: stdout).")] = None,
) -> None:
    """Export every organization's chain head, for `verify --checkpoint`.

    Signed with AUDIT_CHECKPOINT_KEY when set. Keep the file outside the database.
    """
    async def go(audit: AuditLog, settings: Settings) -> bytes:
        return (await audit.checkpoint()).to_json(_key(settings))

    with reported_errors(False):
        data = run(_online(go))
        if output is None:
            sys.stdout.write(data.decode())
        else:
            output.write_bytes(data)
            err_console.print(f"checkpoint written to {output}", highlight=False)


@app.command()
def prune(
    older_than: Annotated[str, typer.Option(help="Age to keep, e.g. 365d, 52w, 1y.")],
    detach: Annotated[bool, typer.Option(
        "--detach", help="Detach the partitions (keep them as tables) instead of dropping.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list them.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")
                   ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Drop whole monthly partitions that end before now - OLDER_THAN."""
    with reported_errors(as_json):
        age = parse_age(older_than)

        async def plan(audit: AuditLog, _: Settings) -> Any:
            return await audit.prune(older_than=age, detach=detach, dry_run=True)

        planned = run(_online(plan))
        if not dry_run and planned.partitions and not yes:
            if not sys.stdin.isatty():
                raise UsageError("prune needs confirmation.", hint="Pass --yes.")
            verb = "Detach" if detach else "Drop"
            typer.confirm(f"{verb} {', '.join(planned.partitions)}?", abort=True)

        async def go(audit: AuditLog, _: Settings) -> Any:
            return await audit.prune(older_than=age, detach=detach, dry_run=dry_run)

        report = planned if dry_run or not planned.partitions else run(_online(go))

    def human() -> None:
        cutoff = f"(cutoff {report.cutoff.isoformat()})"
        if not report.partitions:
            console.print(f"nothing to prune {cutoff}", highlight=False)
            return
        verb = "would remove" if dry_run else ("detached" if detach else "dropped")
        console.print(f"{verb} {', '.join(report.partitions)} {cutoff}", highlight=False)
    emit(report, as_json, human)


@app.command()
def partitions(
    ahead: Annotated[int | None, typer.Option(
        help="Months to create ahead (default: AUDIT_PARTITIONS_AHEAD).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create the coming months' partitions (run it monthly) and list them all."""
    async def go(audit: AuditLog, settings: Settings) -> tuple[list[str], list[Any], int]:
        created = await audit.create_partitions(
            months_ahead=settings.audit_partitions_ahead if ahead is None else ahead)
        return created, await audit.list_partitions(), await default_partition_rows(audit.db)

    with reported_errors(as_json):
        created, found, waiting = run(_online(go))

    def human() -> None:
        grid = Table("partition", "from", "to", "rows (est.)", "size")
        for p in found:
            grid.add_row(p.name, p.lower_bound.date().isoformat() if p.lower_bound else "",
                         p.upper_bound.date().isoformat() if p.upper_bound else "",
                         str(p.estimated_rows), f"{p.total_bytes // 1024} kB")
        console.print(grid)
        console.print(f"created {', '.join(created)}" if created else "nothing to create",
                      highlight=False)
        if waiting:
            err_console.print(f"warning: {waiting} row(s) in audit_log_default: their "
                              "months had no partition in time", highlight=False)
    emit({"created": created, "partitions": found, "default_rows": waiting}, as_json, human)
