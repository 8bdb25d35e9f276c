"""Observability: Prometheus metrics (and, later, tracing and the slow-query log)."""

from pgkeel.observe.metrics import REGISTRY, TX_RETRIES, render_latest, track_database

__all__ = ["REGISTRY", "TX_RETRIES", "render_latest", "track_database"]
