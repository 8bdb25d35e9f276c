"""`verify`: recompute every organization's hash chain and report what does not add up.

Each audit row has a chain position (`audit.chain`): seq, prev_hash and
hash = sha256(prev_hash || canonical(row, seq)), where rows chained since event ids exist
(format 2) hash their event id too. The canonical text is rebuilt here, in
Python, from the row's columns and hashed with hashlib -- not with the database's functions --
so a tampered database function cannot vouch for tampered rows. What is found:

- edited:      a row's content no longer matches its hash;
- deleted:     a chain position whose row is gone, a gap in the positions, or positions
               missing at the end (before the newest transaction's first position, or
               before a checkpointed one);
- inserted:    a row without a chain position (written with triggers disabled), or a second
               row claiming a position that is taken;
- broken_link: a position whose prev_hash is not the previous position's hash (a rewritten
               chain);
- checkpoint:  the hash at a checkpointed position differs from the exported one (the chain
               was recomputed after the checkpoint).

Positions removed by retention (`prune`) are not findings: each organization's anchor
records where its chain now starts and which positions above it were pruned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from typing import Any, Literal, LiteralString

from psycopg.rows import dict_row

from pgkeel.audit.checkpoint import CHAIN_ORGANIZATIONS, Checkpoint
from pgkeel.audit.events import PLATFORM_ORG
from pgkeel.db import Database, Isolation, Transaction

__all__ = ["Finding", "FindingKind", "VerifyReport", "canonical", "row_hash", "verify"]

FindingKind = Literal["edited", "deleted", "inserted", "broken_link", "checkpoint"]

GENESIS = bytes(32)

# Two constants joined: no runtime text reaches the SQL.
ORGANIZATIONS: LiteralString = CHAIN_ORGANIZATIONS + """
SELECT organization_id FROM orgs WHERE organization_id IS NOT NULL
UNION SELECT DISTINCT organization_id FROM audit.chain_links
UNION SELECT organization_id FROM audit.chain_anchors
ORDER BY 1"""  # noqa: S608

ANCHOR: LiteralString = (
    "SELECT seq, hash, gaps FROM audit.chain_anchors WHERE organization_id = %s")
# The newest claim "extended the chain from prev_seq": position prev_seq + 1 must exist.
LAST_LINK: LiteralString = (
    "SELECT max(prev_seq) + 1 AS seq FROM audit.chain_links WHERE organization_id = %s")

CHAIN_ROWS: LiteralString = """
SELECT c.seq, c.prev_hash, c.hash, c.audit_id, c.format, a.id, a.organization_id, a.actor_id,
       a.action, a.entity_type, a.entity_id, a.old_values::text AS old_text,
       a.new_values::text AS new_text, to_jsonb(a.changed_fields)::text AS changed_text,
       a.metadata::text AS metadata_text, a.request_id, a.txid, a.created_at, a.event_id
FROM audit.chain AS c
LEFT JOIN audit.audit_log AS a ON a.id = c.audit_id AND a.created_at = c.created_at
WHERE c.organization_id = %s
ORDER BY c.seq, c.chained_at, c.audit_id"""

UNCHAINED_IN_ORG: LiteralString = """
SELECT a.id, a.organization_id
FROM audit.audit_log AS a
WHERE a.organization_id = %(org)s
  AND NOT EXISTS (SELECT FROM audit.chain AS c WHERE c.organization_id = %(org)s
                  AND c.audit_id = a.id AND c.created_at = a.created_at)
ORDER BY a.id"""

# Platform events are stored with the sentinel organization (NULL before it existed) and
# chained in organization ''.
UNCHAINED_WITHOUT_ORG: LiteralString = """
SELECT a.id, '' AS organization_id
FROM audit.audit_log AS a
WHERE (a.organization_id IS NULL OR a.organization_id IN ('', %(platform)s))
  AND NOT EXISTS (SELECT FROM audit.chain AS c WHERE c.organization_id = ''
                  AND c.audit_id = a.id AND c.created_at = a.created_at)
ORDER BY a.id"""

UNCHAINED_ALL: LiteralString = """
SELECT a.id, coalesce(nullif(a.organization_id, %(platform)s), '') AS organization_id
FROM audit.audit_log AS a
WHERE NOT EXISTS (SELECT FROM audit.chain AS c
                  WHERE c.organization_id = coalesce(nullif(a.organization_id, %(platform)s), '')
                    AND c.audit_id = a.id AND c.created_at = a.created_at)
