"""`pgkeel backup` (then `verify`, `script`) and `pgkeel restore`: pg_dump archives of the
database MIGRATION_DATABASE_URL (else DATABASE_URL) names."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pgkeel.cli._output import JsonFlag, console, emit, reported_errors, run
from pgkeel.config import Settings, load_settings
from pgkeel.embedded import EmbeddedServers
from pgkeel.errors import UsageError
from pgkeel.ops import backup as backups

app = typer.Typer(help="Back up the database (pg_dump -Fc), verify a backup, print a script.",
                  invoke_without_command=True)


def _url() -> str:
    settings: Settings = EmbeddedServers.for_settings(load_settings(), redis=False).settings
    url = settings.migration_url
    if url is None:
        raise UsageError("DATABASE_URL is not set.")
    return url


@app.callback()
def backup(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Option("--dir", help="Where archives go.")] = Path(
        "backups"),
    keep: Annotated[int | None, typer.Option(min=1, help="Keep the newest N archives of "
                                             "this database (default: all).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Write <dir>/<db>-<UTC time>.dump (pg_dump -Fc, of the server's major version) and
    its row counts (.json), then apply --keep."""
    if ctx.invoked_subcommand is not None:
        return
    with reported_errors(as_json):
        made = run(backups.backup(_url(), directory, keep=keep))
    emit(made.as_dict(), as_json, lambda: console.print(
        f"{made.path} ({made.bytes} bytes, {len(made.row_counts)} tables, PostgreSQL "
        f"{made.server_major}); removed {len(made.removed)} older", highlight=False))


@app.command()
def verify(path: Annotated[Path, typer.Argument(help="The .dump file.")],
           as_json: JsonFlag = False) -> None:
    """Restore into a scratch database, compare every table's row count with the counts
    taken at backup time, drop the scratch database. Exit 1 on a mismatch."""
    with reported_errors(as_json):
        report = run(backups.verify(_url(), path))

    def human() -> None:
        console.print(f"{'OK' if report.ok else 'MISMATCH'}: {report.tables} tables, "
                      f"{report.rows} rows restored, compared with {report.compared_with}",
                      highlight=False)
        for name, counts in report.mismatches.items():
            console.print(f"  {name}: expected {counts['expected']}, restored "
                          f"{counts['restored']}", highlight=False)

    emit(report.as_dict(), as_json, human)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def script(
    directory: Annotated[str, typer.Option("--dir", help="BACKUP_DIR of the script.")] =
    "/var/backups/postgresql",
    keep_days: Annotated[int, typer.Option(min=0, help="Delete archives older than this.")] = 7,
) -> None:
    """Print `ops.generate_backup_script()`: a sh script for cron on a host without pgkeel."""
    with reported_errors(False):
        text = run(backups.backup_script(_url(), backup_dir=directory, keep_days=keep_days))
    typer.echo(text, nl=False)


def restore(
    path: Annotated[Path, typer.Argument(help="The .dump file.")],
    into: Annotated[str, typer.Option("--into", help="The new database to restore into.")],
    as_json: JsonFlag = False,
) -> None:
    """Restore a backup into a new database on the same server (objects owned by the
    connecting role)."""
    with reported_errors(as_json):
        run(backups.restore(_url(), path, into))
    emit({"restored": str(path), "database": into}, as_json,
         lambda: console.print(f"restored {path} into {into}", highlight=False))
