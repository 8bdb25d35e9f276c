"""From files + history rows to states, drift and plans (pure: no I/O).

Each version's state comes from its latest history row that changed something: a success,
or a failure of a file run outside a transaction after some of its statements succeeded.
A failure that left nothing behind is remembered for display but does not change the state.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from pgkeel.errors import IrreversibleMigration, MigrationDrift, MigrationError, OutOfOrder
from pgkeel.migrate.history import HistoryRow, RowType
from pgkeel.migrate.loader import CHECKSUM_ALGO, MigrationFile, MigrationSet
from pgkeel.migrate.versions import Version

__all__ = ["Analysis", "DriftIssue", "Plan", "State", "StatusEntry", "Step", "analyze",
           "plan_down", "plan_up"]


class State(StrEnum):
    APPLIED = "applied"
    PENDING = "pending"
    FAILED = "failed"
    MISSING = "missing"                  # applied, but the file is gone
    CHECKSUM_MISMATCH = "checksum_mismatch"  # the file changed after it was applied
    OUT_OF_ORDER = "out_of_order"        # pending, yet older than an applied version
    UNDONE = "undone"                    # undone by `down`; `up` applies it again
    BASELINE = "baseline"                # the baseline marker
    BELOW_BASELINE = "below_baseline"    # covered by the baseline, never run
    OUTDATED = "outdated"                # a repeatable whose file changed: `up` re-applies it


@dataclass(frozen=True)
class StatusEntry:
    """One line of `status`."""

    type: str
    version: str | None
    description: str
    script: str | None
    state: State
    installed_on: datetime | None = None
    execution_ms: int | None = None
    statements_applied: int | None = None
    statements_total: int | None = None
    undo: bool = False
    error: str | None = None


@dataclass(frozen=True)
class DriftIssue:
    """Something `validate` reports: which file, and why."""

    kind: str
    script: str | None
    version: str | None
    message: str


@dataclass(frozen=True)
class Step:
    """One file to run, and where to start in it."""

    file: MigrationFile
    row_type: RowType
    resume_from: int = 0


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    skipped_repeatables: bool = False


@dataclass
class _Record:
    effective: HistoryRow | None = None
    failure: HistoryRow | None = None


@dataclass
class Analysis:
    """Everything derived from one (files, history) pair."""

    entries: list[StatusEntry]
    issues: list[DriftIssue]
    records: dict[Version, _Record]
    repeatables: dict[str, _Record]
    baseline: Version | None
    highest_applied: Version | None
    allow_out_of_order: bool = False
    last_undo_rank: int = 0


def _records(rows: list[HistoryRow]) -> tuple[dict[Version, _Record], dict[str, _Record],
                                              Version | None]:
    versions: dict[Version, _Record] = {}
    repeatables: dict[str, _Record] = {}
    baseline: Version | None = None
    for row in rows:
        if row.type is RowType.BASELINE and row.version is not None:
            baseline = row.version
            continue
        if row.type is RowType.REPEATABLE:
            record = repeatables.setdefault(row.script, _Record())
        elif row.type in (RowType.SQL, RowType.UNDO, RowType.DELETE) and row.version is not None:
            record = versions.setdefault(row.version, _Record())
        else:
            continue
        if row.changed_something:
            record.effective, record.failure = row, None if row.success else row
        else:
            record.failure = row
    return versions, repeatables, baseline


def _is_applied(record: _Record | None) -> bool:
    """True when the version's latest effective row is a successful apply."""
    row = record.effective if record else None
    return row is not None and row.type is RowType.SQL and row.success


def _counts_as_run(record: _Record) -> bool:
    """Applied, or partly applied: what makes a lower pending version out of order."""
    row = record.effective
    return row is not None and row.type is RowType.SQL


def analyze(files: MigrationSet, rows: list[HistoryRow], *,
            allow_out_of_order: bool = False) -> Analysis:
    """States of every file and applied version, and the drift among them."""
    records, repeatables, baseline = _records(rows)
    run = [v for v, r in records.items() if _counts_as_run(r)]
    highest = max([*run, *([baseline] if baseline else [])], default=None)
    undos = [r.installed_rank for r in rows if r.type is RowType.UNDO and r.success]
    result = Analysis([], [], records, repeatables, baseline, highest, allow_out_of_order,
                      max(undos, default=0))
    by_version = files.by_version()
    if baseline is not None:
        marker = next(r for r in reversed(rows) if r.type is RowType.BASELINE)
        result.entries.append(replace(
            _entry("baseline", baseline, marker.description, None, marker),
            state=State.BASELINE))
    for version in sorted(set(by_version) | set(records)):
        entry, issue = _versioned(version, by_version.get(version),
                                  records.get(version, _Record()), files, result)
        if entry is not None:
            result.entries.append(entry)
        if issue is not None:
            result.issues.append(issue)
    scripts = {f.script: f for f in files.repeatable}
    for script in sorted(set(scripts) | set(repeatables)):
        result.entries.append(_repeatable(script, scripts.get(script), repeatables.get(script),
                                          result.last_undo_rank))
    return result


