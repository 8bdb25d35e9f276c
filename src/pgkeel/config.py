"""Settings from the environment and `.env`, validated once at start-up.

A bad value fails immediately with a `ConfigError` that names the environment variable, and
connection strings are only ever shown through `redact_dsn`, so passwords never reach a log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from pgkeel.errors import ConfigError

__all__ = ["AppEnv", "Settings", "load_settings", "redact_dsn", "settings_table"]

_SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}


class AppEnv(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Every knob pgkeel reads; each field is the lower-cased name of its environment variable."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore", frozen=True,
                                      use_attribute_docstrings=True)

    database_url: str | None = None
    """Primary PostgreSQL DSN. Unset: an embedded PostgreSQL is started under PGKEEL_HOME."""
    migration_database_url: str | None = None
    """DSN migrations run with (the schema owner, e.g. `<service>_migrator`). Unset: the same
    as DATABASE_URL. Requests never use it: they connect as DATABASE_URL's (app) role."""
    database_replica_urls: Annotated[tuple[str, ...], NoDecode] = ()
    """Comma-separated read-replica DSNs."""
    redis_url: str | None = None
    """`redis://...`, or `memory://` for an in-process cache. Unset: an embedded Valkey. A
    Redis Cluster: `redis+cluster://host:port`, or seeds `redis://host1:port1,host2:port2`."""
    app_env: AppEnv = AppEnv.DEVELOPMENT
    """`development`, `test` or `production` (destructive commands refuse production)."""
    db_trace: bool = False
    """A structured log line per query (parameters redacted unless DB_TRACE_PARAMS)."""
    db_trace_params: bool = False
    """Log parameter values in the DB_TRACE log (off: values are redacted)."""
    cache_ttl_secs: int = Field(60, ge=1)
    """Default TTL of a cached value, in seconds."""
    slow_query_ms: int = Field(300, ge=0)
    """Queries slower than this are logged and counted as slow."""
    db_pool_min_size: int = Field(2, ge=0)
    """Connections each pool keeps open."""
    db_pool_max_size: int = Field(10, ge=1)
    """Most connections per pool."""
    db_pool_timeout_s: float = Field(10.0, gt=0)
    """How long a request may wait for a free pooled connection (then `PoolExhausted`, 503)."""
    db_connect_timeout_s: float = Field(2.0, gt=0)
    """Connect timeout; an unreachable server is reported after this."""
    db_statement_timeout_ms: int = Field(30_000, ge=0)
    """Default `statement_timeout` of every transaction (0: none)."""
    db_lock_timeout_ms: int = Field(0, ge=0)
    """`lock_timeout` of the app role's sessions, set on the role by `pgkeel db roles` (with
    DB_STATEMENT_TIMEOUT_MS as its `statement_timeout`); 0: none."""
    db_replica_max_lag_s: float = Field(5.0, gt=0)
    """A replica further behind than this is skipped."""
    db_transaction_pooler: bool = False
    """DATABASE_URL is a pooler in transaction mode (PgBouncer): keep no session state --
    no server-side prepared statements, and the statement timeout sent with every transaction
    rather than set once per connection. Reads sent as one implicit transaction rely on the
    app role's own statement_timeout, which `pgkeel db roles` sets."""
    db_sslmode: str | None = None
    """`disable` ... `verify-full`, passed to libpq (unset: libpq's default)."""
    cursor_secret: SecretStr | None = None
    """HMAC key for keyset cursors (>= 16 bytes). Required in production; elsewhere a random
    per-process key is used."""
    cursor_secret_previous: SecretStr | None = None
    """Earlier CURSOR_SECRET values (comma-separated) whose cursors stay valid during a
    rotation, until CURSOR_SECRET_PREVIOUS_UNTIL."""
    cursor_secret_previous_until: datetime | None = None
    """When the previous cursor secrets stop being accepted (ISO 8601, with a time zone);
    unset: for as long as they are configured."""
    pgkeel_home: Path = Path(".pgkeel")
    """Where embedded servers keep their data."""
    migrations_dir: Path = Path("migrations")
    """The migration set `pgkeel migrate` uses when no `--dir` is given."""
    migrations_schema: str = Field("public", min_length=1, max_length=63)
    """The set's schema: it holds `pgkeel_schema_history` and heads each migration's
    search_path."""
    migrate_lock_timeout_ms: int = Field(5_000, ge=0)
    """lock_timeout for each migration, so DDL never queues traffic behind it for long."""
    migrate_statement_timeout_ms: int = Field(0, ge=0)
    """statement_timeout for each migration (0: none)."""
    migrate_lock_retries: int = Field(3, ge=0)
    """How often a migration that hit lock_timeout is retried, with backoff."""
    migrate_wait_s: float = Field(60.0, gt=0)
    """How long a runner waits for another runner to release the migration lock."""

    cache_prefix: str = Field("pgkeel:", min_length=1, max_length=100, pattern=r"^[^{}]*$")
    """Prepended to every cache key in Redis (no braces: they mark the Cluster hash tag)."""
    cache_negative_ttl_secs: int = Field(15, ge=1)
    """TTL of a cached "not found"."""
    cache_lease_ttl_s: float = Field(10.0, gt=0)
    """How long a cache miss holds its fill lease."""
    cache_lease_wait_s: float = Field(0.5, ge=0)
    """How long a miss waits for another process's fill before loading itself."""
    cache_xfetch_beta: float = Field(1.0, ge=0)
    """XFetch early-refresh eagerness (0 disables early refresh)."""
    cache_op_timeout_s: float = Field(0.25, gt=0)
    """Time limit of one cache call to Redis (waiting for a pooled connection included)."""
    cache_breaker_failures: int = Field(5, ge=1)
    """Consecutive failed Redis calls that open the cache's circuit breaker."""
    cache_breaker_reset_s: float = Field(2.0, gt=0)
    """How long the cache's breaker stays open before probing Redis again."""
    cache_max_pending: int = Field(10_000, ge=1)
    """Exact invalidations kept during a Redis outage before coarsening to org epochs."""
    cache_stats_flush_s: float = Field(10.0, gt=0)
    """How often each process adds its cache counters to the totals in Redis."""
    cache_max_key_length: int = Field(250, ge=64)
    """Cache keys longer than this are hashed."""
    cache_l1_ttl_s: float = Field(0.0, ge=0)
    """> 0: a two-tier cache, with an in-process L1 whose entries live at most this long."""
    cache_l1_max_entries: int = Field(10_000, ge=1)
    """L1 capacity (LRU)."""

    audit_queue_size: int = Field(10_000, ge=1)
    """Events the non-blocking audit appender holds; when full, append() waits (back-pressure)."""
    audit_batch_size: int = Field(1_000, ge=1)
    """Most events the appender writes in one batch (one transaction)."""
    audit_flush_interval_s: float = Field(0.2, gt=0)
    """Longest an appended event waits before its batch is written."""
    audit_shutdown_timeout_s: float = Field(30.0, gt=0)
    """How long closing the appender keeps retrying to write what is queued."""
    audit_partitions_ahead: int = Field(3, ge=0, le=240)
    """Monthly audit partitions created ahead of the current month."""
    audit_checkpoint_key: SecretStr | None = None
    """Optional key that signs `pgkeel audit checkpoint` files (HMAC-SHA256)."""

    idempotency_ttl_s: float = Field(86_400.0, gt=0)
    """How long a key and its stored response are kept and replayed (24 h); after that the
    key starts a new request."""
    idempotency_lock_lease_s: float = Field(90.0, gt=0)
    """How long a request holds its key; past it the request is presumed dead and the same
    request may run again. Keep it above the longest route time (and statement timeout)."""
    idempotency_key_max_length: int = Field(255, ge=16, le=4096)
    """Longest Idempotency-Key accepted (longer keys answer 400)."""
    idempotency_reap_batch_size: int = Field(1_000, ge=1)
    """Rows the reaper deletes per transaction (short transactions, short locks)."""

    outbox_sink_url: str | None = None
    """Where the outbox relay publishes: redis://, nats:// or amqp://. Unset: REDIS_URL."""
    outbox_stream: str | None = Field(None, min_length=1, max_length=200)
    """The Redis stream events go to (unset: `<CACHE_PREFIX>outbox`, i.e. `pgkeel:outbox`);
    may use {aggregate_type}, {event_type}, {org_id}."""
    outbox_stream_maxlen: int = Field(1_000_000, ge=0)
    """Approximate length each stream is trimmed to (0: never trimmed)."""
    outbox_batch_size: int = Field(5_000, ge=1, le=100_000)
    """Most events the relay claims and publishes at once."""
    outbox_lease_s: float = Field(30.0, gt=0)
    """Longest a batch stays claimed: a hung relay's claims are released after it (a dead
    relay's at once, with its connection)."""
    outbox_poll_interval_s: float = Field(0.5, gt=0)
    """How often an idle relay looks for new events (LISTEN/NOTIFY only shortens the wait)."""
    outbox_backoff_base_s: float = Field(1.0, gt=0)
    """First retry waits up to this long; each further attempt doubles it (full jitter)."""
    outbox_backoff_cap_s: float = Field(300.0, gt=0)
    """Longest wait between two attempts."""
    outbox_listen: bool = True
    """LISTEN for wake-up hints (turn off behind a transaction-pooling PgBouncer)."""
    outbox_workers: int = Field(2, ge=1, le=64)
    """Batches the relay keeps in flight at once, each on its own pooled connection and its
    own share of the partition keys: more overlap database and sink waits with message
    building."""
    outbox_retention_s: float = Field(7 * 86_400.0, ge=0)
    """`pgkeel outbox prune` deletes events published longer ago than this; 0: the relay
    deletes each event when it is acknowledged, so no published event is kept."""
    ops_latency_warn_ms: float = Field(100.0, ge=0)
    """`pgkeel health`: WARN when a `SELECT 1` round trip to PostgreSQL takes this long."""
    ops_latency_crit_ms: float = Field(1_000.0, ge=0)
    """`pgkeel health`: CRIT when a `SELECT 1` round trip to PostgreSQL takes this long."""
    ops_connections_warn_pct: float = Field(80.0, ge=0)
    """WARN at this share of max_connections (less the superuser-reserved ones) in use."""
    ops_connections_crit_pct: float = Field(95.0, ge=0)
    """CRIT at this share of max_connections (less the superuser-reserved ones) in use."""
    ops_long_query_warn_s: float = Field(60.0, ge=0)
    """WARN when a statement has been running this long (PgHero: 60 s)."""
    ops_long_query_crit_s: float = Field(300.0, ge=0)
    """CRIT when a statement has been running this long."""
    ops_long_transaction_warn_s: float = Field(600.0, ge=0)
    """WARN when a transaction has been open this long (it holds back vacuum)."""
    ops_long_transaction_crit_s: float = Field(3_600.0, ge=0)
    """CRIT when a transaction has been open this long."""
    ops_idle_in_transaction_warn_s: float = Field(60.0, ge=0)
    """WARN when a session has sat idle inside a transaction this long."""
    ops_idle_in_transaction_crit_s: float = Field(600.0, ge=0)
    """CRIT when a session has sat idle inside a transaction this long."""
    ops_blocked_query_warn_s: float = Field(5.0, ge=0)
    """WARN when a session has waited this long for a lock another session holds."""
    ops_blocked_query_crit_s: float = Field(60.0, ge=0)
    """CRIT when a session has waited this long for a lock another session holds."""
    ops_xid_left_warn: int = Field(1_500_000_000, ge=0)
    """WARN when a table has fewer transaction IDs than this left before wraparound (PgHero:
    1.5 billion)."""
    ops_xid_left_crit: int = Field(100_000_000, ge=0)
    """CRIT when a table has fewer transaction IDs than this left before wraparound."""
    ops_sequence_warn_pct: float = Field(90.0, ge=0)
    """WARN when a sequence has used this share of its column's range (PgHero: 90%)."""
    ops_sequence_crit_pct: float = Field(98.0, ge=0)
    """CRIT when a sequence has used this share of its column's range."""
    ops_cache_hit_warn_pct: float = Field(99.0, ge=0, le=100)
    """WARN when the table or index cache hit ratio is below this (PgHero: 99%)."""
    ops_cache_hit_crit_pct: float = Field(90.0, ge=0, le=100)
    """CRIT when the table or index cache hit ratio is below this."""
    ops_cache_hit_min_blocks: int = Field(1_000, ge=0)
    """The cache hit ratio is judged only once this many blocks were read or hit."""
    ops_redis_latency_warn_ms: float = Field(50.0, ge=0)
    """WARN when a Redis PING round trip takes this long."""
    ops_redis_latency_crit_ms: float = Field(500.0, ge=0)
    """CRIT when a Redis PING round trip takes this long."""
    ops_redis_memory_warn_pct: float = Field(80.0, ge=0)
    """WARN when Redis uses this share of its maxmemory (no maxmemory: not judged)."""
    ops_redis_memory_crit_pct: float = Field(95.0, ge=0)
    """CRIT when Redis uses this share of its maxmemory."""
    ops_outbox_pending_warn: int = Field(10_000, ge=0)
    """WARN when this many outbox events wait to be published."""
    ops_outbox_pending_crit: int = Field(100_000, ge=0)
    """CRIT when this many outbox events wait to be published."""
    ops_outbox_age_warn_s: float = Field(60.0, ge=0)
    """WARN when the oldest unpublished outbox event is this old."""
    ops_outbox_age_crit_s: float = Field(600.0, ge=0)
    """CRIT when the oldest unpublished outbox event is this old."""
    ops_audit_queue_warn_pct: float = Field(50.0, ge=0)
    """WARN when a service's audit appender queue is this full (checked in-process only)."""
    ops_audit_queue_crit_pct: float = Field(90.0, ge=0)
    """CRIT when a service's audit appender queue is this full."""
    ops_pool_warn_pct: float = Field(80.0, ge=0)
    """WARN when a service's connection pool has this share of its maximum in use, or any
    request waits for a connection (checked in-process only)."""
    ops_pool_crit_pct: float = Field(100.0, ge=0)
    """CRIT when a service's connection pool has this share of its maximum in use while
    requests wait for a connection."""
    ops_replication_lag_warn_s: float = Field(30.0, ge=0)
    """WARN when a standby's replay is this many seconds behind (seen from either side)."""
    ops_replication_lag_crit_s: float = Field(300.0, ge=0)
    """CRIT when a standby's replay is this many seconds behind."""
    ops_history_every_s: float = Field(10.0, gt=0)
    """The /ops page's charts: seconds between two samples of the service's own history (the
    last hour of them is kept in memory)."""

    maintain_lock_timeout_s: float = Field(1.0, gt=0)
    """`pgkeel maintain`: the longest any maintenance statement waits for a lock (and so the
    longest a writer can queue behind it); a table not locked in time waits for the next run."""
    maintain_in_service: bool = False
    """Run the maintenance loop inside the service too (the reference service does; one copy
    leads); otherwise run `pgkeel maintain --loop` or cron `pgkeel maintain`."""
    maintain_poll_s: float = Field(30.0, gt=0)
    """`pgkeel maintain --loop`: seconds between two looks at which jobs are due."""
    maintain_jobs: Annotated[tuple[str, ...], NoDecode] = ()
    """Apps' job registries, as comma-separated module:attribute paths (e.g. myapp.jobs:JOBS)."""
    maintain_tables_every_s: float = Field(3_600.0, ge=0)
    """Interval of the ANALYZE, VACUUM and invalid-index jobs."""
    maintain_cleanup_every_s: float = Field(600.0, ge=0)
    """Interval of the outbox prune and idempotency reap jobs."""
    maintain_analyze_min_rows: int = Field(50, ge=0)
    """ANALYZE a table once this many rows plus 10% of its rows changed since its last analyze."""
    maintain_vacuum_min_rows: int = Field(50, ge=0)
    """VACUUM a table once it has this many dead rows plus 20% of its live rows."""
    maintain_audit_retention_days: int = Field(0, ge=0)
    """Drop audit partitions older than this many days (0: keep the audit log forever)."""

    @field_validator("database_replica_urls", "maintain_jobs", mode="before")
    @classmethod
    def _split_replicas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("database_url", "migration_database_url", "redis_url", "outbox_sink_url",
                     mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url", "migration_database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in {"postgresql", "postgres"}:
            raise ValueError("must start with postgresql:// or postgres://")
        return value

    @field_validator("database_replica_urls")
    @classmethod
    def _check_replica_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if urlsplit(url).scheme not in {"postgresql", "postgres"}:
                raise ValueError("each URL must start with postgresql:// or postgres://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in {
                "redis", "rediss", "memory", "redis+cluster", "rediss+cluster"}:
            raise ValueError("must start with redis://, rediss://, redis+cluster:// "
                             "(a Redis Cluster) or memory://")
        return value

    @field_validator("db_sslmode")
    @classmethod
    def _check_sslmode(cls, value: str | None) -> str | None:
        if value is not None and value not in _SSL_MODES:
            raise ValueError(f"must be one of {', '.join(sorted(_SSL_MODES))}")
        return value

    @model_validator(mode="after")
    def _check_pool_sizes(self) -> Settings:
        if self.db_pool_min_size > self.db_pool_max_size:
            raise ValueError("DB_POOL_MAX_SIZE must be >= DB_POOL_MIN_SIZE")
        return self

    @model_validator(mode="after")
    def _check_cursor_secret(self) -> Settings:
        secret = self.cursor_secret
        if secret is not None and len(secret.get_secret_value().encode()) < 16:
            raise ValueError("CURSOR_SECRET must be at least 16 bytes")
        if secret is None and self.app_env is AppEnv.PRODUCTION:
            raise ValueError("CURSOR_SECRET is required when APP_ENV=production")
        return self

    @property
    def migration_url(self) -> str | None:
        """Where migrations connect: MIGRATION_DATABASE_URL, else DATABASE_URL."""
        return self.migration_database_url or self.database_url

    @property
    def is_production(self) -> bool:
        return self.app_env is AppEnv.PRODUCTION

    def describe(self) -> dict[str, Any]:
        """The settings as a dict that is safe to print: every DSN is redacted."""
        data = self.model_dump(mode="json")
        data["database_url"] = redact_dsn(self.database_url)
        data["migration_database_url"] = redact_dsn(self.migration_database_url)
        data["redis_url"] = redact_dsn(self.redis_url)
        data["database_replica_urls"] = [redact_dsn(u) for u in self.database_replica_urls]
        return data


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment (and `.env`), raising `ConfigError` on a bad value."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            message = err["msg"].removeprefix("Value error, ")
            if not err["loc"]:
                problems.append(message)
                continue
            field = str(err["loc"][0]).upper()
            given = err.get("input")
            shown = "" if "URL" in field else f" (got {given!r})"
            problems.append(f"{field}: {message}{shown}")
        raise ConfigError("Invalid configuration: " + "; ".join(problems),
                          details={"problems": problems},
                          hint="Fix the named environment variable (or .env entry).") from None


def redact_dsn(dsn: str | None) -> str | None:
    """Hide the password in a URL-style or key=value connection string."""
    if dsn is None:
        return None
    if "://" in dsn:
        parts = urlsplit(dsn)
        if parts.password is None:
            return dsn
        # The host part as written: it may list several host:port (cluster seeds).
        hosts = parts.netloc.rpartition("@")[2]
        user = parts.username or ""
        return urlunsplit(parts._replace(netloc=f"{user}:***@{hosts}"))
    return " ".join("password=***" if item.lower().startswith("password=") else item
                    for item in dsn.split())


def _shown_default(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple | list) and not value:
        return "none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def settings_table(settings_class: type[BaseSettings], prefixes: Sequence[str] = ()) -> str:
    """A Markdown table of the settings of `settings_class` (those whose variable starts with
    one of `prefixes`, or all): environment variable, default and meaning (the field's
    docstring). The docs hold these tables, checked by the tests; `pgkeel config docs` prints
    them."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in settings_class.model_fields.items():
        if prefixes and not name.upper().startswith(tuple(prefixes)):
            continue
        meaning = " ".join((field.description or "").split()).replace("|", "\\|")
        default = _shown_default(field.default)
        if default not in {"unset", "none"}:
            default = f"`{default}`"
        lines.append(f"| `{name.upper()}` | {default} | {meaning} |")
    return "\n".join(lines) + "\n"
