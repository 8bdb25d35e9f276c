"""schemathesis hooks for test_fuzz.py (loaded through SCHEMATHESIS_HOOKS).

The fuzzer draws few distinct Idempotency-Key values, so it would send one key with different
bodies -- which the service rightly refuses with 422 `idempotency_key_reused`, and which
"schema-valid request rejected" would report. A correct client never does that: in positive
cases the key is replaced with a fresh UUID, as a client makes one per operation. Negative
cases keep their generated (malformed) keys, so the 400s are still exercised; key reuse itself
is tested in tests/pgkeel_apps/identity/test_idempotency.py.
"""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    headers = case.headers or {}
    key = next((name for name in headers if name.lower() == "idempotency-key"), None)
    meta = case.meta
    if key is None or meta is None or not meta.generation.mode.is_positive:
        return
    headers[key] = str(uuid.uuid4())
