"""`pgkeel cache stats`: the service-wide cache counters, hit rates and Redis memory.

The counters come from the `<prefix>!stats` hash every cache process adds to (every
CACHE_STATS_FLUSH_S seconds and on shutdown), so they cover the whole service, not this
command's own process. Counting the prefix's keys is a bounded SCAN: an admin command's
cost, never something a request pays.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from redis.exceptions import RedisError

from pgkeel.cache.keys import KeySpace
from pgkeel.cache.metrics import CacheStats, summarize
from pgkeel.cli._output import JsonFlag, console, emit, reported_errors, run
from pgkeel.config import load_settings, redact_dsn
from pgkeel.embedded import EmbeddedServers
from pgkeel.errors import CacheUnreachable, UsageError
from pgkeel.redis_client import connect_redis

app = typer.Typer(help="Inspect the cache.", no_args_is_help=True)

PrefixOption = Annotated[str | None, typer.Option(
    "--prefix", help="Key prefix (default: CACHE_PREFIX).")]
ScanLimit = Annotated[int, typer.Option(
    "--scan-limit", help="Stop counting the prefix's keys after this many.")]


async def _collect(url: str, prefix: str, scan_limit: int) -> dict[str, Any]:
    client = connect_redis(url, timeout_s=2.0, max_connections=2)
    try:
        started = time.perf_counter()
        await client.ping()
        latency_ms = (time.perf_counter() - started) * 1000
        raw = await client.hgetall(KeySpace(prefix).stats_key)
        memory = await client.info("memory")
        dbsize = await client.dbsize()
        keys = 0
        async for _ in client.scan_iter(match=_glob_escape(prefix) + "*", count=1000):
            keys += 1
            if keys >= scan_limit:
                break
    except (RedisError, OSError) as exc:
        raise CacheUnreachable(f"Redis did not answer: {type(exc).__name__}.",
                               hint="Check REDIS_URL, or start it: pgkeel server start.",
                               ) from exc
    finally:
        await client.aclose()
    fields = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
    resources, extra = summarize(fields)
    stats = CacheStats(resources=resources, breaker_opens=extra.get("breaker_opens", 0),
                       backend="redis")
    summary = stats.to_dict()
    for name in ("breaker", "pending_invalidations", "backend"):
        summary.pop(name)  # per-process facts: see each process's /metrics
    return {
        "redis": redact_dsn(url),
        "prefix": prefix,
        "latency_ms": round(latency_ms, 3),
        **summary,
        "memory": {
            "used_memory": int(memory.get("used_memory", 0)),
            "used_memory_human": str(memory.get("used_memory_human", "")),
            "maxmemory": int(memory.get("maxmemory", 0)),
            "maxmemory_policy": str(memory.get("maxmemory_policy", "")),
        },
        "keys": {"prefix": keys, "prefix_capped": keys >= scan_limit, "dbsize": dbsize},
    }


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


@app.command()
def stats(as_json: JsonFlag = False, prefix: PrefixOption = None,
          scan_limit: ScanLimit = 100_000) -> None:
    """Hit rate and counters per resource (all processes), breaker openings, Redis memory."""
    with reported_errors(as_json):
        settings = EmbeddedServers.for_settings(load_settings(), postgres=False).settings
        url = settings.redis_url
        if url is None or url.startswith("memory://"):
            raise UsageError("REDIS_URL=memory:// keeps the cache inside each process: "
                             "there are no shared stats to read.",
                             hint="See the service's /metrics (pgkeel_cache_*).")
        data = run(_collect(url, prefix or settings.cache_prefix, scan_limit))
        emit(data, as_json, lambda: _print(data))


def _print(data: dict[str, Any]) -> None:
    rate = data["hit_rate"]
    memory = data["memory"]
    keys = data["keys"]
    console.print(f"redis {data['redis']} ({data['latency_ms']:.1f} ms), prefix "
                  f"{data['prefix']!r}", markup=False, highlight=False)
    console.print(f"hit rate {'-' if rate is None else f'{rate:.1%}'}; breaker opened "
                  f"{data['breaker_opens']} times", markup=False, highlight=False)
    console.print(f"memory {memory['used_memory_human']} used, maxmemory "
                  f"{memory['maxmemory'] or 'unlimited'} ({memory['maxmemory_policy']}); "
                  f"keys {keys['prefix']}{'+' if keys['prefix_capped'] else ''} under the "
                  f"prefix, {keys['dbsize']} in the database", markup=False, highlight=False,
                  soft_wrap=True)
    columns = {"hits": "hits", "misses": "misses", "sets": "sets",
               "invalidations": "inval", "errors": "errors", "stale_served": "stale",
               "lease_waits": "waits", "early_refreshes": "early", "fills_rejected": "rejected"}
    console.print("resource".ljust(16) + "hit%".rjust(7)
                  + "".join(c.rjust(9) for c in columns.values()), markup=False,
                  highlight=False, soft_wrap=True)
    for name, counters in data["resources"].items():
        hit = counters["hit_rate"]
        console.print(name[:16].ljust(16) + ("-" if hit is None else f"{hit:.1%}").rjust(7)
                      + "".join(str(counters.get(c, 0)).rjust(9) for c in columns),
                      markup=False, highlight=False, soft_wrap=True)
