"""The reference service's /metrics: valid for `promtool check metrics`, and HTTP series
labelled by route template, so 1,000 distinct ids (or unknown paths) add no series."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.pgkeel_apps.conftest import Api, make_org

HTTP = "pgkeel_http_request_duration_seconds"


async def _http_series(api: Api) -> set[tuple[tuple[str, str], ...]]:
    text = (await api.client.get("/metrics")).text
    return {tuple(sorted(sample.labels.items()))
            for family in text_string_to_metric_families(text) if family.name == HTTP
            for sample in family.samples if sample.name == f"{HTTP}_count"}


async def test_a_thousand_distinct_ids_add_no_series(api: Api) -> None:
    org = await make_org(api)
    headers = await api.as_(org["slug"], "admin0")
    for _ in range(5):
        await api.client.get(f"/v1/users/{uuid.uuid4()}", headers=headers)
        await api.client.get(f"/no/such/{uuid.uuid4()}")
    before = await _http_series(api)
    assert (("method", "GET"), ("route", "/v1/users/{user_id}"), ("status", "404")) in before
    assert (("method", "GET"), ("route", "<unmatched>"), ("status", "404")) in before
    for _ in range(1000):
        response = await api.client.get(f"/v1/users/{uuid.uuid4()}", headers=headers)
        assert response.status_code == 404
    for n in range(100):
        await api.client.get(f"/no/such/{n}/{uuid.uuid4()}")
    after = await _http_series(api)
    assert after - before <= {(("method", "GET"), ("route", "/metrics"), ("status", "200"))}
    # A label is a template ("/v1/users/{user_id}") or "<unmatched>": never a path segment
    # that is an id (a uuid, or digits) taken from a request.
    raw_id = re.compile(r"/([0-9a-fA-F-]{32,36}|[0-9]+)(/|$)")
    leaked = {dict(labels)["route"] for labels in after if raw_id.search(dict(labels)["route"])}
    assert not leaked, f"raw ids in route labels: {leaked}"


def _promtool() -> str | None:
    return os.environ.get("PGKEEL_PROMTOOL") or shutil.which("promtool")


async def test_metrics_pass_promtool_check_metrics(api: Api) -> None:
    promtool = _promtool()
    if promtool is None:
        pytest.skip("promtool not installed (Debian: apt-get install prometheus; or set "
                    "PGKEEL_PROMTOOL)")
    await api.client.get("/health/ready")
    await api.client.get(f"/v1/users/{uuid.uuid4()}")
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    checked = subprocess.run([promtool, "check", "metrics"], input=response.text,
                             capture_output=True, text=True, check=False, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert HTTP in response.text and "pgkeel_pool_size" in response.text
