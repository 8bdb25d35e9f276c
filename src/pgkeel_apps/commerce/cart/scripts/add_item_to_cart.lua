-- add_item_to_cart: add `quantity` of a product (or more of one already in the cart).
-- KEYS: cart:{userId}, cart:lock:{userId}, cart:metrics:{userId}:{date}, cart index
-- ARGV: user_id, product_id, quantity, unit_price_cents, name, lock_token, max_quantity,
--       max_items, cart_ttl_s, metrics_ttl_s
local user_id = id_arg(ARGV[1], 'user_id')
local product_id = id_arg(ARGV[2], 'product_id')
local max_quantity = int_arg(ARGV[7], 'max_quantity', 1, 999)
local quantity = int_arg(ARGV[3], 'quantity', 1, 999)
local price = int_arg(ARGV[4], 'unit_price_cents', 1, 10000000000)
local name = ARGV[5]
if type(name) ~= 'string' or #name == 0 or #name > 800 then
  fail('CART_INVALID_NAME', 'name must be 1 to 800 bytes')
end
local max_items = int_arg(ARGV[8], 'max_items', 1, 100)
local cart_ttl = int_arg(ARGV[9], 'cart_ttl_s', 1, 31536000)
local metrics_ttl = int_arg(ARGV[10], 'metrics_ttl_s', 1, 31536000)
check_lock(KEYS[2], ARGV[6])
local function over_limit()
  fail('CART_QUANTITY_LIMIT', 'at most ' .. string.format('%d', max_quantity)
       .. ' of one product per cart')
end

local field = 'item:' .. product_id
local now = now_ms()
local existing = redis.call('HGET', KEYS[1], field)
local item
if existing then
  item = cjson.decode(existing)
  if item.quantity + quantity > max_quantity then over_limit() end
  item.quantity = item.quantity + quantity
  item.unitPriceCents = price
  item.name = name
  item.updatedAt = now
else
  if quantity > max_quantity then over_limit() end
  if item_count(KEYS[1]) >= max_items then
    fail('CART_TOO_MANY_ITEMS', 'at most ' .. string.format('%d', max_items)
         .. ' different products per cart')
  end
  item = {productId = product_id, name = name, quantity = quantity, unitPriceCents = price,
          addedAt = now, updatedAt = now}
end
redis.call('HSET', KEYS[1], field, cjson.encode(item))
redis.call('HINCRBY', KEYS[3], 'itemsAdded', quantity)
return save(KEYS[1], KEYS[4], KEYS[3], user_id, now, cart_ttl, metrics_ttl, 'adds', 1)
