"""The Lua scripts behind the Redis backend, one per atomic operation, and the stored layout.

Key layout (all of one organization share the `{org}` hash tag, so each script touches one
Redis Cluster slot):

    <prefix>{org}:<resource>:<id>:<action>         STRING <header><envelope>
    <prefix>{org}:<resource>:<id>:<action>:!lease  lease token (PX lease TTL)
    <prefix>{org}:!tag:<name>                      tag generation
    <prefix>{org}:!epoch                           org epoch

The header is `<state><n> <epoch>\n` followed by `<genkey>\n<gen>\n` for each of the n tags
the value was stored with; the state is `L` (live) or `D` (dead: invalidated, kept as a stale
value). Keys never contain a newline (their parts are percent-encoded, the prefix is checked).
A value is valid when it is live, its epoch equals the org epoch and each recorded generation
equals the current one. A value is a string, not a hash, so a hit is one `MGET` of the value,
the epoch and the caller's tag generations, checked in the client at the cost of a `GET` on the
server: no script runs on a hit.

Every script touches only the keys it is given in KEYS (`declared_keys_check` verifies the
sources statically; the tests run it without Redis), and all of them share the caller's `{org}`
hash tag. Generations are bumped to max(now in microseconds, old + 1), so a generation never
repeats even if its key was evicted: a value can never become valid again after an
invalidation. A value key of another type (the hash an earlier version stored) reads as absent
and is replaced or deleted by the next fill, write or invalidation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

__all__ = ["FILL", "INVALIDATE", "NEEDS_TAGS", "READ", "RELEASE", "SCRIPTS", "WRITE",
           "declared_keys_check", "header", "parse_header"]

NEEDS_TAGS: Final = 5
"""READ's status when the stored value depends on tag keys the call did not declare."""

LIVE: Final = ord("L")


def header(epoch: str, tags: Sequence[str], gens: Sequence[str]) -> bytes:
    """The stored header of a live value recorded under `epoch` and these tag generations."""
    lines = [f"L{len(tags)} {epoch}\n"]
    lines += [f"{tag_key}\n{gen}\n" for tag_key, gen in zip(tags, gens, strict=True)]
    return "".join(lines).encode()


def parse_header(data: bytes) -> tuple[bool, bytes, list[bytes], list[bytes], int] | None:
    """(live, epoch, tag keys, generations, where the envelope starts), or None when `data`
    is not a stored value."""
    end = data.find(b"\n")
    space = data.find(b" ", 1, end)
    if end < 0 or space < 0 or not data[1:space].isdigit() or data[:1] not in (b"L", b"D"):
        return None
    keys: list[bytes] = []
    gens: list[bytes] = []
    pos = end + 1
    for _ in range(int(data[1:space])):
        k_end = data.find(b"\n", pos)
        g_end = data.find(b"\n", k_end + 1) if k_end >= 0 else -1
        if g_end < 0:
            return None
        keys.append(data[pos:k_end])
        gens.append(data[k_end + 1:g_end])
        pos = g_end + 1
    return data[0] == LIVE, data[space + 1:end], keys, gens, pos


# Lua: parse a stored value (see the module docstring). Returns live, epoch, tag keys, gens and
# the envelope, or nil for anything that is not a stored value.
_PARSE = """
local function parse(s)
  local nl = string.find(s, '\\n', 1, true)
  if not nl then return nil end
  local sp = string.find(s, ' ', 2, true)
  if not sp or sp > nl then return nil end
  local n = tonumber(string.sub(s, 2, sp - 1))
  local state = string.sub(s, 1, 1)
  if not n or (state ~= 'L' and state ~= 'D') then return nil end
  local keys, gens, pos = {}, {}, nl + 1
  for i = 1, n do
    local a = string.find(s, '\\n', pos, true)
    if not a then return nil end
    local b = string.find(s, '\\n', a + 1, true)
    if not b then return nil end
    keys[i] = string.sub(s, pos, a - 1)
    gens[i] = string.sub(s, a + 1, b - 1)
    pos = b + 1
  end
  return state == 'L', string.sub(s, sp + 1, nl - 1), keys, gens,
    string.sub(s, pos)
end
"""

