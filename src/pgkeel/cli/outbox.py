"""`pgkeel outbox install|relay|stats|dead|replay|prune`.

`relay` runs until SIGTERM or SIGINT (finishing its batch, exit 0), publishing to the sink
`OUTBOX_SINK_URL` names (default: Redis Streams on REDIS_URL); `--drain` publishes what is due
and exits. Every command takes `--json`; failures print one line and exit 1.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from pgkeel import outbox
from pgkeel.cli._output import JsonFlag, console, emit, emit_applied, reported_errors, run
from pgkeel.config import Settings, load_settings
from pgkeel.db import Database
from pgkeel.embedded import EmbeddedServers

app = typer.Typer(help="The transactional outbox: run the relay, inspect, replay, prune.",
                  no_args_is_help=True)

T = TypeVar("T")


async def _online(fn: Callable[[Database, Settings], Awaitable[T]], *, redis: bool = False,
                  max_size: int = 2) -> T:
    settings = EmbeddedServers.for_settings(load_settings(), redis=redis).settings
    async with Database.from_settings(settings, min_size=1, max_size=max_size) as db:
        return await fn(db, settings)


@app.command()
def install(as_json: JsonFlag = False) -> None:
    """Apply the outbox schema's migrations (a no-op when up to date)."""
    async def go(db: Database, _: Settings) -> list[str]:
        return [item.script for item in (await outbox.install(db)).applied]

    with reported_errors(as_json):
        emit_applied(run(_online(go)), as_json, "outbox")


@app.command()
def relay(
    drain: Annotated[bool, typer.Option(
        "--drain", help="Publish what is due, then exit (instead of running until stopped).")
    ] = False,
    batch_size: Annotated[int | None, typer.Option(
        min=1, help="Events per batch (default: OUTBOX_BATCH_SIZE).")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, max=64, help="Batches in flight at once (default: OUTBOX_WORKERS).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Publish committed events to the sink until SIGTERM/SIGINT (or, with --drain, until
    nothing is due)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    async def go(db: Database, settings: Settings) -> dict[str, Any]:
        overrides: dict[str, Any] = {} if batch_size is None else {"batch_size": batch_size}
        if workers is not None:
            overrides["workers"] = workers
        sink = outbox.sink_from_settings(settings)
        worker = outbox.Relay.from_settings(db, sink, settings, **overrides)
        # A relay process allocates a few objects per event for as long as it runs: with the
        # start-up objects (modules, settings, pools) frozen out of the collector's
        # generations, each full collection walks only what the relay itself keeps, which
        # took about a third of the relay's CPU per event before.
        gc.freeze()
        try:
            if drain:
                await worker.drain()
            else:
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(signum, stop.set)
                await worker.run(stop)
        finally:
            await sink.close()
        return {"published": worker.published, "sink": sink.name}

    with reported_errors(as_json):
        settings = load_settings()
        in_flight = settings.outbox_workers if workers is None else workers
        # One pooled connection per batch in flight, and one for the backlog metrics.
        result = run(_online(go, redis=settings.outbox_sink_url is None,
                             max_size=max(3, in_flight + 1)))
        emit(result, as_json, lambda: console.print(
            f"published {result['published']} events to {result['sink']}", highlight=False))


@app.command()
def stats(as_json: JsonFlag = False) -> None:
    """Events by status, how many are due or parked, and the oldest unpublished one's age."""
    async def go(db: Database, _: Settings) -> outbox.OutboxStats:
        return await outbox.stats(db)

    with reported_errors(as_json):
        result = run(_online(go))
        data = result.as_dict()

        def human() -> None:
            table = Table("status", "events")
            for name, value in data.items():
                table.add_row(name, f"{value:.1f}" if isinstance(value, float) else str(value))
            console.print(table)

        emit(data, as_json, human)


@app.command()
def dead(
    limit: Annotated[int, typer.Option(min=1, help="Most events to list.")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """List dead events (out of attempts), oldest first."""
    async def go(db: Database, _: Settings) -> list[outbox.DeadEvent]:
        return await outbox.dead_events(db, limit=limit)

    with reported_errors(as_json):
        events = run(_online(go))

        def human() -> None:
            if not events:
                console.print("no dead events")
                return
            table = Table("id", "type", "aggregate", "attempts", "last error")
            for event in events:
                table.add_row(str(event.id), event.event_type,
                              f"{event.aggregate_type}:{event.aggregate_id}",
                              str(event.attempts), (event.last_error or "")[:80])
            console.print(table)

        emit([event.as_dict() for event in events], as_json, human)


@app.command()
def replay(
    ids: Annotated[list[str] | None, typer.Argument(help="Dead event ids to replay.")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every dead event.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Give dead events fresh attempts (the events of their key parked behind them follow).
    Exits 1 if an id is not a dead event."""
    if bool(ids) == replay_all:
        raise typer.BadParameter("give dead event ids, or --all")

    async def go(db: Database, _: Settings) -> list[Any]:
        return await outbox.replay(db, ids or None, all_dead=replay_all)

    with reported_errors(as_json):
        replayed = [str(i) for i in run(_online(go))]
        emit({"replayed": replayed}, as_json, lambda: console.print(
            f"replayed {len(replayed)} events", highlight=False))


@app.command()
def prune(
    older_than: Annotated[float | None, typer.Option(
        min=0, help="Seconds since publication (default: OUTBOX_RETENTION_S).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per transaction.")] = 1_000,
    as_json: JsonFlag = False,
) -> None:
    """Delete published events past the retention, in short batches."""
    async def go(db: Database, settings: Settings) -> int:
        seconds = settings.outbox_retention_s if older_than is None else older_than
        return await outbox.prune(db, timedelta(seconds=seconds), batch_size=batch_size)

    with reported_errors(as_json):
        deleted = run(_online(go))
        emit({"deleted": deleted}, as_json, lambda: console.print(
            f"deleted {deleted} published events", highlight=False))
