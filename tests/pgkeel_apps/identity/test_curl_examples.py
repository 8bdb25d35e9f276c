"""The user-service report's curl examples, as HTTP requests to a real uvicorn process, each
answering with the report's envelope."""

from __future__ import annotations

import httpx
import pytest

from tests.pgkeel_apps.conftest import PASSWORD, TEST_ENV

pytestmark = pytest.mark.smoke

ENVELOPE = {"items", "page", "pageSize", "total", "totalPages"}


def test_report_curl_examples(live_server, pgkeel_database_url, pgkeel_redis_url):
    server = live_server({"DATABASE_URL": pgkeel_database_url, "REDIS_URL": pgkeel_redis_url,
                          **TEST_ENV})
    base = server.base_url
    # Generous timeouts: the machine may be loaded; this checks answers, not speed.
    client = httpx.Client(timeout=60.0)
    token = client.post(f"{base}/v1/auth/login", json={
        "organization": "org-1", "email": "admin@org-1.example", "password": PASSWORD}
    ).json()["token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    roles = client.get(f"{base}/v1/roles", headers=headers).json()["items"]
    admin_role_id = next(r["id"] for r in roles if r["name"] == "ADMIN")

    examples = [
        ("page=1&pageSize=20", 20),
        ("q=admin&isActive=true&page=1&pageSize=10", 10),
        ("sortField=email&sortDirection=asc&page=1&pageSize=25", 25),
        ("createdFrom=2024-01-01&createdTo=2999-12-31&page=1&pageSize=15", 15),
        (f"roleId={admin_role_id}&page=1&pageSize=20", 20),
    ]
    for query, page_size in examples:
        response = client.get(f"{base}/v1/users?{query}", headers=headers)
        assert response.status_code == 200, (query, response.text)
        body = response.json()
        assert set(body) >= ENVELOPE, query
        assert (body["page"], body["pageSize"]) == (1, page_size)
        assert len(body["items"]) <= page_size
        assert body["totalPages"] == -(-body["total"] // page_size)
        assert response.headers["x-request-id"]
    assert client.get(f"{base}/openapi.json").json()["paths"]["/v1/users"]["get"]["parameters"]
    client.close()