def _entry(type_: str, version: Version | None, description: str, script: str | None,
           shown: HistoryRow | None, *, undo: bool = False) -> StatusEntry:
    """A status entry (state still to be set) showing `shown`, the latest relevant row."""
    entry = StatusEntry(type_, None if version is None else str(version), description, script,
                        State.PENDING, undo=undo)
    if shown is None:
        return entry
    return replace(entry, installed_on=shown.installed_on, execution_ms=shown.execution_ms,
                   statements_applied=shown.statements_applied,
                   statements_total=shown.statements_total, error=shown.error)


def _versioned(version: Version, file: MigrationFile | None, record: _Record,
               files: MigrationSet, context: Analysis) -> tuple[StatusEntry | None,
                                                                 DriftIssue | None]:
    row, failure = record.effective, record.failure
    shown = failure or row
    script = file.script if file else (shown.script if shown else None)
    description = file.description if file else (shown.description if shown else "")
    entry = _entry("versioned", version, description, script, shown,
                   undo=version in files.undo)
    if file is None:
        gone = row is None or row.type is RowType.DELETE or (row.type is RowType.UNDO
                                                              and row.success)
        if gone:
            return None, None
        return (replace(entry, state=State.MISSING),
                DriftIssue("missing", script, str(version), f"version {version} ({script}) "
                           "was applied, but its file is gone"))
    state, problem = _version_state(version, file, record, context)
    kind = {State.FAILED: "failed", State.CHECKSUM_MISMATCH: "checksum_mismatch",
            State.OUT_OF_ORDER: "out_of_order"}.get(state, "")
    issue = DriftIssue(kind, script, str(version), problem) if problem else None
    return replace(entry, state=state), issue


def _version_state(version: Version, file: MigrationFile, record: _Record,
                   context: Analysis) -> tuple[State, str | None]:
    """The state of a version that has a file, and the drift message if it is drift."""
    row, failure = record.effective, record.failure
    state, problem = State.PENDING, None
    if row is not None and not row.success:
        what = "undo" if row.type is RowType.UNDO else "migration"
        state = State.FAILED
        problem = (f"{file.script}: the {what} stopped after {row.statements_applied} of "
                   f"{row.statements_total} statements: {row.error}")
    elif _is_applied(record):
        assert row is not None
        state = State.APPLIED
        if row.checksum != file.checksum or row.checksum_algo != CHECKSUM_ALGO:
            state = State.CHECKSUM_MISMATCH
            problem = (f"{file.script} was edited after it was applied (checksum "
                       f"{(row.checksum or '')[:12]} in the history, {file.checksum[:12]} "
                       "on disk)")
    elif failure is not None:
        state = State.FAILED
        problem = f"{file.script} failed (nothing of it was kept): {failure.error}"
    elif context.baseline is not None and version <= context.baseline:
        state = State.BELOW_BASELINE
    elif row is not None and row.type is RowType.UNDO:
        state = State.UNDONE
    elif context.highest_applied is not None and version < context.highest_applied:
        state = State.OUT_OF_ORDER
        if not (context.allow_out_of_order or file.options.out_of_order):
            problem = (f"{file.script} is pending but older than applied version "
                       f"{context.highest_applied}")
    return state, problem


def _repeatable(script: str, file: MigrationFile | None, record: _Record | None,
                last_undo_rank: int) -> StatusEntry:
    """A repeatable is outdated when its file changed, or when a `down` ran after it was
    last applied (the undo may have dropped what it created)."""
    row = record.effective if record else None
    failure = record.failure if record else None
    shown = failure or row
    description = file.description if file else (shown.description if shown else "")
    entry = _entry("repeatable", None, description, script, shown)
    if file is None:
        state = State.MISSING
    elif failure is not None or (row is not None and not row.success):
        state = State.FAILED
    elif row is None:
        state = State.PENDING
    elif row.checksum != file.checksum or row.installed_rank < last_undo_rank:
        state = State.OUTDATED
    else:
        state = State.APPLIED
    return replace(entry, state=state)


def _resume_point(file: MigrationFile, record: _Record | None) -> tuple[int, DriftIssue | None]:
    """Where a half-run file continues, if its already-run statements are unchanged."""
    row = record.effective if record else None
    if row is None or row.success or row.transactional or row.statements_applied == 0:
        return 0, None
    done = row.statements_applied
    if file.options.transactional or file.prefix_checksum(done) != row.applied_checksum:
        return 0, DriftIssue(
            "resume_mismatch", file.script, None if file.version is None else str(file.version),
            f"{file.script} stopped after statement {done}, but its first {done} statements "
            "have changed since; restore them, or clean up by hand and run repair")
    return done, None


