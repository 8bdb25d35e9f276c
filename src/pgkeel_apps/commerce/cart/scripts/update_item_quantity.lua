-- update_item_quantity: set the quantity of a product already in the cart (0 removes it).
-- KEYS: cart:{userId}, cart:lock:{userId}, cart:metrics:{userId}:{date}, cart index
-- ARGV: user_id, product_id, quantity, lock_token, max_quantity, cart_ttl_s, metrics_ttl_s
local user_id = id_arg(ARGV[1], 'user_id')
local product_id = id_arg(ARGV[2], 'product_id')
local max_quantity = int_arg(ARGV[5], 'max_quantity', 1, 999)
local quantity = int_arg(ARGV[3], 'quantity', 0, 999)
local cart_ttl = int_arg(ARGV[6], 'cart_ttl_s', 1, 31536000)
local metrics_ttl = int_arg(ARGV[7], 'metrics_ttl_s', 1, 31536000)
check_lock(KEYS[2], ARGV[4])
if quantity > max_quantity then
  fail('CART_QUANTITY_LIMIT', 'at most ' .. string.format('%d', max_quantity)
       .. ' of one product per cart')
end

local field = 'item:' .. product_id
local existing = redis.call('HGET', KEYS[1], field)
if not existing then
  fail('CART_ITEM_NOT_FOUND', 'that product is not in the cart')
end
local now = now_ms()
if quantity == 0 then
  redis.call('HDEL', KEYS[1], field)
else
  local item = cjson.decode(existing)
  item.quantity = quantity
  item.updatedAt = now
  redis.call('HSET', KEYS[1], field, cjson.encode(item))
end
return save(KEYS[1], KEYS[4], KEYS[3], user_id, now, cart_ttl, metrics_ttl, 'updates', 1)
