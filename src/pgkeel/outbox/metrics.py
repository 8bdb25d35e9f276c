"""Prometheus metrics of the outbox, on pgkeel's own registry.

The backlog gauges are refreshed by every running relay (`OUTBOX_METRICS_INTERVAL_S`); alert on
`pgkeel_outbox_oldest_pending_age_seconds` rising and on any increase of
`pgkeel_outbox_dead_lettered_total`.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from pgkeel.observe.metrics import REGISTRY

__all__ = ["BATCH_SECONDS", "DEAD", "OLDEST_PENDING", "PENDING", "PUBLISHED",
           "RETRIED"]

PUBLISHED = Counter("pgkeel_outbox_published", "Outbox events the sink acknowledged.",
                    ["sink"], registry=REGISTRY)
RETRIED = Counter("pgkeel_outbox_retried",
                  "Failed publish attempts that were scheduled for a retry.", ["sink"],
                  registry=REGISTRY)
DEAD = Counter("pgkeel_outbox_dead_lettered",
               "Outbox events moved to the dead letter state (out of attempts).", ["sink"],
               registry=REGISTRY)
PENDING = Gauge("pgkeel_outbox_pending", "Outbox events not yet published (pending or claimed).",
                registry=REGISTRY)
OLDEST_PENDING = Gauge("pgkeel_outbox_oldest_pending_age_seconds",
                       "Age of the oldest outbox event not yet published.", registry=REGISTRY)
BATCH_SECONDS = Histogram("pgkeel_outbox_batch_duration_seconds",
                          "Time to claim, publish and mark one batch.", ["sink"],
                          registry=REGISTRY)
