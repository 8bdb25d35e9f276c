"""The results file (`bench/results/<timestamp>.json`) and its markdown table."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

import psutil

from bench.config import Profile

__all__ = ["CONTENDERS", "machine_info", "markdown", "ratios", "validate", "versions"]

CONTENDERS = ("raw_psycopg", "asyncpg", "sqlalchemy", "sqlalchemy_core", "pgkeel",
              "fastapi_sqlalchemy", "minimal_starlette", "minimal_fastapi", "procrastinate",
              "pgkeel_no_key",
              "pgkeel_live")
RESULT_KEYS = ("scenario", "contender", "median_ms", "p95_ms", "p99_ms", "ops_per_s",
               "peak_rss_mb")
RATIO_KEYS = ("scenario", "pgkeel_vs_raw_psycopg", "sqlalchemy_vs_pgkeel",
              "sqlalchemy_core_vs_pgkeel", "pgkeel_vs_peer", "pgkeel_vs_minimal",
              "pgkeel_vs_minimal_fastapi")
NOT_RATIOS = frozenset({"audit_append"})
"""Scenarios whose contenders do different work (a synchronous INSERT against an in-memory
enqueue): their figures are the caller's cost, not a ratio."""
PEERS = {"outbox_relay": "procrastinate", "idempotent_create_user": "pgkeel_no_key",
         "school_at_risk": "pgkeel_live", "school_profile": "pgkeel_live"}
"""The contender `pgkeel_vs_peer` divides by: procrastinate draining as many no-op jobs as the
relay publishes events (a whole drain is one operation, so this is the time ratio), and the
same route without an Idempotency-Key, and the school dashboards computed live from the base
tables instead of read from the materialized view (`pgkeel`)."""
THROUGHPUT = frozenset({"outbox_relay"})
"""Scenarios measured as one timed drain of many events: reported in events/s."""
PACKAGES = ("pgkeel", "psycopg", "psycopg-binary", "psycopg-pool", "asyncpg", "sqlalchemy",
            "fastapi", "fastapi-pagination", "fastapi-cache2", "starlette", "pydantic",
            "uvicorn", "uvloop", "httptools", "redis", "hiredis", "orjson", "aiohttp",
            "procrastinate")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(profile: Profile, *, sizes: dict[str, int], seconds: float,
                 load_generator: str = "") -> dict[str, Any]:
    return {
        "os": f"{platform.system()} {platform.release()}",
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "profile": profile.name,
        "data_set": sizes,
        "rounds": profile.rounds,
        "http": {"concurrency": profile.http_concurrency, "seconds": profile.http_seconds,
                 "rounds": profile.http_rounds, "load_generator": load_generator},
        "run_seconds": round(seconds, 1),
    }


