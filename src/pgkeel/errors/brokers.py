"""Errors of the outbox's broker sinks (NATS JetStream, RabbitMQ)."""

from __future__ import annotations

from pgkeel.errors.outbox import OutboxError

__all__ = ["BrokerUnavailable", "PublishFailed"]


class BrokerUnavailable(OutboxError):
    """The message broker did not answer (refused, timed out or dropped the connection)."""

    code = "broker_unavailable"


class PublishFailed(OutboxError):
    """The broker did not acknowledge an outbox message (refused, unroutable or timed out)."""

    code = "publish_failed"