ORDER BY 2, 1"""


@dataclass(frozen=True)
class Finding:
    """One thing verification found; `seq_to` is set for a range of missing positions."""

    kind: FindingKind
    organization_id: str
    detail: str
    audit_id: int | None = None
    seq: int | None = None
    seq_to: int | None = None

    def __str__(self) -> str:
        where = f"org {self.organization_id!r}"
        if self.seq is not None:
            where += f" seq {self.seq}" + (f"-{self.seq_to}" if self.seq_to else "")
        if self.audit_id is not None:
            where += f" id {self.audit_id}"
        return f"{self.kind}: {where}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class VerifyReport:
    """The outcome of `verify`: ok when nothing was found."""

    organizations: int = 0
    rows: int = 0
    findings: list[Finding] = field(default_factory=list)
    checkpoint_heads: int = 0
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def ok(self) -> bool:
        return not self.findings

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = {}
        for finding in self.findings:
            result[finding.kind] = result.get(finding.kind, 0) + 1
        return result

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "organizations": self.organizations, "rows": self.rows,
                "checkpoint_heads": self.checkpoint_heads, "counts": self.counts(),
                "findings": [f.to_dict() for f in self.findings],
                "checked_at": self.checked_at.isoformat()}


def _field(value: str | None) -> bytes:
    if value is None:
        return b"-"
    data = value.encode()
    return str(len(data)).encode() + b":" + data


def canonical(row: dict[str, Any], seq: int, format: int = 1) -> bytes:
    """The canonical bytes of an audit row at position `seq` (the same text as the SQL
    function `audit.canonical_text`, followed in format 2 by the event id). jsonb columns are
    taken as PostgreSQL's jsonb text (`old_text`, `new_text`, `changed_text`,
    `metadata_text`). A platform event's organization (`PLATFORM_ORG`) is hashed as NULL,
    as it was stored before the sentinel existed."""
    created: datetime = row["created_at"]
    org = row["organization_id"]
    values: tuple[str | None, ...] = (
              str(row["id"]), None if org == PLATFORM_ORG else org, row["actor_id"],
              row["action"],
              row["entity_type"], row["entity_id"], row["old_text"], row["new_text"],
              row["changed_text"], row["metadata_text"], row["request_id"],
              None if row["txid"] is None else str(row["txid"]),
              created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f"), str(seq))
    if format >= 2:
        event_id = row["event_id"]
        values += (None if event_id is None else str(event_id),)
    return b"".join(_field(v) for v in values)


def row_hash(prev_hash: bytes, row: dict[str, Any], seq: int, format: int = 1) -> bytes:
    """sha256(prev_hash || canonical(row, seq, format))."""
    return hashlib.sha256(prev_hash + canonical(row, seq, format)).digest()


def _missing_runs(start: int, stop: int, pruned: set[int]) -> Iterator[tuple[int, int]]:
    """Runs of positions in [start, stop) that are not explained by pruning."""
    explained = sorted(p for p in pruned if start <= p < stop)
    cursor = start
    for position in [*explained, stop]:
        if position > cursor:
            yield cursor, position - 1
        cursor = position + 1


class _Walk:
    """Verification of one organization's chain, fed rows in position order."""

    def __init__(self, org: str, anchor: dict[str, Any] | None, report: VerifyReport,
                 watch: set[int]) -> None:
        self.org = org
        self.report = report
        self.anchor_seq = anchor["seq"] if anchor else 0
        self.pruned: set[int] = set(anchor["gaps"]) if anchor else set()
        self.prev: bytes | None = bytes(anchor["hash"]) if anchor else GENESIS
        self.expected = self.anchor_seq + 1
        self.last_seq = self.anchor_seq
        self.watch = watch
        self.seen: dict[int, bytes] = {}

    def add(self, kind: FindingKind, detail: str, **where: Any) -> None:
        self.report.findings.append(Finding(kind, self.org, detail, **where))

    def position(self, seq: int, rows: list[dict[str, Any]]) -> None:
        self.report.rows += len(rows)
        if seq <= self.anchor_seq:
            for row in rows:
                self.add("inserted", "position at or below the chain's start (anchor)",
                         audit_id=row["audit_id"], seq=seq)
            return
        if seq > self.expected:
            for first, last in _missing_runs(self.expected, seq, self.pruned):
                self.add("deleted", "chain positions missing", seq=first,
                         seq_to=last if last != first else None)
            self.prev = None  # the link across the gap cannot be checked
        genuine = self._genuine(seq, rows)
        for row in rows:
            if row is not genuine:
                self.add("inserted", "a second row claims this chain position",
                         audit_id=row["audit_id"] if row["id"] is None else row["id"], seq=seq)
        self._check(seq, genuine)
        self.prev = bytes(genuine["hash"])
        self.expected = seq + 1
        self.last_seq = seq
        if seq in self.watch:
            self.seen[seq] = self.prev

    def _genuine(self, seq: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
        if len(rows) == 1:
            return rows[0]
        for row in rows:
            linked = self.prev is None or bytes(row["prev_hash"]) == self.prev
            if linked and row["id"] is not None and \
                    row_hash(bytes(row["prev_hash"]), row, seq,
                             row["format"]) == bytes(row["hash"]):
                return row
        return rows[0]

    def _check(self, seq: int, row: dict[str, Any]) -> None:
        if self.prev is not None and bytes(row["prev_hash"]) != self.prev:
            self.add("broken_link", "prev_hash is not the hash of the previous position "
                     "(the chain was rewritten here or just before)",
                     audit_id=row["audit_id"], seq=seq)
        if row["id"] is None:
            self.add("deleted", "the audit row of this chain position is gone",
                     audit_id=row["audit_id"], seq=seq)
        elif row_hash(bytes(row["prev_hash"]), row, seq, row["format"]) != bytes(row["hash"]):
            self.add("edited", "the row's content does not match its hash",
                     audit_id=row["id"], seq=seq)

    def finish(self, must_reach: int | None) -> None:
        """The newest transaction that extended the chain wrote position `must_reach`."""
        if must_reach is None or must_reach <= self.last_seq:
            return
        for first, last in _missing_runs(self.last_seq + 1, must_reach + 1, self.pruned):
            self.add("deleted", "positions missing at the end of the chain (truncated)",
                     seq=first, seq_to=last if last != first else None)


async def _verify_org(tx: Transaction, org: str, report: VerifyReport,
                      checkpoint: Checkpoint | None) -> None:
    anchor = await tx.fetch_one(ANCHOR, (org,), row_factory=dict_row)
    head = await tx.fetch_one(LAST_LINK, (org,), row_factory=dict_row)
    expected = checkpoint.heads.get(org) if checkpoint else None
    walk = _Walk(org, anchor, report, {expected.seq} if expected else set())
    cursor = tx.connection.cursor(name="pgkeel_audit_verify", row_factory=dict_row)
    cursor.itersize = 5_000
    try:
        await cursor.execute(CHAIN_ROWS, (org,))
        batch: list[dict[str, Any]] = []
        async for row in cursor:
            batch.append(row)
            if len(batch) >= 5_000:
                batch = _feed(walk, batch)
        _feed(walk, batch, final=True)
    finally:
        await cursor.close()
    walk.finish(None if head is None else head["seq"])
    if expected is not None:
        _check_checkpoint(walk, expected.seq, expected.hash)


def _feed(walk: _Walk, rows: list[dict[str, Any]], *, final: bool = False
          ) -> list[dict[str, Any]]:
    """Hand complete position groups to the walk; keep the last group unless final."""
    groups = [(seq, list(group)) for seq, group in groupby(rows, key=lambda r: r["seq"])]
    keep: list[dict[str, Any]] = []
    if groups and not final:
        keep = groups.pop()[1]
    for seq, group in groups:
        walk.position(seq, group)
    return keep


def _check_checkpoint(walk: _Walk, seq: int, expected_hash: bytes) -> None:
    if seq <= walk.anchor_seq:
        return  # pruned since the checkpoint was taken
    found = walk.seen.get(seq)
    if found is None:
        if seq > walk.last_seq:
            walk.add("deleted", f"the chain ends at {walk.last_seq}, before the checkpointed "
                     f"position {seq}", seq=walk.last_seq + 1, seq_to=seq)
        elif seq not in walk.pruned:
            walk.add("checkpoint", "the checkpointed position is missing", seq=seq)
    elif found != expected_hash:
        walk.add("checkpoint", "the hash at the checkpointed position differs from the "
                 "exported one: history up to here was rewritten", seq=seq)


async def verify(db: Database, *, org_id: Any = None,
                 checkpoint: Checkpoint | None = None) -> VerifyReport:
    """Verify one organization's chain (`org_id`; '' for rows without one) or all of them,
    in one consistent snapshot; with a checkpoint, also check the exported heads."""
    report = VerifyReport()
    org = None if org_id is None else str(org_id)
    if org == PLATFORM_ORG:
        org = ""  # platform events are chained as organization ''
    async with db.transaction(isolation=Isolation.REPEATABLE_READ, readonly=True,
                              timeout=0) as tx:
        if org is None:
            found = await tx.fetch_all(ORGANIZATIONS, row_factory=dict_row)
            orgs = [r["organization_id"] for r in found]
            if checkpoint:
                orgs = sorted(set(orgs) | set(checkpoint.heads))
            unchained = await tx.fetch_all(UNCHAINED_ALL, {"platform": PLATFORM_ORG},
                                           row_factory=dict_row)
        else:
            orgs = [org]
            query = UNCHAINED_WITHOUT_ORG if org == "" else UNCHAINED_IN_ORG
            unchained = await tx.fetch_all(query, {"org": org, "platform": PLATFORM_ORG},
                                           row_factory=dict_row)
        for name in orgs:
            await _verify_org(tx, name, report, checkpoint)
        report.organizations = len(set(orgs) | {r["organization_id"] for r in unchained})
        report.rows += len(unchained)
        for row in unchained:
            report.findings.append(Finding(
                "inserted", row["organization_id"], "the row has no chain position (written "
                "with triggers disabled, or inserted around the chain)", audit_id=row["id"]))
    if checkpoint is not None:
        report.checkpoint_heads = len(checkpoint.heads if org is None else
                                      [o for o in checkpoint.heads if o == org])
    return report

