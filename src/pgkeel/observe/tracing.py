"""OpenTelemetry spans (the `otel` extra), off until `enable()` is called.

    from pgkeel.observe import tracing
    tracing.enable()                 # the global tracer provider, or pass one

Then HTTP requests (`HttpMetricsMiddleware`), transactions (`pgkeel.transaction`; `run_in_tx`
as `pgkeel.run_in_tx` with each retry as an event), cache reads, writes and invalidations
(`pgkeel.cache.*`), outbox publishing and queries (`db.system=postgresql`, the statement's
text, never its parameter values) are spans, nested under whatever span is current.
Disabled, each hook is one `None` check.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from pgkeel.errors import MissingExtra

__all__ = ["disable", "enable", "enabled", "event", "record_query", "span"]

_tracer: Any = None


def enable(tracer_provider: Any = None) -> None:
    """Start emitting spans through `tracer_provider` (default: the global one)."""
    global _tracer  # noqa: PLW0603 -- one switch for the whole process
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise MissingExtra("OpenTelemetry is not installed.",
                           hint="pip install 'pgkeel[otel]'") from exc
    _tracer = trace.get_tracer("pgkeel", tracer_provider=tracer_provider)


def disable() -> None:
    """Stop emitting spans."""
    global _tracer  # noqa: PLW0603
    _tracer = None


def enabled() -> bool:
    return _tracer is not None


_NO_SPAN: AbstractContextManager[None] = nullcontext()
"""What `span` returns while tracing is off: reusable, and nothing to set up per call."""


def span(name: str, attributes: dict[str, Any] | None = None) -> AbstractContextManager[Any]:
    """A current span around the block (None when tracing is off)."""
    if _tracer is None:
        return _NO_SPAN
    result: AbstractContextManager[Any] = _tracer.start_as_current_span(
        name, attributes=attributes or {})
    return result


def event(name: str, attributes: dict[str, Any] | None = None) -> None:
    """An event on the current span (nothing when tracing is off)."""
    if _tracer is None:
        return
    from opentelemetry import trace

    trace.get_current_span().add_event(name, attributes or {})


def _statement(query: Any) -> str:
    if isinstance(query, bytes):
        return query.decode(errors="replace")
    as_string = getattr(query, "as_string", None)
    if callable(as_string):
        try:
            return str(as_string(None))
        except Exception:
            return repr(query)
    return str(query)


def record_query(query: Any, duration_s: float, error: str | None, pool: str) -> None:
    """A finished statement as a span ending now (its parameter values are never added)."""
    if _tracer is None:
        return
    end = time.time_ns()
    statement = _statement(query)
    attributes = {"db.system": "postgresql", "db.statement": statement,
                  "db.operation": statement.split(None, 1)[0].upper() if statement else "",
                  "pgkeel.pool": pool}
    if error:
        attributes["error.type"] = error
    current = _tracer.start_span(f"db {attributes['db.operation']}".strip(),
                                 start_time=end - int(duration_s * 1e9), attributes=attributes)
    current.end(end_time=end)
