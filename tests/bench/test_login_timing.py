"""The failed-login timing measurement: its statistics, and a tiny run that checks every kind
of failed login answers the same 401 body. No timing is asserted."""

from __future__ import annotations

import random

from bench.login_timing import DATABASE, KINDS, bootstrap_interval, login_timing

from pgkeel.testing import drop_database
from pgkeel.testing.databases import database_url


def test_the_interval_contains_zero_for_the_same_distribution_and_not_for_a_shift():
    rng = random.Random(1)
    same_a = [int(rng.gauss(100e6, 5e6)) for _ in range(300)]
    same_b = rng.sample(same_a, len(same_a))                  # the same values, reordered
    shifted = [value + 20_000_000 for value in same_b]
    _, low, high = bootstrap_interval(same_a, same_b)
    assert low <= 0 <= high
    diff, low, high = bootstrap_interval(same_a, shifted)
    assert 0 < low <= diff <= high
    assert 15 < diff < 25


async def test_every_kind_of_failed_login_answers_the_same(pgkeel_settings):
    admin = pgkeel_settings.database_url
    try:
        report = await login_timing(admin, pgkeel_settings.redis_url, rounds=1, ops=1,
                                    log=lambda _: None)
    finally:
        drop_database(admin, database_url(admin, DATABASE))
    assert report["identical_bodies"]
    assert [row["kind"] for row in report["kinds"]] == list(KINDS)
    assert all(row["n"] == 1 for row in report["kinds"])
