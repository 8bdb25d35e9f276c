"""`pgkeel server start|stop|status|url`: the embedded PostgreSQL and Valkey."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from pgkeel.cli._output import JsonFlag, console, emit, reported_errors
from pgkeel.config import load_settings
from pgkeel.embedded import EmbeddedPostgres, EmbeddedValkey, ServerStatus

app = typer.Typer(help="Run the embedded PostgreSQL and Valkey (used when no URL is set).",
                  no_args_is_help=True)

Which = Annotated[str, typer.Argument(help="postgres, valkey or all.")]


def _servers(which: str) -> dict[str, EmbeddedPostgres | EmbeddedValkey]:
    home = load_settings().pgkeel_home
    known: dict[str, EmbeddedPostgres | EmbeddedValkey] = {
        "postgres": EmbeddedPostgres(home), "valkey": EmbeddedValkey(home)}
    if which == "all":
        return known
    if which not in known:
        raise typer.BadParameter(f"unknown server {which!r}; use postgres, valkey or all")
    return {which: known[which]}


def _row(name: str, status: ServerStatus) -> dict[str, Any]:
    return {"server": name, "running": status.running, "url": status.url, "pid": status.pid,
            "port": status.port, "data_dir": str(status.data_dir)}


def _show(rows: list[dict[str, Any]], as_json: bool) -> None:
    def human() -> None:
        table = Table("server", "running", "pid")
        table.add_column("url", overflow="fold")
        table.add_column("data dir", overflow="fold")
        for row in rows:
            table.add_row(row["server"], "yes" if row["running"] else "no",
                          str(row["pid"] or "-"), row["url"] or "-", row["data_dir"])
        console.print(table)
    emit(rows, as_json, human)


@app.command()
def start(which: Which = "all", as_json: JsonFlag = False) -> None:
    """Start (or reuse) the embedded servers; they keep running until `pgkeel server stop`."""
    with reported_errors(as_json):
        _show([_row(name, server.start()) for name, server in _servers(which).items()],
              as_json)


@app.command()
def stop(which: Which = "all", as_json: JsonFlag = False) -> None:
    """Stop the embedded servers cleanly."""
    with reported_errors(as_json):
        rows = [{"server": name, "stopped": server.stop()}
                for name, server in _servers(which).items()]

        def human() -> None:
            for row in rows:
                state = "stopped" if row["stopped"] else "was not running"
                console.print(f"{row['server']}: {state}")
        emit(rows, as_json, human)


@app.command()
def status(which: Which = "all", as_json: JsonFlag = False) -> None:
    """Show whether the embedded servers are running, and where."""
    with reported_errors(as_json):
        _show([_row(name, server.status()) for name, server in _servers(which).items()],
              as_json)


@app.command()
def url(which: Which = "postgres", as_json: JsonFlag = False) -> None:
    """Print a running embedded server's URL (for DATABASE_URL / REDIS_URL)."""
    with reported_errors(as_json):
        urls = {name: server.url() for name, server in _servers(which).items()}
        emit(urls, as_json, lambda: typer.echo("\n".join(urls.values())))
