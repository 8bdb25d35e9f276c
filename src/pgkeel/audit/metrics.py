"""Prometheus metrics of the non-blocking audit appender, on pgkeel's own registry.

`pgkeel_audit_dropped_total` counts events the appender gave up on; every one is also logged
at ERROR. It stays 0 unless the database refused an event outright or stayed unreachable for
the whole shutdown timeout -- alert on any increase.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from pgkeel.observe.metrics import REGISTRY

__all__ = ["DROPPED", "FLUSHED", "FLUSH_ERRORS", "FLUSH_SECONDS", "QUEUED", "QUEUE_DEPTH"]

QUEUED = Counter("pgkeel_audit_queued", "Audit events accepted by the appender.",
                 registry=REGISTRY)
FLUSHED = Counter("pgkeel_audit_flushed", "Audit events the appender wrote and committed.",
                  registry=REGISTRY)
DROPPED = Counter("pgkeel_audit_dropped", "Audit events the appender gave up on (each logged).",
                  registry=REGISTRY)
FLUSH_ERRORS = Counter("pgkeel_audit_flush_errors",
                       "Failed batch writes (the batch is retried, not dropped).",
                       registry=REGISTRY)
QUEUE_DEPTH = Gauge("pgkeel_audit_queue_depth", "Audit events waiting to be written.",
                    registry=REGISTRY)
FLUSH_SECONDS = Histogram("pgkeel_audit_flush_duration_seconds",
                          "Time to write and commit one batch of audit events.",
                          registry=REGISTRY)
