"""Idempotency keys: a retried request never runs twice, and gets the first answer back.

Public API:
    install, SCHEMA, MIGRATIONS     the library migration set, schema `idempotency` (`.schema`)
    IdempotencyStore                claim a key, store the response in the route's
                                    transaction, replay it (`.store`)
    Claim, StoredResponse, KeyRecord    what the store hands out
    parse_key, fingerprint, canonical_json   the key's format and the request fingerprint
                                    (`.keys`)
    reap, stats, ReapReport, KeyStats   housekeeping (`.reaper`)

FastAPI routes opt in through `pgkeel.web`: `IdempotentRoute`, `idempotent()`, and the
`IdempotencyKey` / `IdempotencyKeyRequired` dependencies (see docs/idempotency.md).
"""

from pgkeel.idempotency.keys import DEFAULT_MAX_KEY_LENGTH, canonical_json, fingerprint, parse_key
from pgkeel.idempotency.reaper import KeyStats, ReapReport, reap, stats
from pgkeel.idempotency.schema import MIGRATIONS, SCHEMA, install
from pgkeel.idempotency.store import Claim, IdempotencyStore, KeyRecord, StoredResponse

__all__ = [
    "DEFAULT_MAX_KEY_LENGTH",
    "MIGRATIONS",
    "SCHEMA",
    "Claim",
    "IdempotencyStore",
    "KeyRecord",
    "KeyStats",
    "ReapReport",
    "StoredResponse",
    "canonical_json",
    "fingerprint",
    "install",
    "parse_key",
    "reap",
    "stats",
]
