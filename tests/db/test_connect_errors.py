"""A database that cannot be reached says why: refused, unknown host, authentication failed,
database missing, timeout -- with the target (password hidden) and a hint that fits."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from psycopg.conninfo import conninfo_to_dict

from pgkeel.db import Database
from pgkeel.db.connect_errors import ConnectCause
from pgkeel.embedded._process import free_port
from pgkeel.errors import DatabaseUnavailable
from pgkeel.testing import database_url

pytestmark = pytest.mark.smoke


async def failure(url: str) -> DatabaseUnavailable:
    with pytest.raises(DatabaseUnavailable) as info:
        async with Database(url, connect_timeout_s=1.0, pool_timeout_s=3.0, min_size=1):
            pass
    assert "topsecret" not in str(info.value.to_dict())
    return info.value


async def test_nothing_listening_is_refused_and_names_host_and_port():
    port = free_port()
    exc = await failure(f"postgresql://app:topsecret@127.0.0.1:{port}/shop")
    assert exc.details == {"cause": ConnectCause.REFUSED,
                           "database": f"postgresql://app:***@127.0.0.1:{port}/shop"}
    assert exc.message.startswith(f"Nothing accepts connections at 127.0.0.1:{port}")
    assert "Retry" not in (exc.hint or "")


async def test_an_unknown_host_is_named():
    exc = await failure("postgresql://app:topsecret@no-such-host.invalid:5432/shop")
    assert exc.details["cause"] == ConnectCause.UNKNOWN_HOST
    assert exc.message.startswith("The database host 'no-such-host.invalid' is unknown")
    assert exc.hint == "Check the host name in DATABASE_URL."


async def test_a_missing_database_says_how_to_create_it(pgkeel_database_url):
    exc = await failure(database_url(pgkeel_database_url, "no_such_db_pgkeel"))
    assert exc.details["cause"] == ConnectCause.DATABASE_MISSING
    assert exc.message.startswith("The database 'no_such_db_pgkeel' does not exist at ")
    assert exc.hint == ("Create it (createdb no_such_db_pgkeel), or fix the database name in "
                        "DATABASE_URL.")


async def test_a_refused_login_names_the_role(pgkeel_database_url):
    parts = conninfo_to_dict(pgkeel_database_url)
    url = (f"postgresql://no_such_role_pgkeel:topsecret@{parts.get('host', '127.0.0.1')}:"
           f"{parts.get('port', 5432)}/{parts['dbname']}")
    exc = await failure(url)
    assert exc.details["cause"] == ConnectCause.AUTH_FAILED
    assert "refused the login of role 'no_such_role_pgkeel'" in exc.message
    assert exc.hint is not None
    assert "user and password" in exc.hint


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never answers, as a firewalled or hung
    server does: libpq gives up after its connect timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


async def test_a_server_that_never_answers_is_a_timeout(silent_port):
    exc = await failure(f"postgresql://app@127.0.0.1:{silent_port}/shop")
    assert exc.details["cause"] == ConnectCause.TIMEOUT
    # 2 s: libpq's smallest connect timeout
    assert exc.message.startswith(f"No answer from 127.0.0.1:{silent_port} within 2 s")
    assert exc.hint is not None
    assert "DB_CONNECT_TIMEOUT_S" in exc.hint
