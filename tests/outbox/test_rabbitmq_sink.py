"""RabbitMqSink against the real RabbitMQ on 127.0.0.1:5672 (guest/guest).

Each test owns an exchange and exclusive queues of its own (deleted afterwards); the shared
broker is never reconfigured. Without a broker there, the tests skip."""

from __future__ import annotations

import datetime as dt
import secrets
import sys
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

pytest.importorskip("aio_pika",
                    reason="the rabbitmq extra is not installed (pip install pgkeel[rabbitmq])")

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractQueue

from pgkeel.errors import BrokerUnavailable, ConfigError, MissingExtra, PublishFailed
from pgkeel.outbox.rabbitmq import RabbitMqSink, sink_from_url
from pgkeel.outbox.sink import OutboxMessage
from tests.outbox.brokers import (
    RABBITMQ_URL,
    add_in_transactions,
    assert_key_order,
    closed_port_url,
    host_port,
    message,
    order_events,
    require_broker,
)


@pytest.fixture
async def channel() -> AsyncIterator[AbstractChannel]:
    require_broker(host_port(RABBITMQ_URL), "RabbitMQ")
    connection = await aio_pika.connect(RABBITMQ_URL, timeout=2)
    try:
        yield await connection.channel()
    finally:
        await connection.close()


@pytest.fixture
async def exchange(channel: AbstractChannel) -> AsyncIterator[str]:
    name = f"pgkeel.test.{secrets.token_hex(4)}"
    yield name
    await channel.exchange_delete(name)


async def bound_queue(channel: AbstractChannel, exchange: str, key: str = "#",
                      arguments: dict[str, Any] | None = None) -> AbstractQueue:
    # The sink declares the exchange on first publish; declare it here too (same settings).
    await channel.declare_exchange(exchange, "topic", durable=True)
    queue = await channel.declare_queue(exclusive=True, arguments=arguments)
    await queue.bind(exchange, routing_key=key)
    return queue


async def drain(queue: AbstractQueue) -> list[aio_pika.abc.AbstractIncomingMessage]:
    got = []
    while (msg := await queue.get(no_ack=True, fail=False, timeout=5)) is not None:
        got.append(msg)
    return got


@pytest.fixture
async def sink(exchange: str) -> AsyncIterator[RabbitMqSink]:
    sink = RabbitMqSink(RABBITMQ_URL, exchange=exchange)
    yield sink
    await sink.close()


async def test_delivers_persistent_messages_with_id_type_and_headers(channel, exchange, sink):
    queue = await bound_queue(channel, exchange, "user.*")
    batch = [message(1, key="a"), message(2, key="b"), message(3)]
    assert list(await sink.publish(batch)) == [None, None, None], "all confirmed"

    got = await drain(queue)
    assert sorted(m.message_id for m in got) == sorted(str(e.id) for e in batch)
    by_id = {m.message_id: m for m in got}
    for event in batch:
        msg = by_id[str(event.id)]
        assert msg.routing_key == "user.created"
        assert msg.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert msg.content_type == "application/json"
        assert msg.type == "user.created"
        assert msg.app_id == "pgkeel"
        assert msg.timestamp == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
        assert orjson.loads(msg.body) == dict(event.payload)
        assert msg.headers["Pgkeel-Event-Id"] == str(event.id)
        assert msg.headers["Pgkeel-Aggregate-Id"] == event.aggregate_id
        assert msg.headers["traceparent"] == event.headers["traceparent"]
        assert msg.headers.get("Pgkeel-Partition-Key") == event.partition_key


async def test_a_nacked_message_fails_alone(channel, exchange, sink):
    # A queue that holds one message and refuses the rest: RabbitMQ nacks those publishes.
    queue = await bound_queue(channel, exchange, arguments={
        "x-max-length": 1, "x-overflow": "reject-publish"})
    batch = [message(1), message(2), message(3)]
    results = list(await sink.publish(batch))
    assert results[0] is None
    for refused in results[1:]:
        assert isinstance(refused, PublishFailed)
        assert refused.details["reason"] == "nack"
    assert [m.message_id for m in await drain(queue)] == [str(batch[0].id)]

    # The channel survives a nack: once there is room, the relay's retry goes through.
    assert list(await sink.publish(batch[1:2])) == [None]
    assert [m.message_id for m in await drain(queue)] == [str(batch[1].id)]


