"""`pgkeel cache stats` against a real Redis: service-wide counters from every process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pgkeel.cache import key

pytestmark = pytest.mark.smoke


def pgkeel(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgkeel", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})


async def test_cache_stats_json_reports_every_process(make_cache, pgkeel_redis_url, cache_prefix):
    if make_cache.kind == "memory":
        pytest.skip("memory:// has no shared stats")
    first, second = make_cache(), make_cache()
    k = key("users", 1, org=1)

    async def load():
        return {"id": 1}

    await first.get_or_set(k, load)             # miss + set
    await second.get_or_set(k, load)            # hit
    await second.get_or_set(key("users", 2, org=1), load)  # miss + set
    await first.invalidate("users", org=1)
    await first.flush_stats()
    await second.flush_stats()

    result = pgkeel("cache", "stats", "--json", REDIS_URL=pgkeel_redis_url,
                    CACHE_PREFIX=cache_prefix)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    users = data["resources"]["users"]
    assert (users["hits"], users["misses"], users["sets"]) == (1, 2, 2)
    assert users["hit_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert data["resources"]["_tag"]["invalidations"] == 1
    assert data["memory"]["used_memory"] > 0
    assert data["keys"]["prefix"] >= 2
    assert data["breaker_opens"] == 0

    human = pgkeel("cache", "stats", REDIS_URL=pgkeel_redis_url, CACHE_PREFIX=cache_prefix)
    assert human.returncode == 0 and "hit rate 33.3%" in human.stdout


def test_cache_stats_on_memory_url_is_a_one_line_error():
    result = pgkeel("cache", "stats", REDIS_URL="memory://")
    assert result.returncode == 1
    assert result.stderr.startswith("error: REDIS_URL=memory://")
