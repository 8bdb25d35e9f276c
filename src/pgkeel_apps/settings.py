"""The reference service's own settings (the library's are `pgkeel.config.Settings`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from pgkeel.config import AppEnv


class DemoSettings(BaseSettings):
    """`make demo`'s port and sample data: PORT, DEMO_SEED, DEMO_ORGS, DEMO_USERS,
    DEMO_PASSWORD; and USER_CACHE."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True,
                                      use_attribute_docstrings=True)

    port: int = Field(8000, ge=1, le=65535)
    """The reference service's port on 127.0.0.1 (`make demo`, `python -m pgkeel_apps`)."""
    demo_seed: bool | None = None
    """Load the sample organizations and users at start-up (COPY; skipped when `org-1`
    exists). Unset: only when APP_ENV=development -- the sample accounts share a published
    password, and a production service refuses to start while they exist."""
    demo_orgs: int = Field(100, ge=1, le=10_000)
    """Sample organizations `org-1` ... `org-N`."""
    demo_users: int = Field(100_000, ge=3, le=10_000_000)
    """Sample users, spread over the organizations."""
    demo_password: str = Field("pgkeel-demo", min_length=8)
    """The password of every sample account (demo only)."""
    demo_roles: bool = True
    """`python -m pgkeel_apps` creates the least-privilege roles with DATABASE_URL (an admin),
    migrates as the migrator and serves as the app role. Skipped when MIGRATION_DATABASE_URL
    is set (roles configured by hand) or APP_ENV=production."""
    demo_role_service: str = Field("pgkeel", pattern=r"^[a-z][a-z0-9_]{0,40}$")
    """Role name prefix: <service>_migrator, <service>_app, <service>_readonly."""
    user_cache: bool = True
    """Serve GET /v1/users/{id} from the cache (5 minutes, dropped by every write to the
    user). false: read the database on every request (the benchmark's uncached runs)."""

    def seeds(self, env: AppEnv) -> bool:
        """Whether to load the sample data under APP_ENV `env`."""
        return env is AppEnv.DEVELOPMENT if self.demo_seed is None else self.demo_seed


class AuthSettings(BaseSettings):
    """Sessions, login rate limits and lockouts, and what anonymous callers may see."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True,
                                      use_attribute_docstrings=True)

    session_ttl_s: int = Field(12 * 3600, ge=60)
    """How long a bearer token lives, in seconds."""
    verify_email_ttl_s: int = Field(48 * 3600, ge=60)
    """How long an email verification link stays valid, in seconds."""
    password_reset_ttl_s: int = Field(3600, ge=60)
    """How long a password reset link stays valid, in seconds."""
    password_min_chars: int = Field(15, ge=8, le=64)
    """Shortest password accepted when one is set (NIST SP 800-63B-4: 15 for a password that
    is the only factor); common and breached passwords are refused at any length."""
    login_ip_limit: int = Field(30, ge=1)
    """Login attempts per client IP per LOGIN_WINDOW_S."""
    login_account_limit: int = Field(10, ge=1)
    """Login attempts per organization + email per LOGIN_WINDOW_S."""
    login_window_s: float = Field(60.0, gt=0)
    """The login rate limits' sliding window, in seconds."""
    login_lockout_threshold: int = Field(5, ge=1)
    """Failed logins (within LOGIN_LOCKOUT_WINDOW_S) that lock an account out."""
    login_lockout_window_s: float = Field(900.0, gt=0)
    """How long failed logins count towards a lockout, in seconds."""
    login_lockout_base_s: float = Field(30.0, gt=0)
    """The first lockout's length; each further one doubles it, up to LOGIN_LOCKOUT_MAX_S."""
    login_lockout_max_s: float = Field(3600.0, gt=0)
    """The longest lockout, in seconds."""
    login_limits_fail_closed: bool = False
    """Refuse logins (503) when Redis is down, instead of letting them through unlimited."""
    expose_docs: bool | None = None
    """Serve /docs, /redoc and /openapi.json. Unset: yes, except in production."""
    expose_metrics: bool | None = None
    """Serve /metrics to anyone. Unset: yes, except in production."""
    metrics_token: SecretStr | None = None
    """When set, /metrics also answers to `Authorization: Bearer <METRICS_TOKEN>`."""

    def docs_on(self, env: AppEnv) -> bool:
        """Whether /docs and the OpenAPI document are served under APP_ENV `env`."""
        return env is not AppEnv.PRODUCTION if self.expose_docs is None else self.expose_docs

    def metrics_open(self, env: AppEnv) -> bool:
        """Whether /metrics is served without a token under APP_ENV `env`."""
        return (env is not AppEnv.PRODUCTION if self.expose_metrics is None
                else self.expose_metrics)
