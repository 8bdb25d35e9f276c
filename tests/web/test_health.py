"""/health and /health/ready on a real uvicorn process."""

from __future__ import annotations

import httpx
import pytest

from pgkeel.embedded._process import free_port

pytestmark = pytest.mark.smoke


def test_ready_reports_database_and_redis(live_server, pgkeel_database_url, pgkeel_redis_url):
    server = live_server({"DATABASE_URL": pgkeel_database_url, "REDIS_URL": pgkeel_redis_url})
    assert httpx.get(f"{server.base_url}/health").json() == {"status": "ok"}
    response = httpx.get(f"{server.base_url}/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]["database"]) == {"ok", "latency_ms"}
    assert body["checks"]["database"]["ok"] is True
    assert set(body["checks"]["redis"]) == {"ok", "backend", "latency_ms"}
    assert body["checks"]["redis"]["ok"] is True
    # Nothing an anonymous caller could use to find or fingerprint the servers.
    for secret in ("127.0.0.1", "postgresql://", "redis://", "server_version", "pool",
                   pgkeel_database_url.rsplit("/", 1)[-1]):
        assert secret not in response.text
    metrics = httpx.get(f"{server.base_url}/metrics").text
    assert "pgkeel_pool_size" in metrics
    assert 'pgkeel_pool_requests_total{pool="primary"}' in metrics


def test_ready_is_503_when_redis_is_down(live_server, pgkeel_database_url):
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    server = live_server({"DATABASE_URL": pgkeel_database_url, "REDIS_URL": dead_redis})
    assert httpx.get(f"{server.base_url}/health").status_code == 200, "liveness unaffected"
    response = httpx.get(f"{server.base_url}/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is False
    port = dead_redis.rsplit(":", 1)[-1].partition("/")[0]
    assert f":{port}" not in response.text


def test_memory_cache_needs_no_redis(live_server, pgkeel_database_url):
    server = live_server({"DATABASE_URL": pgkeel_database_url, "REDIS_URL": "memory://"})
    body = httpx.get(f"{server.base_url}/health/ready").json()
    assert body["checks"]["redis"] == {"ok": True, "backend": "memory"}
