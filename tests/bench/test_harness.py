"""The benchmark harness end to end on a tiny data set: it must run every scenario and write
results in the issue's shape. Timings are never asserted -- only that the harness works."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

for module in ("asyncpg", "sqlalchemy", "fastapi_pagination", "aiohttp", "pyinstrument",
               "procrastinate"):
    pytest.importorskip(module, reason="the bench extra is not installed (make bench-quick)")

from bench.__main__ import main  # noqa: E402
from bench.dealership import DEALERSHIP_SCENARIOS  # noqa: E402
from bench.http_load import HTTP_SCENARIOS  # noqa: E402
from bench.place_order import PLACE_ORDER_SCENARIOS  # noqa: E402
from bench.report import CONTENDERS, RATIO_KEYS, RESULT_KEYS, validate  # noqa: E402

IN_PROCESS = {"get_by_id", "list_offset_page1", "list_offset_deep", "list_keyset",
              "list_count_exact", "list_count_planned", "list_count_estimated", "cache_hit",
              "cache_miss", "create_with_audit", "audit_append", "bulk_insert", "get_by_id_rls",
              "list_offset_page1_rls", "list_keyset_rls", "cache_hit_l1"}
WITH_CORE = {"get_by_id", "list_offset_page1", "list_offset_deep", "list_keyset"}
PAIRED = {"cache_hit", "cache_miss", "cache_hit_l1", "get_by_id_rls", "list_offset_page1_rls",
          "list_keyset_rls"}
PAIRS = {"outbox_add": {"raw_psycopg", "pgkeel"}, "outbox_relay": {"pgkeel", "procrastinate"},
          "idempotent_create_user": {"pgkeel", "pgkeel_no_key"}}


@pytest.mark.timeout(600)
def test_tiny_run_writes_results_in_the_issue_shape(bench_env: str, tmp_path: Path) -> None:
    args = ["--size", "tiny", "--database", bench_env, "--out", str(tmp_path), "--no-readme",
            "--no-progress"]
    assert main(args) == 0
    [path] = tmp_path.glob("tiny-*.json")
    report = json.loads(path.read_text())
    validate(report)
    assert list(report) == ["machine", "versions", "results", "ratios"]
    assert report["machine"]["profile"] == "tiny"
    for name in ("pgkeel", "psycopg", "asyncpg", "sqlalchemy", "postgresql", "redis_server"):
        assert report["versions"][name]

    results = report["results"]
    assert all(tuple(row) == RESULT_KEYS for row in results)
    seen = {(row["scenario"], row["contender"]) for row in results}
    assert {s for s, _ in seen} == IN_PROCESS | set(HTTP_SCENARIOS) | set(PAIRS) | set(
        PLACE_ORDER_SCENARIOS) | set(DEALERSHIP_SCENARIOS)
    # The school scenarios (pgkeel_live) are not in the tiny profile: bench-quick runs them.
    assert {c for _, c in seen} == set(CONTENDERS) - {"pgkeel_live"}
    for scenario, contenders in PAIRS.items():
        assert {c for s, c in seen if s == scenario} == contenders
    for scenario in IN_PROCESS - PAIRED:
        assert {c for s, c in seen if s == scenario} == {
            "raw_psycopg", "asyncpg", "sqlalchemy", "pgkeel",
            *(["sqlalchemy_core"] if scenario in WITH_CORE else [])}
    for scenario in PAIRED:
        assert {c for s, c in seen if s == scenario} == {"raw_psycopg", "pgkeel"}
    for scenario in HTTP_SCENARIOS:
        assert {c for s, c in seen if s == scenario} == {
            "pgkeel", "fastapi_sqlalchemy",
            *(["minimal_starlette", "minimal_fastapi"] if scenario != "http_get_user_cached"
              else [])}
    for row in results:
        assert isinstance(row["median_ms"], float | int)
        assert row["p95_ms"] >= row["median_ms"] and row["p99_ms"] >= row["p95_ms"]
        assert row["ops_per_s"] > 0
        if row["scenario"] in {*HTTP_SCENARIOS, *PLACE_ORDER_SCENARIOS,
                               *(s for s in DEALERSHIP_SCENARIOS if s.startswith("http_"))}:
            assert row["peak_rss_mb"] > 0
        else:
            assert row["peak_rss_mb"] is None

    ratios = {row["scenario"]: row for row in report["ratios"]}
    assert set(ratios) == IN_PROCESS | set(HTTP_SCENARIOS) | set(PAIRS) | set(
        PLACE_ORDER_SCENARIOS) | set(DEALERSHIP_SCENARIOS)
    assert all(tuple(row) == RATIO_KEYS for row in report["ratios"])
    assert ratios["get_by_id"]["pgkeel_vs_raw_psycopg"] > 0
    assert ratios["get_by_id"]["sqlalchemy_vs_pgkeel"] > 0
    assert ratios["http_list_users"]["pgkeel_vs_raw_psycopg"] is None
    assert ratios["http_list_users"]["sqlalchemy_vs_pgkeel"] > 0
    assert ratios["http_get_user"]["pgkeel_vs_minimal"] > 0
    assert ratios["get_by_id"]["pgkeel_vs_minimal"] is None
    assert ratios["http_list_users"]["pgkeel_vs_minimal_fastapi"] > 0
    assert ratios["http_get_user_cached"]["pgkeel_vs_minimal_fastapi"] is None
    assert ratios["outbox_add"]["pgkeel_vs_raw_psycopg"] > 0
    assert ratios["outbox_relay"]["pgkeel_vs_peer"] > 0
    assert ratios["idempotent_create_user"]["pgkeel_vs_peer"] > 0
    assert ratios["get_by_id"]["pgkeel_vs_peer"] is None
    placed = next(row for row in results if row["scenario"] == "http_place_order")
    assert placed["contender"] == "pgkeel" and placed["ops_per_s"] > 0
    relay = {row["contender"]: row for row in results if row["scenario"] == "outbox_relay"}
    assert all(row["ops_per_s"] > 0 for row in relay.values())


def test_validate_refuses_another_shape() -> None:
    result: dict[str, Any] = {**dict.fromkeys(RESULT_KEYS), "contender": "pgkeel"}
    good: dict[str, Any] = {"machine": {}, "versions": {}, "results": [result],
                            "ratios": [dict.fromkeys(RATIO_KEYS)]}
    validate(good)
    with pytest.raises(ValueError, match="top-level"):
        validate({**good, "extra": 1})
    with pytest.raises(ValueError, match="unknown contender"):
        validate({**good, "results": [{**result, "contender": "django"}]})
