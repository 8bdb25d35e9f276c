"""Versions compare numerically part by part: 1 < 1.1 < 2 < 10."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgkeel.migrate import Version

parts = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=5)


def _key(values: list[int]) -> tuple[int, ...]:
    while len(values) > 1 and values[-1] == 0:
        values = values[:-1]
    return tuple(values)


def test_numeric_order_not_string_order():
    versions = [Version.parse(v) for v in ["10", "2", "1.1", "1", "1.10", "1.2", "2.0.1"]]
    assert [str(v) for v in sorted(versions)] == ["1", "1.1", "1.2", "1.10", "2", "2.0.1", "10"]


def test_underscore_separator_and_equivalent_spellings():
    assert Version.parse("1_1") == Version.parse("1.1")
    assert Version.parse("01") == Version.parse("1") == Version.parse("1.0")
    assert str(Version.parse("2024_05_01")) == "2024.5.1"


@pytest.mark.parametrize("text", ["", "v1", "1.", ".1", "1..2", "1.a", "-1", "1 2", "1__2"])
def test_invalid_versions_are_rejected(text):
    with pytest.raises(ValueError, match="invalid version"):
        Version.parse(text)


@given(parts, parts)
def test_ordering_matches_numeric_tuples(a, b):
    va, vb = Version(tuple(a)), Version(tuple(b))
    assert (va < vb) == (_key(a) < _key(b))
    assert (va == vb) == (_key(a) == _key(b))
    assert (va == vb) == (hash(va) == hash(vb)) or va != vb


@given(parts)
def test_text_round_trip(values):
    version = Version(tuple(values))
    assert Version.parse(str(version)) == version
    assert Version.parse(str(version).replace(".", "_")) == version


@given(st.lists(parts, min_size=1, max_size=20))
def test_sorting_is_a_total_order(many):
    versions = sorted(Version(tuple(v)) for v in many)
    assert all(a <= b for a, b in itertools.pairwise(versions))
    assert [_key(list(v.parts)) for v in versions] == sorted(_key(v) for v in many)
