-- Prepended to every cart script: argument checks, the checkout lock, the totals.
-- A script checks every argument and the lock before its first write: Redis does not roll
-- a script back, so a script that fails must fail before it has changed anything.
local function fail(code, message)
  error({err = code .. ' ' .. message})
end

local function int_arg(value, name, low, high)
  local n = tonumber(value)
  if n == nil or n ~= math.floor(n) or n < low or n > high then
    fail('CART_INVALID_' .. string.upper(name), name .. ' must be an integer from '
         .. string.format('%d', low) .. ' to ' .. string.format('%d', high))
  end
  return n
end

local function id_arg(value, name)
  if type(value) ~= 'string' or #value == 0 or #value > 64
     or not string.match(value, '^[%w%-]+$') then
    fail('CART_INVALID_' .. string.upper(name), name .. ' must be 1 to 64 letters, digits or dashes')
  end
  return value
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A checkout holds cart:lock:{userId} (30 s); only a call that presents its token may change
-- the cart meanwhile.
local function check_lock(lock_key, token)
  local holder = redis.call('GET', lock_key)
  if holder and holder ~= token then
    fail('CART_LOCKED', 'the cart is locked by a checkout in progress')
  end
end

local function item_count(cart_key)
  return tonumber(redis.call('HGET', cart_key, 'uniqueItems') or '0')
end

-- Recompute the totals from the items, refresh the TTLs and the index, count the change in
-- the day's metrics; an empty cart is deleted. Returns the cart (HGETALL).
local function save(cart_key, index_key, metrics_key, user_id, now, cart_ttl, metrics_ttl,
                    counter, by)
  local fields = redis.call('HGETALL', cart_key)
  local quantity, unique, subtotal = 0, 0, 0
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 5) == 'item:' then
      local item = cjson.decode(fields[i + 1])
      quantity = quantity + item.quantity
      unique = unique + 1
      subtotal = subtotal + item.quantity * item.unitPriceCents
    end
  end
  if unique == 0 then
    redis.call('DEL', cart_key)
    redis.call('ZREM', index_key, user_id)
  else
    redis.call('HSET', cart_key, 'itemCount', string.format('%d', quantity),
               'uniqueItems', string.format('%d', unique),
               'subtotalCents', string.format('%d', subtotal),
               'updatedAt', string.format('%d', now))
    redis.call('HSETNX', cart_key, 'createdAt', string.format('%d', now))
    redis.call('EXPIRE', cart_key, cart_ttl)
    redis.call('ZADD', index_key, now, user_id)
    redis.call('EXPIRE', index_key, cart_ttl)
  end
  redis.call('HINCRBY', metrics_key, counter, by)
  redis.call('EXPIRE', metrics_key, metrics_ttl)
  return redis.call('HGETALL', cart_key)
end
