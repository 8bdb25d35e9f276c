"""Analytics: beacons lose nothing through a graceful shutdown, view counters reach
cars.view_count, daily aggregates and the dashboards, partitions and retention."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from pgkeel_apps.dealership.analytics import (
    flush_view_counters,
    maintain_partitions,
    refresh_daily,
)
from pgkeel_apps.dealership.seed_views import load_sample_views
from tests.pgkeel_apps.conftest import open_api

from .conftest import ADMIN, new_dealer

BEACONS = 600


async def test_beacons_under_load_lose_nothing_through_a_graceful_shutdown(
        pgkeel_settings, role_settings, monkeypatch):
    async with open_api(role_settings, monkeypatch, admin=pgkeel_settings) as api:
        dealer = await new_dealer(api)
        cars = [await dealer.car("Saab", f"9-{i}") for i in range(3)]
        url = f"{dealer.public}/beacons"

        async def send(i: int) -> tuple[int, int]:
            car = cars[i % 3]
            view = await api.client.post(f"{url}/car-view", json={
                "carId": car["id"], "sessionId": f"s{i % 7}"})
            vital = await api.client.post(f"{url}/web-vitals", json={
                "name": "LCP", "value": float(i % 100 + 1), "path": "/cars"})
            return view.status_code, vital.status_code
        for start in range(0, BEACONS, 100):
            codes = await asyncio.gather(*(send(i) for i in range(start, start + 100)))
            assert set(codes) == {(204, 204)}
        writer = api.app.state.dealership_beacons
    # The service has shut down: everything queued was written before it stopped.
    assert writer.stats.dropped == 0 and writer.stats.accepted == 2 * BEACONS
    async with open_api(role_settings, monkeypatch, admin=pgkeel_settings) as api:
        org = dealer.org["id"]
        counters = api.app.state.dealership_analytics.counters
        views = await api.db.fetch_val(
            "SELECT count(*) FROM dealership.car_views WHERE organization_id = %s", (org,))
        vitals = await api.db.fetch_val(
            "SELECT count(*) FROM dealership.web_vitals WHERE organization_id = %s", (org,))
        assert views == vitals == BEACONS
        # The Redis counters hold the same views until they are flushed to the cars.
        assert sum((await counters.get_many([c["id"] for c in cars], org=org)).values()) \
            == BEACONS
        assert await flush_view_counters(api.db, counters) >= BEACONS
        assert await counters.get_many([cars[0]["id"]], org=org) == {cars[0]["id"]: 0}
        counted = await api.db.fetch_all(
            "SELECT id, view_count FROM dealership.cars WHERE organization_id = %s", (org,))
        assert sorted(r["view_count"] for r in counted) == [BEACONS // 3] * 3

        await refresh_daily(api.db)
        headers = await api.as_(dealer.slug, "admin0")
        daily = (await api.client.get(f"{ADMIN}/analytics/views", headers=headers)).json()
        assert sorted((d["views"], d["sessions"]) for d in daily["items"]) == [
            (200, 7), (200, 7), (200, 7)]
        top = (await api.client.get(f"{ADMIN}/analytics/top-cars", headers=headers,
                                    params={"limit": 2})).json()["items"]
        assert [t["views"] for t in top] == [200, 200]
        p75 = (await api.client.get(f"{ADMIN}/analytics/web-vitals", headers=headers)).json()
        assert p75["items"] == [{"path": "/cars", "name": "LCP", "samples": BEACONS,
                                 "p75": 75.25}]
        other = await new_dealer(api)
        hidden = await api.client.get(f"{ADMIN}/analytics/top-cars", headers=other.headers)
        assert hidden.json()["items"] == []


async def test_partitions_are_created_ahead_and_dropped_by_retention(api: Any):
    first = await maintain_partitions(api.db)
    assert first["created"] >= 0
    month = (dt.datetime.now(dt.UTC).date().replace(day=1) + dt.timedelta(days=62))
    name = f"car_views_{month:%Y%m}"
    assert await api.db.fetch_val("SELECT to_regclass(%s) IS NOT NULL",
                                  (f"dealership.{name}",))
    await api.db.execute("SELECT dealership.ensure_analytics_partitions('2001-01-01', 1)")
    assert await api.db.fetch_val("SELECT to_regclass('dealership.car_views_200101')")
    assert await api.db.fetch_val("SELECT dealership.drop_analytics_partitions('2001-02-01')") \
        == 3
    assert await api.db.fetch_val("SELECT to_regclass('dealership.car_views_200101')") is None


async def test_bad_beacons_are_refused_before_the_queue(api: Any):
    dealer = await new_dealer(api)
    url = f"{dealer.public}/beacons"
    for path, body in (("car-view", {"carId": "nope"}), ("web-vitals", {"name": "FID",
                                                                         "value": 1,
                                                                         "path": "/"}),
                       ("page-view", {"path": "no-slash"}),
                       ("page-view", {"path": "/", "loadTimeMs": False}),   # no bool as a number
                       ("web-vitals", {"name": "CLS", "value": False, "path": "/"})):
        response = await api.client.post(f"{url}/{path}", json=body)
        assert response.status_code == 422, (path, response.text)


async def test_sample_views_land_in_monthly_partitions_with_their_aggregates(api: Any):
    dealer = await new_dealer(api)
    org = dealer.org["id"]
    cars = [(await dealer.car("Lada", f"Niva {i}"))["id"] for i in range(4)]
    assert await load_sample_views(api.db, [(org, cars)], views=500) == 500
    rows = await api.db.fetch_all(
        "SELECT tableoid::regclass::text AS part, count(*) AS n FROM dealership.car_views "
        "WHERE organization_id = %s GROUP BY 1", (org,))
    assert sum(r["n"] for r in rows) == 500
    assert all(r["part"].startswith("dealership.car_views_2") for r in rows), rows
    assert await api.db.fetch_val(
        "SELECT sum(views) FROM dealership.car_view_daily WHERE organization_id = %s",
        (org,)) == 500
    assert await api.db.fetch_val(
        "SELECT sum(view_count) FROM dealership.cars WHERE organization_id = %s", (org,)) == 500


async def test_dashboards_are_cached_until_the_aggregate_job_runs(api: Any):
    dealer = await new_dealer(api)
    org = dealer.org["id"]
    car = await dealer.car("Trabant", "601")
    cache = api.app.state.dealership_analytics.cache

    async def views(n: int) -> None:
        await api.db.execute(
            "INSERT INTO dealership.car_views (organization_id, car_id, session_id) "
            "SELECT %s, %s, 's' || g FROM generate_series(1, %s) AS g", (org, car["id"], n))

    async def top() -> list[int]:
        response = await api.client.get(f"{ADMIN}/analytics/top-cars", headers=dealer.headers)
        assert response.status_code == 200, response.text
        return [item["views"] for item in response.json()["items"]]

    await views(3)
    await refresh_daily(api.db, cache=cache)
    assert await top() == [3]
    await views(4)
    await api.db.fetch_val("SELECT dealership.refresh_car_view_daily(current_date - 1)")
    assert await top() == [3]            # cached: the aggregates changed behind its back
    await views(1)
    await refresh_daily(api.db, cache=cache)   # the job: recompute, then drop the dashboards
    assert await top() == [8]
