"""`pgkeel db ping`: is the database reachable, how fast, and how are the pools."""

from __future__ import annotations

from dataclasses import asdict

import typer

from pgkeel.cli._output import JsonFlag, console, emit, reported_errors, run
from pgkeel.config import load_settings
from pgkeel.db import Database, PingResult
from pgkeel.embedded import EmbeddedServers

app = typer.Typer(help="Check the database.", no_args_is_help=True)


async def _ping() -> tuple[str | None, PingResult]:
    settings = EmbeddedServers.for_settings(load_settings(), redis=False).settings
    async with Database.from_settings(settings, min_size=1) as db:
        return db.url, await db.ping()


@app.command()
def ping(as_json: JsonFlag = False) -> None:
    """Connect to the primary, run one query, report latency and pool stats."""
    with reported_errors(as_json):
        url, result = run(_ping())
        data = {"database": url, **asdict(result)}
        emit(data, as_json, lambda: console.print(
            f"ok: {url} answered in {result.latency_ms:.1f} ms "
            f"(server {result.server_version}, "
            f"{'replica' if result.in_recovery else 'primary'})"))
