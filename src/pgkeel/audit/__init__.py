"""The audit log: atomic, trigger-captured, non-blocking without loss, and tamper-evident.

Public API:
    AuditLog                      install, record, enable/disable, queries, prune, verify
                                  (`pgkeel.audit.log`)
    record                        write an audit row inside the caller's transaction
    AuditAppender, AppenderStats  non-blocking appends, batched COPY (`.appender`)
    audit_appender, AppenderDep   FastAPI lifespan hook and dependency (`.web`)
    AuditEvent                    one stored row (`.events`)
    PLATFORM_ORG                  how a platform event's organization is stored (read as None)
    AUDIT_LOG                     the table for `Repository(db, AUDIT_LOG).list(query)`:
                                  lists of events in the standard list grammar (`.table`)
    ActivitySummary, ActionCount, DailyCount    summaries (`.queries`)
    ALL_ORGANIZATIONS             explicit opt-in to read across organizations
    VerifyReport, Finding, Checkpoint, Head     tamper evidence (`.verify`, `.checkpoint`)
    Partition, PruneReport, TrackedTable        partitions, retention, capture
    SCHEMA, MIGRATIONS, install   the library migration set (`.schema`)
"""

from pgkeel.audit.appender import AppenderStats, AuditAppender
from pgkeel.audit.capture import TrackedTable
from pgkeel.audit.checkpoint import Checkpoint, Head
from pgkeel.audit.events import DEFAULT_REDACTED, PLATFORM_ORG, AuditEvent
from pgkeel.audit.log import AuditLog
from pgkeel.audit.partitions import Partition, PruneReport, parse_age
from pgkeel.audit.queries import (
    ALL_ORGANIZATIONS,
    ActionCount,
    ActivitySummary,
    DailyCount,
)
from pgkeel.audit.record import record
from pgkeel.audit.schema import MIGRATIONS, SCHEMA, install
from pgkeel.audit.table import AUDIT_LOG
from pgkeel.audit.verify import Finding, VerifyReport
from pgkeel.audit.web import AppenderDep, audit_appender

__all__ = [
    "ALL_ORGANIZATIONS",
    "AUDIT_LOG",
    "AuditLog",
    "record",
    "AuditAppender",
    "AppenderStats",
    "audit_appender",
    "AppenderDep",
    "AuditEvent",
    "PLATFORM_ORG",
    "ActivitySummary",
    "ActionCount",
    "DailyCount",
    "VerifyReport",
    "Finding",
    "Checkpoint",
    "Head",
    "Partition",
    "PruneReport",
    "TrackedTable",
    "DEFAULT_REDACTED",
    "SCHEMA",
    "MIGRATIONS",
    "install",
    "parse_age",
]