async def test_an_unroutable_message_is_returned_not_dropped(channel, exchange, sink):
    queue = await bound_queue(channel, exchange, "order.*")
    results = list(await sink.publish([message(1), message(2, event_type="order.paid")]))
    assert isinstance(results[0], PublishFailed)
    assert results[0].details["reason"] == "unroutable"
    assert results[1] is None
    assert [m.routing_key for m in await drain(queue)] == ["order.paid"]


async def test_routing_key_and_per_key_order(channel, exchange):
    queue = await bound_queue(channel, exchange, "tenant.org-1")

    def by_org(event: OutboxMessage) -> str:
        return f"tenant.{event.org_id}"

    sink = RabbitMqSink(RABBITMQ_URL, exchange=exchange, routing_key=by_org)
    try:
        batch = [message(i, key="k") for i in range(5)]
        assert list(await sink.publish(batch)) == [None] * 5
    finally:
        await sink.close()
    got = await drain(queue)
    assert [orjson.loads(m.body)["i"] for m in got] == [0, 1, 2, 3, 4]


async def test_a_sink_from_a_url_takes_its_settings_from_the_query(channel, exchange):
    sink = sink_from_url(f"{RABBITMQ_URL}?exchange={exchange}&mandatory=false&heartbeat=30")
    assert sink.exchange == exchange and sink.mandatory is False
    assert sink.url == f"{RABBITMQ_URL}?heartbeat=30", "aio-pika keeps its own options"
    try:
        # No queue is bound: without `mandatory` the broker confirms and drops the message.
        assert list(await sink.publish([message(1)])) == [None]
    finally:
        await sink.close()
    with pytest.raises(ConfigError, match="mandatory"):
        sink_from_url(f"{RABBITMQ_URL}?mandatory=maybe")


async def test_outbox_sink_url_selects_this_sink(pgkeel_settings):
    from pgkeel.outbox import sink_from_settings

    url = "amqps://app:secret@rabbit.example:5671/prod?exchange=orders"
    sink = sink_from_settings(pgkeel_settings.model_copy(update={"outbox_sink_url": url}))
    assert isinstance(sink, RabbitMqSink)
    assert (sink.url, sink.exchange) == ("amqps://app:secret@rabbit.example:5671/prod", "orders")
    await sink.close()


async def test_a_missing_exchange_fails_the_batch(channel, exchange):
    sink = RabbitMqSink(RABBITMQ_URL, exchange=exchange, declare_exchange=False)
    with pytest.raises(BrokerUnavailable) as info:
        await sink.publish([message(1)])
    assert info.value.details["exchange"] == exchange
    await sink.close()


async def test_a_broker_that_is_down_fails_the_whole_batch():
    sink = RabbitMqSink(closed_port_url("amqp", "guest:secret@") + "/", connect_timeout_s=1)
    with pytest.raises(BrokerUnavailable) as info:
        await sink.publish([message(1), message(2)])
    assert info.value.code == "broker_unavailable"
    assert "secret" not in str(info.value.to_dict()), "the password never leaks"
    await sink.close()


async def test_a_relay_delivers_every_committed_event_in_key_order(db, channel, exchange):
    from pgkeel.outbox import Relay

    queue = await bound_queue(channel, exchange, "order.*")
    ids = await add_in_transactions(db, order_events(60, keys=4))
    sink = RabbitMqSink(RABBITMQ_URL, exchange=exchange)
    try:
        assert await Relay(db, sink, batch_size=16, listen=False).drain() == 60
    finally:
        await sink.close()

    got = await drain(queue)
    assert sorted(m.message_id for m in got) == sorted(map(str, ids))
    assert_key_order([(m.headers["Pgkeel-Aggregate-Id"], orjson.loads(m.body)["n"])
                      for m in got])


def test_without_the_extra_the_error_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "aio_pika", None)
    with pytest.raises(MissingExtra) as info:
        RabbitMqSink()
    assert info.value.hint == "pip install 'pgkeel[rabbitmq]'"
