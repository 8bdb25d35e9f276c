"""`python -m bench --soak SECONDS`: mixed load against the reference service for a while.

The service runs as `make demo` runs it (`python -m pgkeel_apps`: DATABASE_URL / REDIS_URL,
else the embedded servers) on a free port. `--concurrency` clients (16) send a mix: 70 % reads
of one user (the cache path), 20 % list pages, 10 % creates with an Idempotency-Key. Every 10 s
the service's RSS, its pool counters and the machine's load average are sampled. The report:
RSS over time, pool waits, p99 per minute, answers by status, and the goals -- RSS flat within
10 % after the first minute, no 5xx, p99 flat (the last minute within 1.5x the second). Not
part of CI.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import psutil

from pgkeel.embedded._process import free_port

SAMPLE_S = 10.0
PASSWORD = "pgkeel-demo"
_COUNTER = re.compile(r'^pgkeel_pool_(requests_queued|requests_wait_seconds)_total'
                      r'\{pool="primary"\} (\S+)$', re.MULTILINE)


def _start_service(port: int) -> tuple[subprocess.Popen[bytes], Any]:
    log = tempfile.TemporaryFile()  # noqa: SIM115 -- closed by run_soak
    env = {**os.environ, "PORT": str(port), "DEMO_SEED": "true", "DEMO_ORGS": "10",
           "DEMO_USERS": "5000", "DEMO_CAR_VIEWS": "0", "DEMO_PASSWORD": PASSWORD,
           "LOGIN_IP_LIMIT": "1000000", "LOGIN_ACCOUNT_LIMIT": "1000000",
           "APP_ENV": "development"}
    process = subprocess.Popen([sys.executable, "-m", "pgkeel_apps"], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    return process, log


async def _ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180
    async with httpx.AsyncClient(base_url=base, timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit("the service exited at start")
            try:
                if (await client.get("/health/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
    raise SystemExit("the service did not become ready in 180 s")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def run_soak(seconds: float, concurrency: int = 16, out: Path | None = None) -> int:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process, log = _start_service(port)
    try:
        await _ready(base, process)
        return await _load(base, process.pid, seconds, concurrency, out)
    finally:
        process.terminate()
        process.wait(60)
        log.close()


async def _load(base: str, pid: int, seconds: float, concurrency: int,
                out: Path | None) -> int:
    limits = httpx.Limits(max_connections=concurrency * 2)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        login = await client.post("/v1/auth/login", json={
            "organization": "org-1", "email": "admin@org-1.example", "password": PASSWORD})
        login.raise_for_status()
        client.headers["Authorization"] = f"Bearer {login.json()['token']}"
        page = (await client.get("/v1/users?limit=100")).json()
        ids = [user["id"] for user in page["items"]]
        started = time.monotonic()
        by_minute: dict[int, list[float]] = defaultdict(list)
        statuses: Counter[str] = Counter()
        samples: list[dict[str, float]] = []
        stop = asyncio.Event()

        async def worker() -> None:
            rng = random.Random()
            while not stop.is_set():
                roll = rng.random()
                sent = time.monotonic()
                try:
                    if roll < 0.7:
                        response = await client.get(f"/v1/users/{rng.choice(ids)}")
                    elif roll < 0.9:
                        response = await client.get("/v1/users?limit=20&sort=-createdAt")
                    else:
                        name = f"soak-{uuid.uuid4().hex[:12]}"
                        response = await client.post(
                            "/v1/users", json={"email": f"{name}@example.com",
                                               "displayName": name},
                            headers={"Idempotency-Key": str(uuid.uuid4())})
                    statuses[str(response.status_code)] += 1
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1
                done = time.monotonic()
                by_minute[int((done - started) // 60)].append((done - sent) * 1000)

        async def sampler() -> None:
            service = psutil.Process(pid)
            while not stop.is_set():
                metrics = (await client.get("/metrics")).text
                pool = {name: float(value) for name, value in _COUNTER.findall(metrics)}
                samples.append({"t_s": round(time.monotonic() - started, 1),
                                "rss_mb": service.memory_info().rss / 2**20,
                                "pool_waits": pool.get("requests_queued", 0.0),
                                "pool_wait_s": pool.get("requests_wait_seconds", 0.0),
                                "load_1m": os.getloadavg()[0]})
                await asyncio.sleep(SAMPLE_S)

        tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
        tasks.append(asyncio.create_task(sampler()))
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*tasks)
    return _report(samples, by_minute, statuses, seconds, concurrency, out)


def _report(samples: list[dict[str, float]], by_minute: dict[int, list[float]],
            statuses: Counter[str], seconds: float, concurrency: int, out: Path | None) -> int:
    print(f"soak: {seconds:.0f} s, {concurrency} clients, "
          f"{sum(statuses.values())} requests")
    print(f"{'t s':>7} {'RSS MB':>8} {'pool waits':>10} {'wait s':>8} {'load 1m':>8}")
    for sample in samples:
        print(f"{sample['t_s']:>7.0f} {sample['rss_mb']:>8.1f} {sample['pool_waits']:>10.0f} "
              f"{sample['pool_wait_s']:>8.2f} {sample.get('load_1m', 0.0):>8.2f}")
    print(f"{'minute':>7} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8}")
    minutes = sorted(by_minute)
    p99 = {m: _percentile(by_minute[m], 0.99) for m in minutes}
    for minute in minutes:
        print(f"{minute:>7} {len(by_minute[minute]):>9} "
              f"{_percentile(by_minute[minute], 0.5):>8.1f} {p99[minute]:>8.1f}")
    print("answers: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    warm = [s["rss_mb"] for s in samples if s["t_s"] >= 60] or [s["rss_mb"] for s in samples]
    rss_growth = (warm[-1] - warm[0]) / warm[0] if warm else 0.0
    errors = sum(v for k, v in statuses.items() if not k.isdigit() or k.startswith("5"))
    complete = [m for m in minutes if (m + 1) * 60 <= seconds]
    p99_ratio = p99[complete[-1]] / p99[complete[1]] if len(complete) >= 3 else 1.0
    goals = {"rss_flat": abs(rss_growth) <= 0.10, "no_5xx": errors == 0,
             "p99_flat": p99_ratio <= 1.5}
    print(f"goals: RSS {rss_growth:+.1%} after warm-up, {errors} 5xx/errors, "
          f"p99 last/second minute {p99_ratio:.2f} -> "
          + ", ".join(f"{k}: {'ok' if v else 'FAIL'}" for k, v in goals.items()))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"soak-{time.strftime('%Y%m%dT%H%M%S')}.json"
        path.write_text(json.dumps({"seconds": seconds, "concurrency": concurrency,
                                    "samples": samples, "statuses": statuses,
                                    "p99_ms_by_minute": p99, "goals": goals}, indent=1))
        print(f"wrote {path}")
    return 0 if all(goals.values()) else 1
