"""What the /ops page shows, gathered in one place: the page renders it and /ops/json returns
it, so the two never disagree. The health checks are `pgkeel.ops.check_health`'s, the same
as `pgkeel health --json` gives."""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request

from pgkeel.errors import PgkeelError
from pgkeel.ops import History, cache_hit_ratios, check_health, slow_queries
from pgkeel.runtime import Services

__all__ = ["collect", "panels"]


async def collect(request: Request) -> dict[str, Any]:
    """Everything on the page, as JSON-ready data."""
    services: Services = request.app.state.pgkeel
    db, settings = services.db, services.settings
    appender = getattr(request.app.state, "audit_appender", None)
    report = await check_health(db, settings, redis=services.redis, appender=appender)
    try:
        statements = (await slow_queries(db)).as_dict()
    except PgkeelError as exc:
        statements = {"status": "error", "queries": [], "note": exc.message}
    try:
        database_cache = await cache_hit_ratios(db)
    except PgkeelError:
        database_cache = []
    cache = services.cache.stats().to_dict() if services.cache is not None else None
    history: History | None = getattr(request.app.state, "ops_history", None)
    return {"at": time.time(), "health": report.as_dict(), "slow_queries": statements,
            "cache": cache, "database_cache": database_cache,
            "history": history.as_dict() if history is not None else None}


def _check(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next((c for c in data["health"]["checks"] if c["name"] == name),
                {"name": name, "state": "SKIP", "value": None, "message": "", "details": {}})


def panels(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each panel's headline number (as text), its state and a line saying what it means."""
    checks = data["health"]["checks"]
    failing = [c for c in checks if c["state"] not in ("OK", "SKIP")]
    pool, lag, pending = _check(data, "pool"), _check(data, "outbox_lag"), \
        _check(data, "outbox_pending")
    audit = _check(data, "audit_queue")
    cache = data["cache"] or {}
    hit_rate = cache.get("hit_rate")
    reads = sum(cache.get("totals", {}).get(k, 0) for k in ("hits", "misses"))
    statements = data["slow_queries"]
    return {
        "health": {"number": str(len(failing)), "state": data["health"]["state"],
                   "line": f"of {len(checks)} checks not OK"},
        "slow_queries": {"number": str(len(statements["queries"])),
                         "state": "OK" if statements["status"] == "ready" else "SKIP",
                         "line": "slow statements (pg_stat_statements: "
                                 f"{statements['status']})"},
        "cache": {"number": f"{100 * hit_rate:.1f}%" if hit_rate is not None else "0",
                  "state": "OK",
                  "line": f"hit rate of {reads} cache reads by this process"
                          if hit_rate is not None else "cache reads by this process so far"},
        "pool": {"number": _number(pool["value"], "%"), "state": pool["state"],
                 "line": pool["message"]},
        "outbox": {"number": _number(lag["value"], " s"), "state": lag["state"],
                   "line": pending["message"] or lag["message"]},
        "audit_queue": {"number": str(audit["details"].get("pending", "0")),
                        "state": audit["state"], "line": audit["message"]},
    }


def _number(value: Any, unit: str) -> str:
    if value is None:
        return "0" + unit
    return (str(int(value)) if float(value).is_integer() else f"{value:g}") + unit
