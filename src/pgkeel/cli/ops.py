"""`pgkeel health`, `pgkeel stats`, `pgkeel advise` and `pgkeel ops install`.

`health` exits as a Nagios plugin does: 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN (including when the
checks cannot run at all, e.g. a bad setting or the ops schema missing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from redis.asyncio import Redis
from rich.live import Live
from rich.table import Table

from pgkeel import ops
from pgkeel.cli._output import JsonFlag, console, emit, emit_applied, reported_errors, run
from pgkeel.config import Settings, load_settings
from pgkeel.db import Database
from pgkeel.embedded import EmbeddedServers
from pgkeel.errors import UsageError
from pgkeel.ops.health import State
from pgkeel.redis_client import connect_redis, is_memory_url

app = typer.Typer(help="Install the ops schema (the functions behind health and stats).",
                  no_args_is_help=True)

T = TypeVar("T")

_STYLE = {State.OK: "green", State.SKIP: "dim", State.WARN: "yellow", State.CRIT: "red",
          State.UNKNOWN: "magenta"}


async def _online(fn: Callable[[Database, Settings], Awaitable[T]], *, redis: bool = False
                  ) -> T:
    settings = EmbeddedServers.for_settings(load_settings(), redis=redis).settings
    db = Database.from_settings(settings, min_size=1, max_size=2)
    await db.open(wait=False)  # an unreachable server is a check result, not a crash
    try:
        return await fn(db, settings)
    finally:
        await db.close()


@app.command()
def install(as_json: JsonFlag = False) -> None:
    """Apply the ops schema's migrations (a no-op when up to date)."""
    async def go(db: Database, _: Settings) -> list[str]:
        return [item.script for item in (await ops.install(db)).applied]

    with reported_errors(as_json):
        emit_applied(run(_online(go)), as_json, "ops")


