"""Errors of the transactional outbox (`pgkeel.outbox`); the broker sinks' own errors, in
`brokers`, belong to the same subtree."""

from __future__ import annotations

from typing import ClassVar

from pgkeel.errors.base import PgkeelError

__all__ = [
    "OutboxError",
    "OutboxNotInstalled",
    "OutboxEventInvalid",
    "OutboxEventNotFound",
    "OutboxSinkError",
]


class OutboxError(PgkeelError):
    """The outbox could not do what was asked."""

    code = "outbox_error"


class OutboxNotInstalled(OutboxError):
    """The outbox schema is not installed in this database."""

    code = "outbox_not_installed"
    http_status: ClassVar[int] = 503


class OutboxEventInvalid(OutboxError):
    """This outbox event cannot be stored."""

    code = "outbox_event_invalid"
    http_status: ClassVar[int] = 422


class OutboxEventNotFound(OutboxError):
    """No such outbox event."""

    code = "outbox_event_not_found"
    http_status: ClassVar[int] = 404


class OutboxSinkError(OutboxError):
    """The outbox sink is misconfigured (no URL, or a scheme no sink handles)."""

    code = "outbox_sink_error"
