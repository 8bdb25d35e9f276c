"""schemathesis hooks for test_fuzz.py (loaded through SCHEMATHESIS_HOOKS): in positive
cases the fuzzer behaves as a correct client on the two rules OpenAPI cannot state.

Idempotency keys.
The fuzzer draws few distinct Idempotency-Key values, so it would send one key with different
bodies -- which the service rightly refuses with 422 `idempotency_key_reused`, and which
"schema-valid request rejected" would report. A correct client never does that: in positive
cases the key is replaced with a fresh UUID, as a client makes one per operation. Negative
cases keep their generated (malformed) keys, so the 400s are still exercised; key reuse itself
is tested in tests/pgkeel_apps/identity/test_idempotency.py.

Passwords. The password policy (NIST SP 800-63B: no common or breached password, none that
contains the account's name) is refused with 422 `rule_violation`; a schema cannot list the
breached passwords. A positive case's password that the policy refuses is replaced by a long
random one; the policy itself is tested in tests/security.
"""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis

from pgkeel.security.hygiene import password_problems

PASSWORD_FIELDS = ("password", "newPassword")


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    headers = case.headers or {}
    key = next((name for name in headers if name.lower() == "idempotency-key"), None)
    if key is not None:
        headers[key] = str(uuid.uuid4())
    body = case.body if isinstance(case.body, dict) else {}
    for field in PASSWORD_FIELDS:
        value = body.get(field)
        if isinstance(value, str) and password_problems(value, context=_names(body)):
            body[field] = f"fuzz {uuid.uuid4().hex} passphrase"


def _names(body: dict[str, Any]) -> list[str]:
    email = body.get("email")
    return [email.partition("@")[0]] if isinstance(email, str) else []
