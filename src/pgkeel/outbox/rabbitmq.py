"""The RabbitMQ sink: persistent messages, publisher confirms, routed by event type.

A message counts as published only when RabbitMQ confirms it (publisher confirms), which for
a durable queue means it has been written to disk. Messages are persistent, carry the event
id as `message_id` (for consumers' deduplication: RabbitMQ does not deduplicate), and are
published `mandatory`, so a message no queue is bound for comes back as a failure instead of
being dropped. Needs the `rabbitmq` extra (`pip install 'pgkeel[rabbitmq]'`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pgkeel.errors import BrokerUnavailable, PublishFailed
from pgkeel.outbox._brokers import (
    CONTENT_TYPE,
    encode_body,
    gather_results,
    headers_for,
    in_key_order,
    require,
    split_options,
    url_flag,
    url_float,
)
from pgkeel.outbox.sink import OutboxMessage, PublishResult

if TYPE_CHECKING:
    from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

    from pgkeel.config import Settings

__all__ = ["DEFAULT_EXCHANGE", "RabbitMqSink", "sink_from_url"]

DEFAULT_EXCHANGE = "pgkeel.outbox"


class RabbitMqSink:
    """Publishes outbox events to a RabbitMQ exchange with publisher confirms.

    `exchange` (a durable `exchange_type` exchange, declared unless `declare_exchange=False`;
    "" is the default exchange) receives each event with the routing key `routing_key(event)`,
    by default the event type (`user.created`), which topic bindings such as `user.*` select.
    """

    name = "rabbitmq"

    def __init__(
        self,
        url: str = "amqp://guest:guest@127.0.0.1:5672/",
        *,
        exchange: str = DEFAULT_EXCHANGE,
        exchange_type: str = "topic",
        declare_exchange: bool = True,
        routing_key: Callable[[OutboxMessage], str] | None = None,
        mandatory: bool = True,
        timeout_s: float = 5.0,
        connect_timeout_s: float = 2.0,
    ) -> None:
        require("aio_pika", extra="rabbitmq", package="aio-pika")
        self.url = url
        self.exchange = exchange
        self.exchange_type = exchange_type
        self.declare_exchange = declare_exchange
        self._routing_key = routing_key or _event_type
        self.mandatory = mandatory
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._lock = asyncio.Lock()

    async def _target(self) -> AbstractExchange:
        """The exchange on a confirming channel, (re)opened when the connection or channel
        closed (RabbitMQ closes a channel on some errors, e.g. a missing exchange)."""
        async with self._lock:
            if (self._exchange is not None and self._channel is not None
                    and not self._channel.is_closed):
                return self._exchange
            aio_pika = require("aio_pika", extra="rabbitmq", package="aio-pika")
            if self._connection is None or self._connection.is_closed:
                try:
                    self._connection = await aio_pika.connect(
                        self.url, timeout=self.connect_timeout_s)
                except Exception as exc:
                    raise BrokerUnavailable(
                        f"RabbitMQ did not answer at {_safe(self.url)}: "
                        f"{exc or type(exc).__name__}",
                        details={"broker": "rabbitmq", "url": _safe(self.url)},
                        hint="Check that RabbitMQ runs and the URL's credentials and"
                             " virtual host are right.") from exc
            assert self._connection is not None
            try:
                channel = await self._connection.channel(publisher_confirms=True,
                                                         on_return_raises=True)
                if self.exchange == "":
                    exchange = channel.default_exchange
                elif self.declare_exchange:
                    exchange = await channel.declare_exchange(
                        self.exchange, self.exchange_type, durable=True,
                        timeout=self.timeout_s)
                else:
                    exchange = await channel.get_exchange(self.exchange, ensure=True)
            except Exception as exc:
                await self.close()
                raise BrokerUnavailable(
                    f"RabbitMQ refused the exchange {self.exchange!r}: "
                    f"{exc or type(exc).__name__}",
                    details={"broker": "rabbitmq", "exchange": self.exchange}) from exc
            self._channel, self._exchange = channel, exchange
            return exchange

    async def publish(self, messages: Sequence[OutboxMessage]) -> Sequence[PublishResult]:
        """Publish the batch concurrently and await each publisher confirm; a nack, an
        unroutable return or a missing confirm fails that message only."""
        if not messages:
            return []
        exchange = await self._target()
        results = await in_key_order(messages, lambda wave: self._wave(exchange, wave))
        if self._channel is None or self._channel.is_closed:
            # The channel died under the batch (connection lost): a batch failure, retried.
            await self.close()
            raise BrokerUnavailable("The RabbitMQ channel closed while publishing.",
                                    details={"broker": "rabbitmq",
                                             "url": _safe(self.url)})
        return results

    async def _wave(self, exchange: AbstractExchange,
                    messages: Sequence[OutboxMessage]) -> list[PublishResult]:
        from aio_pika import DeliveryMode, Message

        async def one(message: OutboxMessage) -> None:
            body = Message(encode_body(message), message_id=str(message.id),
                           delivery_mode=DeliveryMode.PERSISTENT, content_type=CONTENT_TYPE,
                           type=message.event_type, timestamp=message.created_at,
                           app_id="pgkeel", headers=dict(headers_for(message)))
            try:
                await exchange.publish(body, self._routing_key(message),
                                       mandatory=self.mandatory, timeout=self.timeout_s)
            except TimeoutError as exc:
                raise PublishFailed(
                    f"No publisher confirm within {self.timeout_s} s.",
                    details={"event_id": str(message.id), "reason": "timeout"}) from exc
            except Exception as exc:
                raise PublishFailed(
                    f"RabbitMQ did not accept the message: {exc}",
                    details={"event_id": str(message.id), "reason": _reason(exc)}) from exc

        return await gather_results([one(message) for message in messages])

    async def close(self) -> None:
        """Close the channel and connection (a later publish opens them again)."""
        connection, self._connection = self._connection, None
        self._channel = self._exchange = None
        if connection is not None and not connection.is_closed:
            await connection.close()


URL_OPTIONS = ("exchange", "exchange_type", "declare_exchange", "mandatory", "timeout_s")


def sink_from_url(url: str, settings: Settings | None = None) -> RabbitMqSink:
    """The sink `OUTBOX_SINK_URL=amqp://user:pass@host:5672/vhost?exchange=...` names.

    Query options: exchange, exchange_type, declare_exchange, mandatory, timeout_s (the rest
    of the URL, e.g. `heartbeat`, goes to aio-pika as it is)."""
    broker, options = split_options(url, URL_OPTIONS)
    return RabbitMqSink(
        broker, exchange=options.get("exchange", DEFAULT_EXCHANGE),
        exchange_type=options.get("exchange_type", "topic"),
        declare_exchange=url_flag(options, "declare_exchange", True),
        mandatory=url_flag(options, "mandatory", True),
        timeout_s=url_float(options, "timeout_s", 5.0))


def _event_type(message: OutboxMessage) -> str:
    return message.event_type


def _reason(exc: BaseException) -> str:
    """`unroutable` for a mandatory message no queue took, `nack` for a refusal."""
    from aio_pika.exceptions import DeliveryError, PublishError

    if isinstance(exc, PublishError):
        return "unroutable"
    if isinstance(exc, DeliveryError):
        return "nack"
    return "error"


def _safe(url: str) -> str:
    """The URL without its password."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"