def plan_up(files: MigrationSet, rows: list[HistoryRow], *, target: Version | None = None,
            allow_out_of_order: bool = False) -> Plan:
    """What `up` runs, in order; raises MigrationDrift / OutOfOrder instead of guessing."""
    analysis = analyze(files, rows, allow_out_of_order=allow_out_of_order)
    blocking = [i for i in analysis.issues if i.kind in ("checksum_mismatch", "missing")]
    by_version = files.by_version()
    plan = Plan()
    for entry in analysis.entries:
        if entry.type != "versioned" or entry.version is None:
            continue
        version = Version.parse(entry.version)
        record = analysis.records.get(version)
        if entry.state is State.FAILED and record and record.effective \
                and record.effective.type is RowType.UNDO:
            blocking.append(DriftIssue("failed", entry.script, entry.version,
                                       f"the undo of {entry.script} stopped half-way; run "
                                       "down again to finish it, or repair"))
            continue
        runnable = (State.PENDING, State.UNDONE, State.FAILED, State.OUT_OF_ORDER)
        if entry.state not in runnable or (target is not None and version > target):
            continue
        file = by_version[version]
        if entry.state is State.OUT_OF_ORDER and not (allow_out_of_order
                                                       or file.options.out_of_order):
            raise OutOfOrder(
                f"{file.script} is pending but older than applied version "
                f"{analysis.highest_applied}.",
                details={"script": file.script, "version": entry.version,
                         "highest_applied": str(analysis.highest_applied)},
                hint="If it is independent of the newer ones, run up --allow-out-of-order "
                     "(or add `-- pgkeel: out_of_order=allow` to the file).")
        resume_from, issue = _resume_point(file, record)
        if issue:
            blocking.append(issue)
        plan.steps.append(Step(file, RowType.SQL, resume_from))
    if blocking:
        raise _drift(blocking)
    last = max(by_version, default=None)
    if target is not None and last is not None and target < last:
        plan.skipped_repeatables = True
        return plan
    for file in files.repeatable:
        entry_state = _repeatable(file.script, file, analysis.repeatables.get(file.script),
                                  analysis.last_undo_rank).state
        if entry_state in (State.PENDING, State.OUTDATED, State.FAILED):
            resume_from, issue = _resume_point(file, analysis.repeatables.get(file.script))
            if issue:
                raise _drift([issue])
            plan.steps.append(Step(file, RowType.REPEATABLE, resume_from))
    return plan


def plan_down(files: MigrationSet, rows: list[HistoryRow], *, steps: int | None = None,
              target: Version | None = None) -> Plan:
    """Which U files `down` runs, newest first; all must exist before anything runs."""
    records, _, baseline = _records(rows)
    candidates: list[tuple[Version, _Record]] = []
    for version in sorted(records, reverse=True):
        record = records[version]
        row = record.effective
        if row is None or (row.type is RowType.UNDO and row.success) \
                or row.type is RowType.DELETE:
            continue
        if row.type is RowType.SQL and not row.success:
            raise MigrationError(
                f"{row.script} is only partly applied, so it cannot be undone yet.",
                details={"script": row.script, "version": str(version)},
                hint="Finish it with `up`, or clean up by hand and run `repair`.")
        candidates.append((version, record))
    if target is not None and baseline is not None and target < baseline:
        raise IrreversibleMigration(
            f"Cannot undo below the baseline (version {baseline}).",
            details={"baseline": str(baseline)})
    if target is not None:
        chosen = [c for c in candidates if c[0] > target]
    else:
        chosen = candidates[:1 if steps is None else steps]
        if steps is not None and steps > len(candidates):
            raise IrreversibleMigration(
                f"Only {len(candidates)} applied migration(s) can be undone, not {steps}.",
                details={"applied": [str(v) for v, _ in candidates]})
    lacking = [str(v) for v, _ in chosen if v not in files.undo]
    if lacking:
        raise IrreversibleMigration(
            f"No undo file for version {', '.join(lacking)}; nothing was undone.",
            details={"versions": lacking},
            hint="Add U<version>__<description>.sql files, or undo fewer steps.")
    plan = Plan()
    for version, record in chosen:
        undo = files.undo[version]
        resume = 0
        row = record.effective
        if row is not None and row.type is RowType.UNDO and not row.success:
            resume, issue = _resume_point(undo, record)
            if issue:
                raise _drift([issue])
        plan.steps.append(Step(undo, RowType.UNDO, resume))
    return plan


def _drift(issues: list[DriftIssue]) -> MigrationDrift:
    first = issues[0].message
    more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
    return MigrationDrift(
        f"The migration history does not match the files: {first}{more}.",
        details={"issues": [vars(i) for i in issues]},
        hint="Run `pgkeel migrate validate` to see every problem; restore the files, or run "
             "`pgkeel migrate repair` if the change is intended.")
