"""`python -m bench --hot-paths`: profile pgkeel's repository get and list with pyinstrument.

Each path runs a few thousand times in a loop under the profiler (async-aware, so time spent
waiting for PostgreSQL shows as `await`), and the text report goes to
`bench/results/profiles/<path>.txt`. What is left after the network wait is pgkeel's own
Python: that is what the ratio to raw psycopg measures.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from pyinstrument import Profiler

from bench import scenarios as sc
from bench.config import Profile
from pgkeel.repo import CountMode

__all__ = ["profile_hot_paths"]


async def _loop(fn: Callable[[int], Awaitable[object]], count: int) -> float:
    began = time.perf_counter()
    for i in range(count):
        await fn(i)
    return (time.perf_counter() - began) / count * 1000


async def profile_hot_paths(url: str, redis_url: str, profile: Profile, results: Path,
                            *, count: int = 3000) -> None:
    out = results / "profiles"
    out.mkdir(parents=True, exist_ok=True)
    env = await sc.open_env(url, redis_url, profile)
    try:
        await sc.prefill_cache(env, 500)
        paths = {
            "get_by_id": sc.get_by_id(env),
            "get_by_id_rls": sc.get_by_id_rls(env),
            "list_offset_page1": sc.list_offset(env, "list_offset_page1", 1, ""),
            "list_count_estimated": sc.list_count(env, CountMode.ESTIMATED),
            "list_keyset": sc.list_keyset(env)[0],
            "list_keyset_rls": sc.list_keyset(env)[1],
            "cache_hit": sc.cache_hit(env, 500),
        }
        for name, scenario in paths.items():
            ops = {c.name: c.op for c in scenario.contenders}
            for fn in ops.values():       # warm up: prepared statements, caches
                await _loop(fn, 50)
            raw_ms = await _loop(ops["raw_psycopg"], count)
            profiler = Profiler(interval=0.0002, async_mode="enabled")
            profiler.start()
            keel_ms = await _loop(ops["pgkeel"], count)
            profiler.stop()
            text = profiler.output_text(unicode=True, color=False, show_all=False)
            header = (f"# {name}: pgkeel {keel_ms:.3f} ms/op under the profiler, raw psycopg "
                      f"{raw_ms:.3f} ms/op (mean of {count})\n\n")
            (out / f"{name}.txt").write_text(header + text)
            print(header.strip())
            print(f"  profile: {out / (name + '.txt')}")
    finally:
        await sc.cleanup(env)
        await env.aclose()
