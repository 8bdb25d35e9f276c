-- remove_item_from_cart: take a product out of the cart.
-- KEYS: cart:{userId}, cart:lock:{userId}, cart:metrics:{userId}:{date}, cart index
-- ARGV: user_id, product_id, lock_token, cart_ttl_s, metrics_ttl_s
local user_id = id_arg(ARGV[1], 'user_id')
local product_id = id_arg(ARGV[2], 'product_id')
local cart_ttl = int_arg(ARGV[4], 'cart_ttl_s', 1, 31536000)
local metrics_ttl = int_arg(ARGV[5], 'metrics_ttl_s', 1, 31536000)
check_lock(KEYS[2], ARGV[3])

if redis.call('HDEL', KEYS[1], 'item:' .. product_id) == 0 then
  fail('CART_ITEM_NOT_FOUND', 'that product is not in the cart')
end
return save(KEYS[1], KEYS[4], KEYS[3], user_id, now_ms(), cart_ttl, metrics_ttl, 'removes', 1)
