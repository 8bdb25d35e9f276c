"""`pgkeel maintain`: run the maintenance jobs once (the due ones, or those named), list them,
or `--loop` on their schedules with one leader among all running loops."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated, Any

import typer
from rich.table import Table

from pgkeel import ops
from pgkeel.cli._output import JsonFlag, console, emit, reported_errors, run
from pgkeel.config import Settings, load_settings
from pgkeel.db import Database
from pgkeel.embedded import EmbeddedServers
from pgkeel.ops import JobRegistry, JobRun
from pgkeel.ops.maintain import summary

_STYLE = {"ok": "green", "skipped": "dim", "not_due": "dim", "running": "cyan",
          "lock_timeout": "yellow", "failed": "red"}


def registry_for(settings: Settings, extra: list[str]) -> JobRegistry:
    """The library's jobs, then those of MAINTAIN_JOBS, then those of `--jobs`."""
    registry = ops.library_jobs(settings)
    for path in (*settings.maintain_jobs, *extra):
        registry.include(ops.load_registry(path, settings))
    return registry


def _print_runs(runs: list[JobRun]) -> None:
    for item in runs:
        style = _STYLE.get(item.status, "")
        detail = item.error or (f"next at {item.next_due_at:%Y-%m-%d %H:%M:%S}"
                                if item.next_due_at else summary(item.result))
        console.print(f"{item.name:28} [{style}]{item.status:12}[/] {detail}",
                      highlight=False)


def _print_list(states: list[dict[str, Any]]) -> None:
    table = Table("job", "every", "last status", "last started", "next due", "runs",
                  "description")
    for row in states:
        table.add_row(row["name"], f"{row['every_s']:g} s", row["last_status"] or "-",
                      str(row["last_started_at"] or "never")[:19],
                      str(row["next_due_at"])[:19], str(row["runs"]), row["description"])
    console.print(table)


async def _loop(db: Database, registry: JobRegistry, settings: Settings, as_json: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def report(runs: list[JobRun]) -> None:
        ran = [item for item in runs if item.ran]
        if ran:
            emit([item.as_dict() for item in ran], as_json, lambda: _print_runs(ran))

    await ops.Maintainer(db, registry, settings).run(stop, on_tick=report)


def maintain(
    job: Annotated[list[str] | None, typer.Option(
        "--job", help="Run this job now, due or not (repeatable).")] = None,
    jobs: Annotated[list[str] | None, typer.Option(
        "--jobs", help="Also load the job registry at module:attribute (repeatable).")] = None,
    *,
    force: Annotated[bool, typer.Option(help="Run every job now, due or not.")] = False,
    list_jobs: Annotated[bool, typer.Option("--list", help="List the jobs and their "
                                            "schedule state; run nothing.")] = False,
    loop: Annotated[bool, typer.Option(help="Run jobs on their schedules until stopped; "
                                       "one leader among all loops runs them.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """ANALYZE and VACUUM the tables that need it, rebuild invalid indexes, prune the outbox,
    reap idempotency keys, keep audit partitions, and run the apps' jobs (MAINTAIN_JOBS).
    Without options: the jobs that are due, once. Exit 1 when a job failed."""
    with reported_errors(as_json):
        settings = EmbeddedServers.for_settings(load_settings(), redis=False).settings
        registry = registry_for(settings, jobs or [])

        async def go() -> Any:
            async with Database.from_settings(settings, min_size=1, max_size=2) as db:
                if list_jobs:
                    return await ops.job_states(db, registry)
                if loop:
                    await _loop(db, registry, settings, as_json)
                    return []
                return await ops.run_jobs(db, registry, settings, names=job or None,
                                          force=force or bool(job))

        result = run(go())
    if list_jobs:
        emit(result, as_json, lambda: _print_list(result))
        return
    if loop:
        return
    emit([item.as_dict() for item in result], as_json, lambda: _print_runs(result))
    if any(item.status == "failed" for item in result):
        raise typer.Exit(1)
