"""OpenTelemetry spans with the SDK's in-memory exporter: HTTP requests by route template,
queries with their text and never their parameter values, retries as events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pgkeel.observe import tracing
from pgkeel.web import HttpMetricsMiddleware

sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="the otel extra is not installed")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    try:
        yield exporter
    finally:
        tracing.disable()


async def test_queries_are_spans_without_their_parameter_values(spans, pgkeel_db):
    with tracing.span("caller"):
        assert await pgkeel_db.fetch_val("SELECT %s::int + 1", (4141,)) == 4142
    finished = {s.name: s for s in spans.get_finished_spans()}
    query = next(s for name, s in finished.items() if name.startswith("db "))
    assert query.attributes["db.system"] == "postgresql"
    assert "SELECT %s::int + 1" in query.attributes["db.statement"]
    assert all("4141" not in str(value) for value in query.attributes.values())
    assert query.parent is not None
    assert query.parent.span_id == finished["caller"].context.span_id


async def test_a_retried_transaction_records_each_retry_as_an_event(spans, pgkeel_db):
    attempts: list[int] = []

    async def conflicting(tx: Any) -> int:
        attempts.append(1)
        if len(attempts) == 1:
            await tx.execute("DO $$ BEGIN RAISE EXCEPTION 'conflict'"
                             " USING ERRCODE = '40001'; END $$")
        return len(attempts)

    with tracing.span("work"):
        assert await pgkeel_db.run_in_tx(conflicting) == 2
    [work] = [s for s in spans.get_finished_spans() if s.name == "work"]
    [retry] = [e for e in work.events if e.name == "pgkeel.transaction.retry"]
    assert (retry.attributes["reason"], retry.attributes["attempt"]) == ("serialization_failure", 1)


async def test_http_requests_are_spans_named_by_route_template(spans):
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    app.add_middleware(HttpMetricsMiddleware)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/items/12345")).status_code == 200
        assert (await client.get("/nowhere/12345")).status_code == 404
    names = {s.name: s for s in spans.get_finished_spans()}
    assert names["GET /items/{item_id}"].attributes["http.response.status_code"] == 200
    assert names["GET <unmatched>"].attributes["http.route"] == "<unmatched>"
    assert not any("12345" in name for name in names)


def test_without_enable_nothing_is_recorded():
    assert not tracing.enabled()
    with tracing.span("ignored") as current:
        assert current is None
    tracing.event("ignored")


async def test_an_outbox_relay_batch_is_a_publish_span(spans, pgkeel_db):
    from pgkeel import outbox

    await outbox.install(pgkeel_db)
    sink = outbox.InProcessSink()
    async with pgkeel_db.transaction() as tx:
        await outbox.add(tx, outbox.OutboxEvent(aggregate_type="thing", aggregate_id="t-1",
                                                event_type="thing.made", payload={"n": 1}))
    relay = outbox.Relay(pgkeel_db, sink)
    assert await relay.drain() >= 1
    [publish, *_] = [s for s in spans.get_finished_spans()
                     if s.name == "pgkeel.outbox.publish"]
    assert publish.attributes["pgkeel.outbox.sink"] == sink.name
    assert publish.attributes["pgkeel.outbox.events"] >= 1
