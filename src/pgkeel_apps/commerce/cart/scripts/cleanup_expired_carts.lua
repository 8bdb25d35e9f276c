-- cleanup_expired_carts: delete the carts not changed for max_age_ms, and forget index
-- entries whose cart Redis already expired. The caller picks the candidates from the index
-- (ZRANGEBYSCORE) and names their keys, so the script touches only keys it is given; each
-- candidate is checked again here, atomically, so a cart changed since then is kept.
-- KEYS: cart index, cart:{userId} ...
-- ARGV: now_ms ('' for the server's clock), max_age_ms, user_id ... (one per cart key)
if #ARGV - 2 ~= #KEYS - 1 then
  fail('CART_INVALID_ARGUMENTS', 'one user id per cart key')
end
local now = now_ms()
if ARGV[1] ~= '' then
  now = int_arg(ARGV[1], 'now_ms', 0, 9007199254740991)
end
local max_age = int_arg(ARGV[2], 'max_age_ms', 0, 9007199254740991)
for i = 3, #ARGV do
  id_arg(ARGV[i], 'user_id')
end

local deleted, forgotten = 0, 0
for i = 2, #KEYS do
  local user_id = ARGV[i + 1]
  local updated = redis.call('HGET', KEYS[i], 'updatedAt')
  if not updated then
    forgotten = forgotten + redis.call('ZREM', KEYS[1], user_id)
  elseif tonumber(updated) <= now - max_age then
    deleted = deleted + redis.call('DEL', KEYS[i])
    redis.call('ZREM', KEYS[1], user_id)
  else
    redis.call('ZADD', KEYS[1], tonumber(updated), user_id)
  end
end
return {deleted, forgotten}
