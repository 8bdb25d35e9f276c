"""A database that cannot be reached says why: refused, unknown host, authentication failed,
no password given, database missing, timeout, not PostgreSQL, SSL refused -- with the target
(password hidden) and a hint that fits."""

from __future__ import annotations

import socket
import struct
import threading
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


class FakeServer:
    """A TCP listener that speaks just enough of the PostgreSQL protocol for one answer:
    declines SSL and GSS encryption ('N'), reads the startup message, then sends `reply`
    (raw bytes: a password request, an error) and keeps reading until the client leaves.
    `speak_postgres=False` answers the first bytes with an HTTP line, as another service on
    the port would."""

    def __init__(self, reply: bytes = b"", *, speak_postgres: bool = True) -> None:
        self.reply, self.speak_postgres = reply, speak_postgres
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        try:
            while True:
                head = conn.recv(8, socket.MSG_WAITALL)
                if len(head) < 8:
                    return
                if not self.speak_postgres:
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                    return
                length, code = struct.unpack("!ii", head)
                if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest
                    conn.sendall(b"N")
                    continue
                conn.recv(length - 8, socket.MSG_WAITALL)  # the startup message
                conn.sendall(self.reply)
                while conn.recv(1024):
                    pass
                return
        except OSError:
            return


def error_response(sqlstate: str, message: str) -> bytes:
    fields = b"".join(kind + text.encode() + b"\0" for kind, text in (
        (b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", message))) + b"\0"
    return b"E" + struct.pack("!i", len(fields) + 4) + fields


PASSWORD_REQUEST = b"R" + struct.pack("!ii", 8, 3)  # AuthenticationCleartextPassword


async def test_a_wrong_password_is_a_refused_login():
    server = FakeServer(PASSWORD_REQUEST + error_response(
        "28P01", 'password authentication failed for user "app"'))
    exc = await failure(f"postgresql://app:topsecret@127.0.0.1:{server.port}/shop")
    assert exc.details["cause"] == ConnectCause.AUTH_FAILED
    assert exc.message.startswith(f"PostgreSQL at 127.0.0.1:{server.port} refused the login "
                                  "of role 'app'")


async def test_a_missing_password_says_to_give_one(monkeypatch):
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    server = FakeServer(PASSWORD_REQUEST)
    exc = await failure(f"postgresql://app@127.0.0.1:{server.port}/shop")
    assert exc.details["cause"] == ConnectCause.AUTH_FAILED
    assert "asks role 'app' for a password and none was given" in exc.message
    assert exc.hint is not None
    assert "DATABASE_URL" in exc.hint


async def test_another_service_on_the_port_is_not_postgres():
    server = FakeServer(speak_postgres=False)
    exc = await failure(f"postgresql://app:topsecret@127.0.0.1:{server.port}/shop")
    assert exc.details["cause"] == ConnectCause.NOT_POSTGRES
    assert exc.message.startswith(f"Something at 127.0.0.1:{server.port} answered, but not "
                                  "as PostgreSQL does")
    assert "Retry" not in (exc.hint or "")


async def test_ssl_required_by_the_client_and_refused_by_the_server():
    server = FakeServer()
    exc = await failure(f"postgresql://app:topsecret@127.0.0.1:{server.port}/shop"
                        "?sslmode=require")
    assert exc.details["cause"] == ConnectCause.SSL
    assert "server does not support SSL, but SSL was required" in exc.message
    assert exc.hint is not None
    assert "sslmode" in exc.hint


async def test_any_other_failure_shows_the_servers_reason():
    server = FakeServer(error_response("53300", "sorry, too many clients already"))
    exc = await failure(f"postgresql://app:topsecret@127.0.0.1:{server.port}/shop")
    assert exc.details["cause"] == ConnectCause.OTHER
    assert exc.message.endswith("is unavailable: sorry, too many clients already.")
