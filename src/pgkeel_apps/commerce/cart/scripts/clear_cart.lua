-- clear_cart: empty the cart (after an order is placed, or on request).
-- KEYS: cart:{userId}, cart:lock:{userId}, cart:metrics:{userId}:{date}, cart index
-- ARGV: user_id, lock_token, metrics_ttl_s
local user_id = id_arg(ARGV[1], 'user_id')
local metrics_ttl = int_arg(ARGV[3], 'metrics_ttl_s', 1, 31536000)
check_lock(KEYS[2], ARGV[2])
local existed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[4], user_id)
redis.call('HINCRBY', KEYS[3], 'clears', 1)
redis.call('EXPIRE', KEYS[3], metrics_ttl)
return existed