def versions(server_versions: dict[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {**found, **server_versions}


def _median(results: list[dict[str, Any]], scenario: str, contender: str) -> float | None:
    for row in results:
        if row["scenario"] == scenario and row["contender"] == contender:
            value = row["median_ms"]
            return None if value is None else float(value)
    return None


def _ops(results: list[dict[str, Any]], scenario: str, contender: str) -> float | None:
    for row in results:
        if row["scenario"] == scenario and row["contender"] == contender:
            value = row["ops_per_s"]
            return None if value is None else float(value)
    return None


def _ratio(top: float | None, bottom: float | None) -> float | None:
    if top is None or bottom is None or bottom == 0:
        return None
    return round(top / bottom, 3)


def ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per scenario: pgkeel's median / raw psycopg's (lower is better, 1.0 = no overhead)
    and SQLAlchemy's median / pgkeel's (higher is better for pgkeel). For the HTTP scenarios
    the second is the throughput ratio pgkeel req/s / FastAPI+SQLAlchemy req/s. Where a
    scenario has a peer (PEERS), pgkeel's median / the peer's (lower is better). For the HTTP
    scenarios with the hand-written minimal app, pgkeel's req/s / its req/s (the fraction of
    the ceiling pgkeel reaches; higher is better)."""
    scenarios = list(dict.fromkeys(row["scenario"] for row in results))
    out = []
    for scenario in scenarios:
        if scenario in NOT_RATIOS:
            out.append({"scenario": scenario, "pgkeel_vs_raw_psycopg": None,
                        "sqlalchemy_vs_pgkeel": None, "sqlalchemy_core_vs_pgkeel": None,
                        "pgkeel_vs_peer": None, "pgkeel_vs_minimal": None,
                        "pgkeel_vs_minimal_fastapi": None})
            continue
        if scenario.startswith("http_"):
            versus = _ratio(_ops(results, scenario, "pgkeel"),
                            _ops(results, scenario, "fastapi_sqlalchemy"))
        else:
            versus = _ratio(_median(results, scenario, "sqlalchemy"),
                            _median(results, scenario, "pgkeel"))
        out.append({"scenario": scenario,
                    "pgkeel_vs_raw_psycopg": _ratio(_median(results, scenario, "pgkeel"),
                                                    _median(results, scenario, "raw_psycopg")),
                    "sqlalchemy_vs_pgkeel": versus,
                    "sqlalchemy_core_vs_pgkeel": _ratio(
                        _median(results, scenario, "sqlalchemy_core"),
                        _median(results, scenario, "pgkeel")),
                    "pgkeel_vs_peer": _ratio(_median(results, scenario, "pgkeel"),
                                             _median(results, scenario, PEERS[scenario]))
                    if scenario in PEERS else None,
                    "pgkeel_vs_minimal": _ratio(_ops(results, scenario, "pgkeel"),
                                                _ops(results, scenario, "minimal_starlette"))
                    if scenario.startswith("http_") else None,
                    "pgkeel_vs_minimal_fastapi": _ratio(
                        _ops(results, scenario, "pgkeel"),
                        _ops(results, scenario, "minimal_fastapi"))
                    if scenario.startswith("http_") else None})
    return out


def validate(report: dict[str, Any]) -> None:
    """Raise ValueError unless `report` has the issue's shape (keys and types, not values)."""
    if set(report) != {"machine", "versions", "results", "ratios"}:
        raise ValueError(f"top-level keys: {sorted(report)}")
    if not isinstance(report["machine"], dict) or not isinstance(report["versions"], dict):
        raise ValueError("machine and versions must be objects")
    for row in report["results"]:
        if tuple(row) != RESULT_KEYS:
            raise ValueError(f"result keys: {list(row)}")
        if row["contender"] not in CONTENDERS:
            raise ValueError(f"unknown contender {row['contender']!r}")
        for key in RESULT_KEYS[2:]:
            if row[key] is not None and not isinstance(row[key], int | float):
                raise ValueError(f"{key} must be a number or null")
    for row in report["ratios"]:
        if tuple(row) != RATIO_KEYS:
            raise ValueError(f"ratio keys: {list(row)}")


def _cell(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(report: dict[str, Any], *, title: str) -> str:
    """Medians and p95 per contender, throughput and RSS for HTTP, then the ratios."""
    results: list[dict[str, Any]] = report["results"]
    scenarios = list(dict.fromkeys(row["scenario"] for row in results))
    by_key = {(r["scenario"], r["contender"]): r for r in results}
    machine = report["machine"]
    lines = [
        f"### {title}",
        "",
        f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB; "
        f"Python {machine['python']}; PostgreSQL {report['versions'].get('postgresql', '?')}; "
        f"Redis {report['versions'].get('redis_server', '?')}; profile `{machine['profile']}` "
        f"({', '.join(f'{k} {v:,}' for k, v in machine['data_set'].items())}).",
        "",
        "Median / p95 in ms (one operation at a time; HTTP: per request under load).",
        "",
        "| scenario | " + " | ".join(CONTENDERS) + " |",
        "|---|" + "---|" * len(CONTENDERS),
    ]
    for scenario in scenarios:
        cells = []
        for contender in CONTENDERS:
            row = by_key.get((scenario, contender))
            cells.append("" if row is None else
                         f"{_cell(row['median_ms'])} / {_cell(row['p95_ms'])}")
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    http = [r for r in results if r["peak_rss_mb"] is not None]
    if http:
        lines += ["", "| HTTP scenario | service | req/s | p99 ms | peak RSS MB |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['scenario']} | {r['contender']} | {_cell(r['ops_per_s'], 0)} | "
                  f"{_cell(r['p99_ms'])} | {_cell(r['peak_rss_mb'], 0)} |" for r in http]
    drains = [r for r in results if r["scenario"] in THROUGHPUT]
    if drains:
        lines += ["", "| drain scenario | contender | events/s | seconds |", "|---|---|---|---|"]
        lines += [f"| {r['scenario']} | {r['contender']} | {_cell(r['ops_per_s'], 0)} | "
                  f"{r['median_ms'] / 1000:.1f} |" for r in drains]
    lines += ["", "| scenario | pgkeel ÷ raw psycopg (median) | SQLAlchemy ORM ÷ pgkeel "
              "(median; HTTP: pgkeel req/s ÷ FastAPI+SQLAlchemy req/s) | SQLAlchemy Core ÷ "
              "pgkeel (median) | pgkeel ÷ peer (median) | pgkeel ÷ minimal_starlette (req/s) | "
              "pgkeel ÷ minimal_fastapi (req/s) |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['scenario']} | {_cell(r['pgkeel_vs_raw_psycopg'], 2)} | "
              f"{_cell(r['sqlalchemy_vs_pgkeel'], 2)} | "
              f"{_cell(r['sqlalchemy_core_vs_pgkeel'], 2)} | {_cell(r['pgkeel_vs_peer'], 2)} | "
              f"{_cell(r['pgkeel_vs_minimal'], 2)} | {_cell(r['pgkeel_vs_minimal_fastapi'], 2)} |"
              for r in report["ratios"] if r["scenario"] not in NOT_RATIOS]
    return "\n".join(lines) + "\n"


def timestamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