READ: Final = _PARSE + """
-- KEYS: value, lease, epoch, tag gens...  ARGV: mode, token, lease_ttl_ms
-- mode: 0 plain read, 1 lease on miss, 2 lease even on a hit, 3 take over the lease on miss
-- reply: {status, value|stale|false, stored tag keys, gens...}
-- status 5: the value depends on tag keys not in KEYS; call again declaring them. A script
-- reads no key it was not given (Redis's contract; on a cluster, CROSSSLOT otherwise).
local mode = tonumber(ARGV[1])
local declared = {}
for i = 4, #KEYS do declared[KEYS[i]] = true end
local epoch = redis.call('GET', KEYS[3]) or '0'
local value, valid, stored, undeclared = false, false, {}, false
local wanted = {}
-- A value key of another type (an earlier version's hash) reads as absent.
local kind = redis.call('TYPE', KEYS[1]).ok
if kind ~= 'string' and kind ~= 'none' then redis.call('DEL', KEYS[1]) end
local s = kind == 'string' and redis.call('GET', KEYS[1])
if s then
  local live, e, keys, gens, data = parse(s)
  if data then
    value, valid, stored = data, live and e == epoch, keys
    for i = 1, #keys do
      if declared[keys[i]] then wanted[keys[i]] = gens[i] else undeclared = true end
    end
  end
end
if valid and undeclared then return {5, false, stored} end
local gens = {}
for i = 4, #KEYS do
  gens[i] = redis.call('GET', KEYS[i]) or '0'
  if wanted[KEYS[i]] and wanted[KEYS[i]] ~= gens[i] then valid = false end
end
if valid and mode ~= 2 then return {1, value, stored} end
local reply = {0, value, stored, epoch}
for i = 4, #KEYS do reply[#reply + 1] = gens[i] end
if mode == 3 then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  reply[1] = 2
elseif mode >= 1 then
  if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then
    reply[1] = valid and 4 or 2
  else
    reply[1] = valid and 1 or 3
  end
end
return reply
"""

FILL: Final = """
-- KEYS: value, lease, epoch, tag gens...  ARGV: token, ttl_ms, stored, epoch, gens...
-- `stored` is the header (recording ARGV's epoch and gens) and the envelope.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[4] then return 0 end
for i = 4, #KEYS do
  if (redis.call('GET', KEYS[i]) or '0') ~= ARGV[i + 1] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[2])
return 1
"""

WRITE: Final = """
-- KEYS: value, lease, epoch, tag gens...  ARGV: ttl_ms, envelope, channel, message
redis.call('DEL', KEYS[2])
local parts = {'L', tostring(#KEYS - 3), ' ', redis.call('GET', KEYS[3]) or '0', '\\n'}
for i = 4, #KEYS do
  parts[#parts + 1] = KEYS[i] .. '\\n' .. (redis.call('GET', KEYS[i]) or '0') .. '\\n'
end
parts[#parts + 1] = ARGV[2]
redis.call('SET', KEYS[1], table.concat(parts), 'PX', ARGV[1])
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return 1
"""

INVALIDATE: Final = """
-- KEYS: value1, lease1, ..., valueN, leaseN, gen keys...  ARGV: N, channel, message
local n = tonumber(ARGV[1])
for i = 1, n do
  local kind = redis.call('TYPE', KEYS[2 * i - 1]).ok
  if kind == 'string' then redis.call('SETRANGE', KEYS[2 * i - 1], 0, 'D')
  elseif kind ~= 'none' then redis.call('DEL', KEYS[2 * i - 1]) end
  redis.call('DEL', KEYS[2 * i])
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 2 * n + 1, #KEYS do
  local old = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  local gen = now
  if gen <= old then gen = old + 1 end
  redis.call('SET', KEYS[i], string.format('%.0f', gen))
end
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return 1
"""

RELEASE: Final = """
-- KEYS: lease  ARGV: token
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""

SCRIPTS: Final = {"READ": READ, "FILL": FILL, "WRITE": WRITE, "INVALIDATE": INVALIDATE,
                  "RELEASE": RELEASE}

# Commands whose first argument is not a key.
_KEYLESS = frozenset({"TIME", "PUBLISH"})
_CALL = re.compile(r"redis\.call\(\s*'(?P<cmd>[A-Za-z]+)'\s*(?:,\s*(?P<arg>[^,)]+))?")
_DECLARED = re.compile(r"^KEYS\[[^\]]+\]$")


def declared_keys_check(source: str) -> list[str]:
    """The `redis.call`s in a script whose key is not taken from KEYS (empty: all declared).

    Statically, so it runs without Redis: every keyed command must name its key as
    `KEYS[...]`, never a variable built from data (a value's stored tag keys, say)."""
    problems = []
    for match in _CALL.finditer(source):
        command, arg = match.group("cmd").upper(), (match.group("arg") or "").strip()
        if command not in _KEYLESS and not _DECLARED.match(arg):
            problems.append(f"redis.call('{match.group('cmd')}', {arg or '...'})")
    return problems
