"""pgkeel errors over HTTP: the status per class and the {code, message, details, hint} body."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from pgkeel import errors
from pgkeel.web import OrjsonResponse, RequestIdMiddleware, install_error_handlers

pytestmark = pytest.mark.smoke

CASES = {
    "conflict": (errors.Conflict(details={"constraint": "users_email_key",
                                          "fields": ["email"]}), 409),
    "reference": (errors.ReferenceNotFound(), 409),
    "validation": (errors.ValidationFailed(), 422),
    "tx-conflict": (errors.TransactionConflict(), 409),
    "timeout": (errors.QueryTimeout(), 504),
    "unavailable": (errors.DatabaseUnavailable(), 503),
    "unavailable-named": (errors.DatabaseUnavailable(
        "The database 'shop' does not exist at db.internal:5432 (postgresql://app@db.internal/"
        "shop).", details={"database": "postgresql://app@db.internal/shop",
                           "cause": "database_missing"}, hint="Create it."), 503),
    "pool": (errors.PoolExhausted(), 503),
    "denied": (errors.PermissionDenied(details={"object": "table users"}), 500),
    "commit-unknown": (errors.CommitOutcomeUnknown(), 503),
    "usage": (errors.UsageError("internal detail that must not leak"), 500),
}


class Body(BaseModel):
    count: int


def make_app() -> FastAPI:
    app = FastAPI(default_response_class=OrjsonResponse)
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)

    @app.get("/raise/{name}")
    async def raise_(name: str) -> None:
        raise CASES[name][0]

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("SELECT secret FROM internals")

    @app.post("/body")
    async def body(payload: Body) -> dict[str, int]:
        return {"count": payload.count}

    return app


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.mark.parametrize("name", sorted(CASES))
async def test_each_error_class_has_its_status_and_body(client, name):
    exc, status = CASES[name]
    response = await client.get(f"/raise/{name}")
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"code", "message", "details", "hint"}
    assert body["details"]["request_id"] == response.headers["x-request-id"]
    if status == 500:
        assert body["code"] == "internal_error"
        assert "must not leak" not in response.text
    elif isinstance(exc, errors.DatabaseUnavailable):
        assert body["code"] == exc.code
        assert body["message"] == type(exc)().message      # the class's, never the target
    else:
        assert body["code"] == exc.code
        assert body["message"] == exc.message


async def test_conflict_carries_constraint_and_fields(client):
    body = (await client.get("/raise/conflict")).json()
    assert body["details"]["constraint"] == "users_email_key"
    assert body["details"]["fields"] == ["email"]


async def test_database_permission_failure_is_a_500_whose_log_line_names_the_object(
        client, caplog):
    """42501 means the service's database role lacks a grant: the operator's problem."""
    with caplog.at_level("ERROR", logger="pgkeel.web"):
        response = await client.get("/raise/denied")
    assert response.status_code == 500
    assert "users" not in response.text
    assert any("PermissionDenied" in r.getMessage() and "table users" in r.getMessage()
               for r in caplog.records)


async def test_unavailable_sends_retry_after(client):
    response = await client.get("/raise/unavailable")
    assert response.headers["retry-after"] == "2"


async def test_unexpected_exception_is_a_bare_500(client):
    response = await client.get("/crash")
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert "SELECT" not in response.text and "Traceback" not in response.text


async def test_request_validation_and_404_use_the_same_shape(client):
    bad = await client.post("/body", json={"count": "many"})
    assert bad.status_code == 422
    assert bad.json()["code"] == "validation_failed"
    assert bad.json()["details"]["problems"][0]["field"] == "count"
    missing = await client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


async def test_the_request_id_is_the_servers_and_the_clients_is_kept_apart(client):
    kept = await client.get("/raise/reference", headers={"X-Request-ID": "abc-123"})
    assert kept.headers["x-request-id"] != "abc-123", "a client cannot choose the request id"
    assert len(kept.headers["x-request-id"]) == 32
    assert kept.headers["x-client-request-id"] == "abc-123"
    assert kept.json()["details"]["request_id"] == kept.headers["x-request-id"]
    refused = await client.get("/raise/reference", headers={"X-Request-ID": "bad id;DROP"})
    assert "x-client-request-id" not in refused.headers
    assert len(refused.headers["x-request-id"]) == 32


async def test_a_500_from_a_failing_error_response_still_carries_the_request_id():
    app = make_app()

    class Unprintable:
        """A detail no JSON encoder can write: the error handler itself fails."""

        def __str__(self) -> str:
            raise RuntimeError("cannot print")

    @app.get("/unrenderable")
    async def unrenderable() -> None:
        raise errors.Conflict(details={"value": Unprintable()})

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        response = await c.get("/unrenderable", headers={"X-Request-ID": "req-500"})
        crash = await c.get("/crash")
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert response.json() == {"code": "internal_error", "message": "Internal server error.",
                               "details": {"request_id": request_id}, "hint": None}
    assert crash.status_code == 500
    assert crash.json()["details"]["request_id"] == crash.headers["x-request-id"]


async def test_integers_beyond_64_bits_render(client):
    app = make_app()

    @app.get("/big")
    async def big() -> None:
        raise errors.VersionConflict(details={"expected_version": 2**70})

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        response = await c.get("/big")
    assert response.status_code == 409
    assert response.json()["details"]["expected_version"] == 2**70


async def test_driver_errors_keep_their_code(client):
    app = make_app()

    @app.get("/driver")
    async def driver() -> None:
        raise errors.translate(psycopg.ProgrammingError("the query has 2 placeholders"))

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        response = await c.get("/driver")
    assert response.status_code == 500
    assert response.json()["code"] == "driver_error"
    assert "placeholders" not in response.text


async def test_a_500_is_logged_with_traceback_request_id_route_and_method(client, caplog):
    with caplog.at_level("ERROR", logger="pgkeel.web"):
        crashed = await client.get("/crash")
        failed = await client.get("/raise/usage")
    for response, kind in ((crashed, RuntimeError), (failed, errors.UsageError)):
        request_id = response.json()["details"]["request_id"]
        [record] = [r for r in caplog.records if getattr(r, "request_id", None) == request_id]
        assert record.exc_info is not None and record.exc_info[0] is kind  # the traceback
        assert record.method == "GET"  # type: ignore[attr-defined]
        assert record.route in ("/crash", "/raise/{name}")  # type: ignore[attr-defined]
        line = record.getMessage()
        assert request_id in line and "GET" in line and record.route in line  # type: ignore


async def test_a_422_carries_the_request_id(client):
    bad = await client.post("/body", json={"count": "many"})
    assert bad.json()["details"]["request_id"] == bad.headers["x-request-id"]


async def test_without_the_request_id_middleware_error_bodies_still_carry_one(caplog):
    app = FastAPI(default_response_class=OrjsonResponse)
    install_error_handlers(app)  # no RequestIdMiddleware

    @app.get("/raise/{name}")
    async def raise_(name: str) -> None:
        raise CASES[name][0]

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("boom")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with caplog.at_level("ERROR", logger="pgkeel.web"):
            answers = [await client.get(path) for path in
                       ("/raise/conflict", "/raise/usage", "/nowhere", "/crash")]
            answers.append(await client.post("/crash"))
    assert [a.status_code for a in answers] == [409, 500, 404, 500, 405]
    for answer in answers:
        assert answer.json()["details"]["request_id"] == answer.headers["x-request-id"]
    assert len({a.headers["x-request-id"] for a in answers}) == len(answers)
    crash_id = answers[3].headers["x-request-id"]
    assert any(crash_id in record.getMessage() for record in caplog.records)


async def test_an_unavailable_database_is_not_described_to_the_client(client, caplog):
    """Which host, which database and why are for the operator's log; the client learns
    only that it may retry."""
    response = await client.get("/raise/unavailable-named")
    assert response.status_code == 503 and response.headers["Retry-After"]
    body = response.json()
    assert "db.internal" not in response.text and "shop" not in response.text
    assert body["message"] == "The database cannot be reached right now."
    assert set(body["details"]) == {"request_id"}
    assert any("db.internal" in record.getMessage() for record in caplog.records)
