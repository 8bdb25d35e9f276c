"""The one pgkeel error hierarchy: `from pgkeel.errors import X` for every error pgkeel raises.

Every failure pgkeel raises is a `PgkeelError` carrying a stable `code`, a human `message`,
structured `details` and an optional `hint` -- the same four fields the web layer sends as JSON.
Database errors are translated once, at the driver boundary, by SQLSTATE (never by message text).

Where the classes live: one module per capability inside this package -- `base` (the root and
the errors every capability shares), `database` (PostgreSQL errors and `translate`), `migrate`,
`audit`, `idempotency`, `outbox`, `brokers` (the outbox's broker sinks), `ops` -- all re-exported
here. They do not live inside the capability packages themselves (`pgkeel/audit/errors.py`),
because errors sit at the bottom of the dependency arrows: every layer raises and catches
them, `pgkeel.db` translates into them, and importing `pgkeel.errors` must not import the
capabilities (whose packages import `pgkeel.db`, which imports `pgkeel.errors` -- a cycle).
Add a capability's errors to its module here and to that module's `__all__` (a new capability
gets a new module, star-imported below), and to the tree.

    PgkeelError
    ├── ConfigError                      invalid settings (names the variable)
    │   ├── SchemaMismatch               a declared table does not match the live catalog
    │   └── MissingExtra                 an optional integration's package is not installed
    ├── EmbeddedServerError              the embedded PostgreSQL / Valkey could not start or stop
    ├── UsageError                       the library was called wrongly (a bug in the caller)
    │   └── TenantRequired               a tenant-scoped call ran with no organization in context
    ├── CacheUnreachable                 `pgkeel cache stats` found no Redis (the cache itself
    │                                    never raises on Redis failures)
    ├── InvalidParameter                 a request parameter is unknown or malformed (400)
    ├── NotFound                         no such row in this organization (404)
    ├── RuleViolation                    a business rule forbids the change (422, details.rule)
    ├── Unauthorized                     no valid credentials (401)
    ├── Forbidden                        authenticated, but lacking the permission (403)
    ├── RateLimited                      too many requests, or locked out (429, Retry-After)
    ├── RateLimiterUnavailable           a fail-closed limiter could not reach Redis (503)
    ├── MigrationError                   a migration set could not be read, checked or applied
    │   ├── InvalidMigrationFile         a file's name, header or SQL text is malformed
    │   ├── MigrationFailed              a statement failed (file:line, PostgreSQL's message)
    │   ├── MigrationDrift               the history no longer matches the files
    │   ├── OutOfOrder                   a pending version is older than an applied one
    │   ├── IrreversibleMigration        `down` needs an undo file that does not exist
    │   ├── LintFailed                   `up` refused files with lint errors
    │   ├── MigrationLockTimeout         another runner held the migration lock too long
    │   ├── BaselineRefused              `baseline` on a history that already has migrations
    │   └── ProductionRefused            a destructive command refused when APP_ENV=production
    ├── AuditError                       the audit log could not do what was asked
    │   ├── AuditNotInstalled            the audit schema is missing (`pgkeel audit install`)
    │   ├── AuditEventInvalid            an event cannot be stored (empty action, NUL character)
    │   ├── AuditQueueFull               append_nowait() found the appender's queue full
    │   ├── AuditAppenderClosed          append() on an appender that is closed or not started
    │   ├── AuditChainBroken             verify found edited, deleted or inserted audit rows
    │   └── AuditCheckpointInvalid       a checkpoint file is malformed or its signature is wrong
    ├── OutboxError                      the outbox could not do what was asked
    │   ├── OutboxNotInstalled           the outbox schema is missing (`pgkeel outbox install`)
    │   ├── OutboxEventInvalid           an event cannot be stored (empty type, bad priority)
    │   ├── OutboxEventNotFound          no such dead event to replay (404)
    │   ├── OutboxSinkError              no sink configured, or a URL scheme no sink handles
    │   ├── BrokerUnavailable            a message broker (NATS, RabbitMQ) did not answer
    │   └── PublishFailed                a broker did not acknowledge one outbox message
    ├── IdempotencyError                 an idempotency key could not be honoured
    │   ├── IdempotencyKeyMissing        a route that requires a key got none (400)
    │   ├── IdempotencyKeyInvalid        the key is empty, too long or not printable ASCII (400)
    │   ├── IdempotencyKeyReused         the key was first used for another request (422)
    │   ├── IdempotencyKeyInFlight       a request with this key is still running (409)
    │   └── IdempotencyNotInstalled      the idempotency schema is missing
    ├── OpsError                         an operations command could not do what was asked
    │   ├── OpsNotInstalled              the ops schema is missing (`pgkeel ops install`)
    │   └── MaintenanceFailed            a maintenance statement failed (details: which)
    └── DatabaseError                    anything that came back from PostgreSQL
        ├── Conflict                     23505 unique violation (constraint, fields)
        │   └── VersionConflict          optimistic lock: the row changed since it was read
        ├── ReferenceNotFound            23503 foreign key violation
        ├── ValidationFailed             23502, 23514, 22P02, 22001 and the rest of class 22,
        │                                and values the driver cannot send (NUL, surrogates)
        ├── TransactionConflict          40001 / 40P01 (after retries are exhausted)
        ├── QueryTimeout                 57014 statement timeout or cancel
        ├── PermissionDenied             42501 (a server misconfiguration: HTTP 500)
        ├── ReadOnlyTransaction          25006 a write in a replica / readonly transaction
        ├── DriverError                  the driver refused a query before sending it (a bug)
        ├── DatabaseUnavailable          class 08, 57P01-57P03, 53300, pool timeouts
        │   └── PoolExhausted            no pooled connection was free in time
        └── CommitOutcomeUnknown         the connection broke during COMMIT: never retried
"""

from pgkeel.errors import audit, base, brokers, database, idempotency, migrate, ops, outbox
from pgkeel.errors.audit import *  # noqa: F403
from pgkeel.errors.base import *  # noqa: F403
from pgkeel.errors.brokers import *  # noqa: F403
from pgkeel.errors.database import *  # noqa: F403
from pgkeel.errors.idempotency import *  # noqa: F403
from pgkeel.errors.migrate import *  # noqa: F403
from pgkeel.errors.ops import *  # noqa: F403
from pgkeel.errors.outbox import *  # noqa: F403

__all__: list[str] = []
__all__ += base.__all__
__all__ += database.__all__
__all__ += migrate.__all__
__all__ += audit.__all__
__all__ += idempotency.__all__
__all__ += outbox.__all__
__all__ += brokers.__all__
__all__ += ops.__all__
