"""Rotating CURSOR_SECRET: cursors carry their key's id; cursors of the previous secret work
during the grace period, then answer 400 like any forgery."""

from __future__ import annotations

import datetime as dt
import secrets
from types import SimpleNamespace

import pytest
from pydantic import SecretStr

from pgkeel.errors import InvalidParameter
from pgkeel.repo import CursorCodec, FieldType
from tests.pgkeel_apps.conftest import open_api

OLD, NEW = secrets.token_bytes(32), secrets.token_bytes(32)
SOON = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
PAST = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)


def _round_trip(signer: CursorCodec, reader: CursorCodec) -> None:
    token = signer.encode(["a"], backward=False, binding="b")
    key = SimpleNamespace(field=SimpleNamespace(type=FieldType.TEXT))  # what decode() reads
    assert reader.decode(token, keys=[key], binding="b") == (["a"], False)


def test_previous_keys_are_accepted_until_the_grace_period_ends():
    old = CursorCodec(OLD)
    _round_trip(old, CursorCodec(NEW, previous=[OLD], previous_until=SOON))
    _round_trip(old, CursorCodec(NEW, previous=[OLD]))  # no end: while configured
    for after in (CursorCodec(NEW, previous=[OLD], previous_until=PAST), CursorCodec(NEW)):
        with pytest.raises(InvalidParameter) as caught:
            _round_trip(old, after)
        assert caught.value.details == {"parameter": "cursor"}
    rotated = CursorCodec(NEW, previous=[OLD], previous_until=SOON)
    _round_trip(rotated, CursorCodec(NEW))  # new cursors use the new key


def test_a_forged_key_id_does_not_help():
    forged = CursorCodec(secrets.token_bytes(32))
    with pytest.raises(InvalidParameter):
        _round_trip(forged, CursorCodec(NEW, previous=[OLD], previous_until=SOON))


async def test_rotation_over_http(pgkeel_settings, monkeypatch):
    """The reference service: a cursor from before the rotation works during the grace
    period, and is a 400 once it is over."""
    def settings(**changes):
        return pgkeel_settings.model_copy(update=changes)

    old_secret, new_secret = SecretStr(OLD.hex()), SecretStr(NEW.hex())
    async with open_api(settings(cursor_secret=old_secret), monkeypatch) as api:
        headers = await api.as_("org-1")
        cursor = (await api.client.get("/v1/users?limit=2", headers=headers)).json()["nextCursor"]
    assert cursor
    for until, expected in ((SOON, 200), (PAST, 400)):
        async with open_api(settings(cursor_secret=new_secret, cursor_secret_previous=old_secret,
                                     cursor_secret_previous_until=until), monkeypatch) as api:
            headers = await api.as_("org-1")
            response = await api.client.get(f"/v1/users?limit=2&cursor={cursor}",
                                            headers=headers)
        assert response.status_code == expected, response.text
        if expected == 400:
            assert response.json()["details"]["parameter"] == "cursor"
