"""Errors of the audit log (`pgkeel.audit`, `pgkeel audit`)."""

from __future__ import annotations

from typing import ClassVar

from pgkeel.errors.base import PgkeelError

__all__ = [
    "AuditError",
    "AuditNotInstalled",
    "AuditEventInvalid",
    "AuditQueueFull",
    "AuditAppenderClosed",
    "AuditChainBroken",
    "AuditCheckpointInvalid",
]


class AuditError(PgkeelError):
    """The audit log could not do what was asked."""

    code = "audit_error"


class AuditNotInstalled(AuditError):
    """The audit schema is not installed in this database."""

    code = "audit_not_installed"


class AuditEventInvalid(AuditError):
    """This audit event cannot be stored."""

    code = "audit_event_invalid"
    http_status: ClassVar[int] = 422


class AuditQueueFull(AuditError):
    """The audit appender's queue is full."""

    code = "audit_queue_full"
    http_status: ClassVar[int] = 503


class AuditAppenderClosed(AuditError):
    """The audit appender is closed (or was never started)."""

    code = "audit_appender_closed"
    http_status: ClassVar[int] = 503


class AuditChainBroken(AuditError):
    """Audit verification found edited, deleted or inserted rows."""

    code = "audit_chain_broken"


class AuditCheckpointInvalid(AuditError):
    """The audit checkpoint is malformed or its signature does not match."""

    code = "audit_checkpoint_invalid"