def health(
    watch: Annotated[bool, typer.Option(
        help="Refresh a live view every --interval seconds until Ctrl-C.")] = False,
    interval: Annotated[float, typer.Option(min=0, help="--watch: seconds between two "
                                            "rounds of checks.")] = 2.0,
    times: Annotated[int, typer.Option(min=0, help="--watch: stop after this many rounds "
                                       "(0: until Ctrl-C).")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Check PostgreSQL, Redis and the outbox: OK/WARN/CRIT per check (thresholds: OPS_*
    settings); exit 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN."""
    if watch and as_json:
        with reported_errors(as_json, exit_code=State.UNKNOWN.exit_code):
            raise UsageError("--watch draws a live view; it does not combine with --json.",
                             hint="Run `pgkeel health --json` in a loop instead.")

    async def one_round(db: Database, settings: Settings) -> ops.HealthReport:
        client: Redis | None = None
        if settings.redis_url is not None and not is_memory_url(settings.redis_url):
            client = connect_redis(settings.redis_url, timeout_s=2.0, max_connections=2)
        try:
            return await ops.check_health(db, settings, redis=client, pool=False)
        finally:
            if client is not None:
                await client.aclose()

    async def watching(db: Database, settings: Settings) -> ops.HealthReport:
        rounds = 0
        with Live(console=console, auto_refresh=False) as live:
            while True:
                report = await one_round(db, settings)
                rounds += 1
                live.update(_health_view(report, f" (round {rounds}, every {interval:g} s; "
                                                 "Ctrl-C stops)"), refresh=True)
                if times and rounds >= times:
                    return report
                await asyncio.sleep(interval)

    with reported_errors(as_json, exit_code=State.UNKNOWN.exit_code):
        try:
            report = run(_online(watching if watch else one_round, redis=True))
        except KeyboardInterrupt:
            raise typer.Exit(0) from None
    if watch:
        raise typer.Exit(report.exit_code)
    emit(report.as_dict(), as_json, lambda: console.print(_health_view(report)))
    raise typer.Exit(report.exit_code)


def _health_view(report: ops.HealthReport, caption: str = "") -> Table:
    table = Table("check", "state", "message",
                  caption=f"overall: [{_STYLE[report.state]}]{report.state.value}[/]{caption}")
    for check in report.checks:
        style = _STYLE[check.state]
        table.add_row(check.name, f"[{style}]{check.state.value}[/]", check.message)
    return table


def stats(
    limit: Annotated[int, typer.Option(min=1, help="Most rows per section.")] = 20,
    min_calls: Annotated[int, typer.Option(
        min=1, help="Slow statements: at least this many calls (PgHero: 100).")] = 100,
    min_mean_ms: Annotated[float, typer.Option(
        min=0, help="Slow statements: at least this mean time in ms (PgHero: 20).")] = 20.0,
    as_json: JsonFlag = False,
) -> None:
    """Table sizes, rows, dead tuples, last vacuum/analyze; index usage; cache hit ratios;
    the slowest statements when pg_stat_statements is there (else how to enable it)."""
    async def go(db: Database, _: Settings) -> ops.DatabaseStats:
        return await ops.database_stats(db, min_mean_ms=min_mean_ms, min_calls=min_calls,
                                        limit=limit)

    with reported_errors(as_json):
        result = run(_online(go))
    data = result.as_dict()
    data["tables"], data["indexes"] = data["tables"][:limit], data["indexes"][:limit]
    emit(data, as_json, lambda: _print_stats(data))


def advise(
    unused_min_mb: Annotated[float, typer.Option(
        min=0, help="Call an index unused only from this size, in MB (PgHero: 10).")] = 10.0,
    seq_min_rows: Annotated[int, typer.Option(
        min=0, help="Sequential scans: at least this many rows read per scan.")] = 10_000,
    seq_min_scans: Annotated[int, typer.Option(
        min=1, help="Sequential scans: at least this many scans.")] = 100,
    what_if: Annotated[bool, typer.Option(
        "--what-if", help="With hypopg: the planner's cost of each unindexed foreign key's "
        "lookup without and with the advised index (a hypothetical one: nothing is built).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Invalid, duplicate and unused indexes, foreign keys without an index, tables scanned
    sequentially a lot: each with the SQL to run (pgkeel never runs it)."""
    async def go(db: Database, _: Settings) -> list[ops.Advice]:
        return await ops.advise(db, unused_index_min_bytes=int(unused_min_mb * 1024 * 1024),
                                seq_scan_min_rows=seq_min_rows,
                                seq_scan_min_count=seq_min_scans, what_if=what_if)

    with reported_errors(as_json):
        found = run(_online(go))

    def human() -> None:
        if not found:
            console.print("no advice: nothing to change")
            return
        for item in found:
            console.print(f"[bold]{item.kind}[/] {item.object} ({item.table_name}): "
                          f"{item.reason}", highlight=False)
            console.print(f"  {item.sql}", markup=False, highlight=False, soft_wrap=True)
            outcome = item.details.get("what_if")
            if isinstance(outcome, dict) and "cost_before" in outcome:
                console.print(f"  what if: cost {outcome['cost_before']:g} -> "
                              f"{outcome['cost_after']:g} ({outcome['saving_pct']:g}% less; "
                              f"index {'used' if outcome['index_used'] else 'not used'})",
                              highlight=False)
            elif isinstance(outcome, dict):
                console.print(f"  what if: skipped: {outcome['skipped']}", highlight=False)

    emit([item.as_dict() for item in found], as_json, human)


def _print_stats(data: dict[str, Any]) -> None:
    tables = Table("table", "total", "rows", "dead", "dead %", "seq scans", "idx scans",
                   "last vacuum", "last analyze", title="tables (largest first)")
    for row in data["tables"]:
        tables.add_row(f"{row['schema_name']}.{row['table_name']}", _size(row["total_bytes"]),
                       str(row["live_rows"]), str(row["dead_rows"]),
                       f"{100 * row['dead_ratio']:.1f}", str(row["seq_scan"]),
                       str(row["idx_scan"]), _when(row["last_vacuum"]),
                       _when(row["last_analyze"]))
    indexes = Table("index", "table", "size", "scans", "unique", "valid",
                    title="indexes (least used first)")
    for row in data["indexes"]:
        indexes.add_row(f"{row['schema_name']}.{row['index_name']}", row["table_name"],
                        _size(row["index_bytes"]), str(row["idx_scan"]),
                        _yes(row["is_unique"]), _yes(row["is_valid"]))
    cache = Table("kind", "hits", "reads", "hit ratio", title="cache hit ratios")
    for row in data["cache"]:
        ratio = "-" if row["ratio"] is None else f"{100 * row['ratio']:.2f}%"
        cache.add_row(row["kind"], str(row["hits"]), str(row["reads"]), ratio)
    for part in (tables, indexes, cache):
        console.print(part)
    statements = data["statements"]
    if statements["note"]:
        console.print(f"slow statements: {statements['note']}", highlight=False)
        return
    slow = Table("calls", "mean ms", "total ms", "query", title="slow statements")
    for row in statements["queries"]:
        slow.add_row(str(row["calls"]), f"{row['mean_ms']:.1f}", f"{row['total_ms']:.0f}",
                     " ".join(row["query"].split())[:120])
    console.print(slow)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1024:
            return f"{value:.0f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def _when(value: Any) -> str:
    return "never" if value is None else str(value)[:19]


def _yes(value: bool) -> str:
    return "yes" if value else "no"
