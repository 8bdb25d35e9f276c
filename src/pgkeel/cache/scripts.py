"""The Lua scripts behind the Redis backend, one per atomic operation.

Key layout (all of one organization share the `{org}` hash tag, so each script touches one
Redis Cluster slot):

    <prefix>{org}:<resource>:<id>:<action>         HASH v=<envelope> e=<epoch>
                                                        t:<genkey>=<gen> ... [d=1]
    <prefix>{org}:<resource>:<id>:<action>:!lease  lease token (PX lease TTL)
    <prefix>{org}:!tag:<name>                      tag generation
    <prefix>{org}:!epoch                           org epoch

A value is valid when it has no `d` (dead) field, its `e` equals the org epoch and each
`t:<genkey>` equals that generation. Every script touches only the keys it is given in KEYS
(`declared_keys_check` verifies the sources statically; the tests run it without Redis), and
all of them share the caller's `{org}` hash tag. Generations are bumped to max(now in microseconds,
old + 1), so a generation never repeats even if its key was evicted: a value can never become
valid again after an invalidation.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["FILL", "HIT", "INVALIDATE", "NEEDS_TAGS", "READ", "RELEASE", "SCRIPTS", "WRITE",
           "declared_keys_check"]

NEEDS_TAGS: Final = 5
"""READ's status when the stored value depends on tag keys the call did not declare."""

HIT: Final = """
-- KEYS: value, epoch, tag gens...  (no ARGV)
-- The read of a hit, and nothing else: the value's one hash read, the epoch and the
-- generations it recorded. reply: {value, stored tag keys...} when the value is valid and
-- depends on no tag outside KEYS; 0 when it depends on one (READ asks for it); false when
-- there is no valid value (a plain read's miss; a look-aside read then runs READ, which
-- leases or reports the lease and the stale value).
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return false end
local epoch = redis.call('GET', KEYS[2]) or '0'
local reply = {false}
for i = 1, #fields, 2 do
  local f, x = fields[i], fields[i + 1]
  if f == 'v' then reply[1] = x
  elseif f == 'd' then return false
  elseif f == 'e' then if x ~= epoch then return false end
  elseif string.sub(f, 1, 2) == 't:' then
    local k, declared = string.sub(f, 3), false
    for j = 3, #KEYS do
      if KEYS[j] == k then
        if (redis.call('GET', KEYS[j]) or '0') ~= x then return false end
        declared = true
        break
      end
    end
    if not declared then return 0 end
    reply[#reply + 1] = k
  end
end
if not reply[1] then return false end
return reply
"""

READ: Final = """
-- KEYS: value, lease, epoch, tag gens...  ARGV: mode, token, lease_ttl_ms
-- mode: 0 plain read, 1 lease on miss, 2 lease even on a hit, 3 take over the lease on miss
-- reply: {status, value|stale|false, stored tag keys, gens...}
-- status 5: the value depends on tag keys not in KEYS; call again declaring them. A script
-- reads no key it was not given (Redis's contract; on a cluster, CROSSSLOT otherwise).
local mode = tonumber(ARGV[1])
local declared = {}
for i = 4, #KEYS do declared[KEYS[i]] = true end
local epoch = redis.call('GET', KEYS[3]) or '0'
local fields = redis.call('HGETALL', KEYS[1])
local value, valid, stored, undeclared = false, false, {}, false
local wanted = {}
if #fields > 0 then
  valid = true
  for i = 1, #fields, 2 do
    local f, x = fields[i], fields[i + 1]
    if f == 'v' then value = x
    elseif f == 'd' then valid = false
    elseif f == 'e' then if x ~= epoch then valid = false end
    elseif string.sub(f, 1, 2) == 't:' then
      local k = string.sub(f, 3)
      stored[#stored + 1] = k
      if declared[k] then wanted[k] = x else undeclared = true end
    end
  end
  if not value then valid = false end
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
-- KEYS: value, lease, epoch, tag gens...  ARGV: token, ttl_ms, data, epoch, gens...
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[4] then return 0 end
for i = 4, #KEYS do
  if (redis.call('GET', KEYS[i]) or '0') ~= ARGV[i + 1] then return 0 end
end
local fields = {'v', ARGV[3], 'e', ARGV[4]}
for i = 4, #KEYS do
  fields[#fields + 1] = 't:' .. KEYS[i]
  fields[#fields + 1] = ARGV[i + 1]
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

WRITE: Final = """
-- KEYS: value, lease, epoch, tag gens...  ARGV: ttl_ms, data, channel, message
redis.call('DEL', KEYS[2])
local fields = {'v', ARGV[2], 'e', redis.call('GET', KEYS[3]) or '0'}
for i = 4, #KEYS do
  fields[#fields + 1] = 't:' .. KEYS[i]
  fields[#fields + 1] = redis.call('GET', KEYS[i]) or '0'
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return 1
"""

INVALIDATE: Final = """
-- KEYS: value1, lease1, ..., valueN, leaseN, gen keys...  ARGV: N, channel, message
local n = tonumber(ARGV[1])
for i = 1, n do
  if redis.call('EXISTS', KEYS[2 * i - 1]) == 1 then
    redis.call('HSET', KEYS[2 * i - 1], 'd', '1')
  end
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

SCRIPTS: Final = {"HIT": HIT, "READ": READ, "FILL": FILL, "WRITE": WRITE, "INVALIDATE": INVALIDATE,
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
