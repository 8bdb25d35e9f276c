"""Checkpoints: each organization's chain head, exported outside the database.

A chain inside the database only proves that rows were not changed *without recomputing the
hashes after them*. Someone who can write the database can recompute them. A checkpoint --
(organization, position, hash) of every chain head, taken periodically and kept elsewhere
(a file in object storage, a ticket, a log) -- closes that: `verify --checkpoint FILE` checks
that the chain still holds exactly those hashes at those positions, so history before a
checkpoint cannot be rewritten unnoticed. With AUDIT_CHECKPOINT_KEY set the file is signed
(HMAC-SHA256), so the file itself cannot be edited to match either.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, LiteralString

import orjson
from psycopg.rows import dict_row

from pgkeel.db import Database, Isolation
from pgkeel.errors import AuditCheckpointInvalid

__all__ = ["FORMAT", "Checkpoint", "Head", "take_checkpoint"]

FORMAT = "pgkeel-audit-checkpoint/1"

CHAIN_ORGANIZATIONS: LiteralString = """
WITH RECURSIVE orgs AS (
    (SELECT organization_id FROM audit.chain ORDER BY organization_id LIMIT 1)
    UNION ALL
    SELECT (SELECT c.organization_id FROM audit.chain AS c
            WHERE c.organization_id > orgs.organization_id
            ORDER BY c.organization_id LIMIT 1)
    FROM orgs WHERE orgs.organization_id IS NOT NULL
)
"""
"""Every organization with a chain, by a loose index scan (one probe per organization
instead of reading the whole chain); the CTE is named `orgs`."""

# Two constants joined: no runtime text reaches the SQL.
HEADS: LiteralString = CHAIN_ORGANIZATIONS + """
SELECT o.organization_id, last.seq, last.hash, current_database() AS database
FROM orgs AS o
CROSS JOIN LATERAL (SELECT c.seq, c.hash FROM audit.chain AS c
                    WHERE c.organization_id = o.organization_id
                    ORDER BY c.seq DESC LIMIT 1) AS last
WHERE o.organization_id IS NOT NULL
ORDER BY 1"""  # noqa: S608


@dataclass(frozen=True)
class Head:
    """The last chain position of one organization when the checkpoint was taken."""

    seq: int
    hash: bytes


@dataclass(frozen=True)
class Checkpoint:
    """Chain heads of every organization at one moment."""

    database: str
    taken_at: datetime
    heads: dict[str, Head] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "database": self.database,
            "taken_at": self.taken_at.isoformat(),
            "heads": {org: {"seq": head.seq, "hash": head.hash.hex()}
                      for org, head in sorted(self.heads.items())},
        }

    def to_json(self, key: bytes | None = None) -> bytes:
        """The checkpoint as JSON, signed with `key` when given."""
        data = self.payload()
        if key:
            data["signature"] = _sign(data, key)
        return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"

    def save(self, path: str | Path, key: bytes | None = None) -> None:
        Path(path).write_bytes(self.to_json(key))

    @classmethod
    def from_json(cls, data: bytes | str, key: bytes | None = None) -> Checkpoint:
        """Parse (and, with `key`, authenticate) a checkpoint; AuditCheckpointInvalid if it
        is malformed, unsigned when a key is given, or signed with another key."""
        try:
            raw = orjson.loads(data)
            if not isinstance(raw, dict) or raw.get("format") != FORMAT:
                raise ValueError("not a pgkeel audit checkpoint")
            signature = raw.pop("signature", None)
            heads = {str(org): Head(int(h["seq"]), bytes.fromhex(h["hash"]))
                     for org, h in raw["heads"].items()}
            checkpoint = cls(str(raw["database"]), datetime.fromisoformat(raw["taken_at"]),
                             heads)
        except (ValueError, KeyError, TypeError, AttributeError, orjson.JSONDecodeError) as exc:
            raise AuditCheckpointInvalid(f"The checkpoint is malformed: {exc}") from None
        if key is not None and not _signed_by(signature, checkpoint, key):
            raise AuditCheckpointInvalid(
                "The checkpoint's signature does not match.",
                hint="It was edited, unsigned, or signed with another AUDIT_CHECKPOINT_KEY.")
        return checkpoint

    @classmethod
    def load(cls, path: str | Path, key: bytes | None = None) -> Checkpoint:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise AuditCheckpointInvalid(f"Cannot read {path}: {exc.strerror}") from None
        return cls.from_json(data, key)


def _signed_by(signature: Any, checkpoint: Checkpoint, key: bytes) -> bool:
    return isinstance(signature, str) and \
        hmac.compare_digest(signature, _sign(checkpoint.payload(), key))


def _sign(payload: dict[str, Any], key: bytes) -> str:
    body = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    return hmac.new(key, body, hashlib.sha256).hexdigest()


async def take_checkpoint(db: Database) -> Checkpoint:
    """Every organization's last chain position and hash, from one consistent snapshot."""
    async with db.transaction(isolation=Isolation.REPEATABLE_READ, readonly=True,
                              timeout=0) as tx:
        rows = await tx.fetch_all(HEADS, row_factory=dict_row)
        database = rows[0]["database"] if rows else \
            await tx.fetch_val("SELECT current_database()")
    return Checkpoint(str(database), datetime.now(UTC),
                      {r["organization_id"]: Head(int(r["seq"]), bytes(r["hash"]))
                       for r in rows})
