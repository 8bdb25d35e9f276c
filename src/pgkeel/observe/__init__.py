"""Observability: Prometheus metrics, the slow-query log, OpenTelemetry spans (`.tracing`,
the `otel` extra: `tracing.enable()`)."""

from pgkeel.observe import tracing
from pgkeel.observe.metrics import (
    REGISTRY,
    REPO_DURATION,
    REPO_ERRORS,
    REPO_SLOW,
    TX_RETRIES,
    render_latest,
    track_database,
)
from pgkeel.observe.querylog import QueryObserver, SlowQuery

__all__ = ["REGISTRY", "REPO_DURATION", "REPO_ERRORS", "REPO_SLOW", "TX_RETRIES",
           "QueryObserver", "SlowQuery", "render_latest", "track_database", "tracing"]
