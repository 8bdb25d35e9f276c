"""Settings: environment and .env, validation that names the variable, DSN redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgkeel.config import AppEnv, load_settings, redact_dsn
from pgkeel.errors import ConfigError

pytestmark = pytest.mark.smoke


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ("DATABASE_URL", "DATABASE_REPLICA_URLS", "REDIS_URL", "APP_ENV",
                 "DB_POOL_MIN_SIZE", "DB_POOL_MAX_SIZE", "SLOW_QUERY_MS", "DB_TRACE",
                 "CURSOR_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return monkeypatch


def test_defaults(clean_env):
    settings = load_settings()
    assert settings.database_url is None
    assert settings.cache_ttl_secs == 60
    assert settings.slow_query_ms == 300
    assert settings.db_statement_timeout_ms == 30_000
    assert settings.db_connect_timeout_s == 2.0
    assert settings.app_env is AppEnv.DEVELOPMENT


def test_environment_and_dotenv(clean_env, tmp_path: Path):
    (tmp_path / ".env").write_text("SLOW_QUERY_MS=150\nAPP_ENV=production\n"
                                   "CURSOR_SECRET=0123456789abcdef0123\n")
    clean_env.setenv("DATABASE_REPLICA_URLS", "postgresql://a/x, postgresql://b/y")
    clean_env.setenv("DB_TRACE", "true")
    settings = load_settings()
    assert settings.slow_query_ms == 150
    assert settings.is_production
    assert settings.db_trace is True
    assert settings.database_replica_urls == ("postgresql://a/x", "postgresql://b/y")


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("DB_POOL_MAX_SIZE", "abc", "DB_POOL_MAX_SIZE"),
    ("SLOW_QUERY_MS", "-1", "SLOW_QUERY_MS"),
    ("APP_ENV", "staging", "APP_ENV"),
    ("DATABASE_URL", "mysql://x/y", "DATABASE_URL"),
    ("REDIS_URL", "http://x", "REDIS_URL"),
    ("DB_SSLMODE", "sometimes", "DB_SSLMODE"),
    ("DATABASE_REPLICA_URLS", "postgresql://ok/x,nope", "DATABASE_REPLICA_URLS"),
])
def test_invalid_values_fail_naming_the_variable(clean_env, name, value, expected):
    clean_env.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert expected in info.value.message


def test_production_requires_a_cursor_secret_of_16_bytes(clean_env):
    clean_env.setenv("APP_ENV", "production")
    with pytest.raises(ConfigError, match="CURSOR_SECRET is required"):
        load_settings()
    clean_env.setenv("CURSOR_SECRET", "short")
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        load_settings()
    clean_env.setenv("CURSOR_SECRET", "x" * 16)
    assert load_settings().cursor_secret is not None


def test_pool_bounds_are_checked(clean_env):
    clean_env.setenv("DB_POOL_MIN_SIZE", "20")
    clean_env.setenv("DB_POOL_MAX_SIZE", "5")
    with pytest.raises(ConfigError, match="DB_POOL_MAX_SIZE must be >= DB_POOL_MIN_SIZE"):
        load_settings()


def test_passwords_never_appear_in_messages(clean_env):
    clean_env.setenv("DATABASE_URL", "mysql://user:s3cret@host/db")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "s3cret" not in str(info.value.to_dict())


@pytest.mark.parametrize(("dsn", "shown"), [
    ("postgresql://app:s3cret@db:5432/x?sslmode=require",
     "postgresql://app:***@db:5432/x?sslmode=require"),
    ("postgresql://app@db/x", "postgresql://app@db/x"),
    ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
    ("host=db user=app password=s3cret dbname=x", "host=db user=app password=*** dbname=x"),
    (None, None),
])
def test_redact_dsn(dsn, shown):
    assert redact_dsn(dsn) == shown


def test_describe_redacts_every_dsn(clean_env):
    clean_env.setenv("DATABASE_URL", "postgresql://u:pw1@h/d")
    clean_env.setenv("REDIS_URL", "redis://:pw2@h:6379/0")
    clean_env.setenv("DATABASE_REPLICA_URLS", "postgresql://u:pw3@r/d")
    text = str(load_settings().describe())
    assert "pw1" not in text and "pw2" not in text and "pw3" not in text


def test_settings_tables_in_the_docs_match_the_settings_classes():
    from pathlib import Path

    from pgkeel.cli.config import BLOCK, render_settings_blocks, settings_class

    root = Path(__file__).resolve().parents[1]
    configuration = (root / "docs" / "configuration.md").read_text()
    refs = [(m.group("ref"), m.group("prefixes")) for m in BLOCK.finditer(configuration)]
    assert refs == [("pgkeel.config:Settings", ""), ("pgkeel_apps.settings:DemoSettings", ""),
                    ("pgkeel_apps.settings:AuthSettings", "")], \
        "configuration.md lists every setting of the three classes"
    for ref, _ in refs:
        undocumented = [name for name, field in settings_class(ref).model_fields.items()
                        if not field.description]
        assert undocumented == [], f"{ref}: give these fields a docstring"
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    stale = [page.name for page in pages
             if render_settings_blocks(page.read_text()) != page.read_text()]
    assert stale == [], (
        f"the settings tables of {stale} differ from the settings classes: "
        "run `pgkeel config docs --write docs/<page>.md`")


def test_settings_table_rows():
    from pgkeel.config import Settings, settings_table

    table = settings_table(Settings)
    assert "| `CURSOR_SECRET` | unset |" in table
    assert "| `CACHE_PREFIX` | `pgkeel:` |" in table
    assert table.count("\n") == len(Settings.model_fields) + 2
    audit = settings_table(Settings, ["AUDIT_"])
    assert "AUDIT_BATCH_SIZE" in audit and "CACHE_" not in audit
