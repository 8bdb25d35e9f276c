"""The `pgkeel` command: one Typer app with a sub-app per capability."""

from __future__ import annotations

import logging

import typer

from pgkeel import __version__
from pgkeel.cli import (
    audit,
    backup,
    cache,
    config,
    db,
    idempotency,
    maintain,
    migrate,
    ops,
    outbox,
    repo,
    security,
    server,
)

app = typer.Typer(name="pgkeel", help="pgkeel: the hardened PostgreSQL + Redis data layer.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(server.app, name="server")
app.add_typer(db.app, name="db")
app.add_typer(migrate.app, name="migrate")
app.add_typer(cache.app, name="cache")
app.add_typer(audit.app, name="audit")
app.add_typer(idempotency.app, name="idempotency")
app.add_typer(outbox.app, name="outbox")
app.add_typer(config.app, name="config")
app.add_typer(security.app, name="security")
app.add_typer(repo.app, name="repo")
app.add_typer(ops.app, name="ops")
app.command()(ops.health)
app.command()(ops.stats)
app.command()(ops.advise)
app.command()(maintain.maintain)
app.add_typer(backup.app, name="backup")
app.command()(backup.restore)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"pgkeel {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print the installed pgkeel version and exit."),
) -> None:
    """pgkeel: the hardened PostgreSQL + Redis data layer."""


def main() -> None:
    # The pool logs every failed reconnect; the command reports the outcome itself.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    app()
