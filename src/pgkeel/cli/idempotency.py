"""`pgkeel idempotency install|reap|stats`: the keys table's schema and housekeeping.

`reap` deletes expired keys and clears stale locks in small batches, so it is safe to run from
cron at any time; `stats` shows the keys by state. Both take `--org` to look at one
organization and `--json` for scripts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from pgkeel import idempotency
from pgkeel.cli._output import JsonFlag, console, emit, emit_applied, reported_errors, run
from pgkeel.config import Settings, load_settings
from pgkeel.db import Database
from pgkeel.embedded import EmbeddedServers
from pgkeel.errors import DatabaseError, IdempotencyNotInstalled

app = typer.Typer(help="Idempotency keys: install the table, reap expired keys, show stats.",
                  no_args_is_help=True)

T = TypeVar("T")

OrgOption = Annotated[str | None, typer.Option("--org", help="Only this organization.")]


async def _online(fn: Callable[[Database, Settings], Awaitable[T]]) -> T:
    settings = EmbeddedServers.for_settings(load_settings(), redis=False).settings
    async with Database.from_settings(settings, min_size=1, max_size=2) as db:
        try:
            return await fn(db, settings)
        except DatabaseError as exc:
            if exc.sqlstate in {"42P01", "3F000"}:
                raise IdempotencyNotInstalled(
                    hint="Run `pgkeel idempotency install`.") from exc
            raise


@app.command()
def install(as_json: JsonFlag = False) -> None:
    """Apply the idempotency schema's migrations (a no-op when up to date)."""
    async def go(db: Database, _: Settings) -> list[str]:
        report = await idempotency.install(db)
        return [item.script for item in report.applied]

    with reported_errors(as_json):
        emit_applied(run(_online(go)), as_json, "idempotency")


@app.command()
def reap(
    batch_size: Annotated[int | None, typer.Option(
        min=1, help="Rows per transaction (default: IDEMPOTENCY_REAP_BATCH_SIZE).")] = None,
    max_batches: Annotated[int | None, typer.Option(
        min=1, help="Stop after this many transactions (default: until done).")] = None,
    stale_grace: Annotated[float, typer.Option(
        min=0, help="Seconds past a lease before its in-flight key is cleared.")] = 0.0,
    org: OrgOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Delete expired keys and in-flight keys whose lease has run out."""
    async def go(db: Database, settings: Settings) -> idempotency.ReapReport:
        return await idempotency.reap(
            db, batch_size=batch_size or settings.idempotency_reap_batch_size,
            max_batches=max_batches, stale_grace_s=stale_grace, org=org)

    with reported_errors(as_json):
        report = run(_online(go))
        emit(report.to_dict(), as_json, lambda: console.print(
            f"deleted {report.expired} expired and {report.stale} stale keys "
            f"in {report.batches} batches", highlight=False))


@app.command()
def stats(org: OrgOption = None, as_json: JsonFlag = False) -> None:
    """The keys by state: completed, in flight, stale (lease over), expired."""
    async def go(db: Database, _: Settings) -> idempotency.KeyStats:
        return await idempotency.stats(db, org=org)

    with reported_errors(as_json):
        numbers = run(_online(go))

        def human() -> None:
            for name, value in numbers.to_dict().items():
                console.print(f"{name.replace('_', ' ')}: {value}", highlight=False)

        emit(numbers.to_dict(), as_json, human)
