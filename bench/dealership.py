"""The dealership's public search and beacon ingestion, on the reference service (a real
uvicorn process, as in the other HTTP scenarios) with its own demo data set (a dealer with
DEMO_CARS cars, loaded by the service as `make demo` does) in a throw-away database.

- `http_dealer_search`: GET /v1/dealers/org-1/cars/search with typo'd queries ("Toyta
  Corola"); search is not cached (free text: an unbounded key space), so it is the same cold
  or warm.
- `http_dealer_list_q_cold`: the public list with a typo-forgiving `q`, every request a
  distinct list key (a price bound that varies), so every one misses the cache: the query,
  the primary images and the cache fill.
- `http_dealer_list_q_warm`: the same list requests from a set of 40, each fetched once
  before the load: every request is a cache hit.
- `http_dealer_beacon`: POST .../beacons/car-view (204): validation, the queue, the view
  counter's one Redis round trip.
- `dealer_beacon_ingest`: in this process, `BeaconWriter` (a `pgkeel.ingest.BatchQueue`)
  fed as fast as it takes them: median/p95 are the caller's cost per event (`offer`), ops/s
  is events written per second until the last batch committed. Checked: every event written.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
import uuid
from collections.abc import Callable
from typing import Any, LiteralString

import aiohttp

from bench.config import Profile
from bench.dataset import drop_redis_prefix
from bench.http_load import Server
from bench.timing import Sample
from pgkeel.db import Database
from pgkeel.testing.databases import create_database, drop_database
from pgkeel_apps.dealership.beacons import BeaconWriter

__all__ = ["DEALERSHIP_SCENARIOS", "run_dealership"]

DEALERSHIP_SCENARIOS = {
    "http_dealer_search": "GET .../cars/search?q= (typos; never cached) at the profile's "
                          "concurrency.",
    "http_dealer_list_q_cold": "GET .../cars?q= with a distinct key per request: every one a "
                               "cache miss.",
    "http_dealer_list_q_warm": "GET .../cars?q= from 40 prefetched keys: every one a hit.",
    "http_dealer_beacon": "POST .../beacons/car-view (204; queued, Redis counter).",
    "dealer_beacon_ingest": "BeaconWriter.offer per event (median/p95) and events written "
                            "per second (ops/s), in process.",
}
SIZES = {"full": (5_000, 200_000)}
"""(DEMO_CARS, beacons ingested) per profile; the smaller ones (quick: `make bench-quick`,
which only checks that the harness works): (200, 5,000)."""
QUERIES = ("Toyta Corola", "volkswagn golf", "merc c-class", "bmw x5", "skoda octavia",
           "hyundai tuscon", "mazda cx5", "tesla model", "porshe 911", "renault clio",
           "peugot 308", "audi a4", "kia sportage", "nissan qashqai", "ford fiesta",
           "volvo xc60", "honda civc", "seat leon", "fiat 500", "dacia duster")
DEALER = "/v1/dealers/org-1"
CARS: LiteralString = """
SELECT c.id FROM dealership.cars c JOIN identity.organizations o ON o.id = c.organization_id
WHERE o.slug = 'org-1' AND c.status = 'AVAILABLE' AND c.deleted_at IS NULL LIMIT 1000
"""
ORG: LiteralString = "SELECT id FROM identity.organizations WHERE slug = 'org-1'"
WRITTEN: LiteralString = """
SELECT count(*) FROM dealership.car_views
WHERE organization_id = %s AND session_id LIKE 'bench-i-%%'
"""


def _server(url: str, redis_url: str, profile: Profile, prefix: str) -> Server:
    cars, _ = SIZES.get(profile.name, (200, 5_000))
    return Server("pgkeel", "pgkeel_apps.main:create_app", factory=True, env={
        "DATABASE_URL": url, "REDIS_URL": redis_url, "CACHE_PREFIX": prefix,
        "DB_POOL_MAX_SIZE": "10", "APP_ENV": "development", "DEMO_SEED": "true",
        "DEMO_ORGS": "1", "DEMO_USERS": "50", "DEMO_PRODUCTS": "50", "DEMO_ORDERS": "10",
        "DEMO_CATALOG_ORGS": "1", "DEMO_COURSES": "2", "DEMO_ATTENDANCES": "100",
        "DEMO_CARS": str(cars), "DEMO_LEADS": "50", "DEMO_CAR_VIEWS": "0",
        "CONTACT_LIMIT": "1000000"})


async def _load(base: str, request: Callable[[aiohttp.ClientSession, int], Any],
                concurrency: int, seconds: float) -> tuple[list[int], dict[int, int], float]:
    """(latencies in ns of 2xx answers, statuses counted, wall seconds) of `concurrency`
    clients sending `request(session, n)` for `seconds`."""
    latencies: list[int] = []
    statuses: dict[int, int] = {}
    counter = iter(range(10**9))
    deadline = time.monotonic() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            began = time.perf_counter_ns()
            async with request(session, next(counter)) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
                if 200 <= response.status < 300:
                    latencies.append(time.perf_counter_ns() - began)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url=base, connector=connector) as session:
        began = time.monotonic()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        return latencies, statuses, time.monotonic() - began


def _p95_ms(latencies: list[int]) -> float:
    ordered = sorted(latencies)
    return ordered[int(0.95 * (len(ordered) - 1))] / 1e6 if ordered else 0.0


async def _http(server: Server, profile: Profile, cars: list[str], only: set[str] | None,
                log: Callable[[str], None]) -> list[Sample]:
    rng = random.Random(3)
    warm = [(q, rng.randrange(20_000, 90_000, 1_000)) for q in QUERIES for _ in range(2)]
    requests: dict[str, Callable[[aiohttp.ClientSession, int], Any]] = {
        "http_dealer_search": lambda s, n: s.get(
            f"{DEALER}/cars/search", params={"q": QUERIES[n % len(QUERIES)], "limit": "10"}),
        "http_dealer_list_q_cold": lambda s, n: s.get(
            f"{DEALER}/cars", params={"q": QUERIES[n % len(QUERIES)],
                                      "priceEur[lte]": str(100_000 + n)}),
        "http_dealer_list_q_warm": lambda s, n: s.get(
            f"{DEALER}/cars", params={"q": warm[n % len(warm)][0],
                                      "priceEur[lte]": str(warm[n % len(warm)][1])}),
        "http_dealer_beacon": lambda s, n: s.post(
            f"{DEALER}/beacons/car-view",
            json={"carId": cars[n % len(cars)], "sessionId": f"bench-h{n % 997}"}),
    }
    async with aiohttp.ClientSession(base_url=server.base) as session:
        for q, price in warm:   # the warm keys, filled once
            async with session.get(f"{DEALER}/cars", params={
                    "q": q, "priceEur[lte]": str(price)}) as response:
                await response.read()
    samples = []
    seconds = profile.http_seconds * profile.http_rounds
    for name, request in requests.items():
        if only is not None and name not in only:
            continue
        latencies, statuses, wall = await _load(server.base, request,
                                                profile.http_concurrency, seconds)
        if set(statuses) - {200, 204}:
            raise RuntimeError(f"{name}: unexpected answers {statuses}")
        samples.append(Sample(name, "pgkeel", durations_ns=latencies, wall_s=wall,
                              ops_override=len(latencies), peak_rss_mb=server.peak_rss_mb()))
        log(f"  {name}: {len(latencies) / wall:.0f} req/s, p95 {_p95_ms(latencies):.1f} ms "
            f"at {profile.http_concurrency} clients")
    return samples


async def _ingest(url: str, profile: Profile, cars: list[str],
                  log: Callable[[str], None]) -> Sample:
    """Offer `events` car views to a BeaconWriter as fast as it takes them (yielding to its
    writer every 1,000), then close it: every event must be written."""
    _, events = SIZES.get(profile.name, (200, 5_000))
    async with Database(url, min_size=1, max_size=4) as db:
        org = await db.fetch_val(ORG)
        ids = [uuid.UUID(c) for c in cars]
        offers: list[int] = []
        now = dt.datetime.now(dt.UTC)
        began = time.perf_counter()
        async with BeaconWriter(db, max_queue=events) as writer:
            for n in range(events):
                row = (ids[n % len(ids)], f"bench-i-{n % 5_000}", "198.51.100.7",
                       "bench", None, now)
                start = time.perf_counter_ns()
                writer.offer("car_views", org, row)
                offers.append(time.perf_counter_ns() - start)
                if n % 1_000 == 999:
                    await asyncio.sleep(0)
        wall = time.perf_counter() - began
        written = await db.fetch_val(WRITTEN, (org,))
    if writer.stats.dropped or written != events:
        raise RuntimeError(f"beacon ingest: {written} of {events} written, "
                           f"{writer.stats.dropped} dropped")
    offers.sort()
    log(f"  dealer_beacon_ingest: {events / wall:.0f} events/s written; the caller's cost "
        f"per event: median {offers[len(offers) // 2] / 1e3:.1f} us, p95 "
        f"{offers[int(0.95 * (len(offers) - 1))] / 1e3:.1f} us")
    return Sample("dealer_beacon_ingest", "pgkeel", durations_ns=offers, wall_s=wall,
                  ops_override=events)


async def run_dealership(admin_url: str, redis_url: str, profile: Profile,
                         only: set[str] | None, *, skip_http: bool = False,
                         log: Callable[[str], None] = print) -> list[Sample]:
    """The dealership scenarios in a database of their own (dropped after)."""
    wanted = set(DEALERSHIP_SCENARIOS) if only is None else only & set(DEALERSHIP_SCENARIOS)
    if skip_http:
        wanted -= {name for name in wanted if name.startswith("http_")}
    if not wanted:
        return []
    url = create_database(admin_url, prefix="pgkeel_bench_dealer")
    prefix = f"pgkeel_bench_dealer_{uuid.uuid4().hex[:8]}:"
    server = _server(url, redis_url, profile, prefix)
    samples: list[Sample] = []
    try:
        server.start()   # migrates and loads the sample dealer, even for the ingest alone
        await server.wait_ready(timeout_s=300)
        async with Database(url, min_size=1, max_size=1) as db:
            cars = [str(r["id"]) for r in await db.fetch_all(CARS)]
        log("dealership:")
        if wanted & {name for name in DEALERSHIP_SCENARIOS if name.startswith("http_")}:
            samples += await _http(server, profile, cars, wanted, log)
        if "dealer_beacon_ingest" in wanted:
            samples.append(await _ingest(url, profile, cars, log))
        return samples
    finally:
        server.stop()
        drop_database(admin_url, url)
        await drop_redis_prefix(redis_url, prefix)
