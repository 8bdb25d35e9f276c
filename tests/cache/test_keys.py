"""Key building: injective, hash-tagged by organization, hashed when too long."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgkeel.cache import GLOBAL, CacheKey, KeySpace, Tag, key, tag
from pgkeel.cache.keys import encode_part, epoch_of
from pgkeel.cache.redis_backend import slot_of
from pgkeel.db import use_context
from pgkeel.errors import TenantRequired, UsageError

parts = st.one_of(st.none(), st.text(max_size=40), st.integers(), st.uuids())
ids = st.one_of(parts, st.tuples(parts), st.tuples(parts, parts), st.tuples(parts, parts, parts))
names = st.text(min_size=1, max_size=30)


def normal(value):
    """What a key means: ints, UUIDs and strs are compared as text ("1" is the id 1)."""
    if isinstance(value, tuple):
        return ("tuple", tuple(normal(v) for v in value))
    return None if value is None else ("text", str(value))


@settings(max_examples=400)
@given(a=st.tuples(parts, names, ids, names), b=st.tuples(parts, names, ids, names),
       max_length=st.sampled_from([64, 120, 250, 10_000]))
def test_distinct_parts_never_share_a_key(a, b, max_length):
    key_a = CacheKey(org=a[0], resource=a[1], id=a[2], action=a[3])
    key_b = CacheKey(org=b[0], resource=b[1], id=b[2], action=b[3])
    same_meaning = tuple(map(normal, a)) == tuple(map(normal, b))
    same_key = key_a.render("p:", max_length) == key_b.render("p:", max_length)
    assert same_meaning == same_key


@given(org=parts, resource=names, id=ids, action=names)
def test_org_is_the_hash_tag_of_every_related_key(org, resource, id, action):
    space = KeySpace("pgkeel:", max_length=120)
    cache_key = CacheKey(org=org, resource=resource, id=id, action=action)
    store_key = space.store_key(cache_key, (Tag("t:{x}", org=org),))
    slot = slot_of(store_key.value)
    assert slot  # never the empty `{}`, which Redis would not treat as a hash tag
    assert {slot_of(store_key.lease), slot_of(store_key.epoch),
            *map(slot_of, store_key.tags)} == {slot}
    assert all(epoch_of(g) == store_key.epoch for g in store_key.tags)
    assert len(store_key.value) <= max(120, len("pgkeel:") + 100)


@given(st.text())
def test_an_encoded_part_is_only_safe_characters_and_escapes(text):
    assert re.fullmatch(r"(?:[A-Za-z0-9_.\-]|%[0-9A-F]{2})*", encode_part(text))


def test_layout_matches_the_spec():
    assert CacheKey("users", 42, "get", org=7).render("pgkeel:") == "pgkeel:{7}:users:42:get"
    assert (CacheKey("customer", "a:b", "tags", org=None).render("pgkeel:")
            == "pgkeel:{~}:customer:a%3Ab:tags")
    assert CacheKey("r", ("a", 1), org="x").render("") == "{x}:r:(a,1):get"
    uid = uuid.UUID(int=5)
    assert CacheKey("r", uid, org=uid).render("") == f"{{{uid}}}:r:{uid}:get"


def test_long_keys_are_hashed_but_keep_org_and_resource_readable():
    rendered = CacheKey("users", "x" * 500, "get", org=1).render("pgkeel:", 250)
    assert rendered.startswith("pgkeel:{1}:users:#")
    assert len(rendered) < 80
    huge = CacheKey("r" * 300, "x", "get", org="o" * 300).render("pgkeel:", 64)
    assert huge.startswith("pgkeel:{#") and len(huge) <= len("pgkeel:") + 100


def test_org_defaults_to_the_current_context():
    with use_context(org_id=9):
        assert key("users", 1).org == 9
        assert tag("users").org == 9
    assert key("users", 1, org=3).org == 3


def test_keys_outside_a_tenant_fail_closed_unless_global():
    """No shared namespace by accident: a key or tag with no organization raises, and only
    an explicit org=GLOBAL reaches the keys every organization shares."""
    for build in (lambda: key("users", 1), lambda: tag("users"),
                  lambda: key("users", 1, org=None), lambda: tag("users", org="")):
        with pytest.raises(TenantRequired):
            build()
    shared = key("flags", "all", org=GLOBAL)
    assert shared.org is None
    assert shared.render("p:") == "p:{~}:flags:all:get"
    assert tag("flags", org=GLOBAL).org is None


@pytest.mark.parametrize("bad", [True, 1.5, b"x", object()])
def test_unsupported_parts_are_refused_where_they_are_built(bad):
    with pytest.raises(UsageError):
        key("users", bad)


def test_tags_must_share_their_key_s_organization():
    with pytest.raises(UsageError, match="organization"):
        KeySpace().store_key(CacheKey("users", 1, org=1), (Tag("users", org=2),))


def test_prefix_cannot_hold_braces():
    with pytest.raises(UsageError):
        KeySpace("a{b}:")
