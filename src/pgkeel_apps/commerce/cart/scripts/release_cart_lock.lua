-- Release cart:lock:{userId} only when it still holds this caller's token (a lock that
-- expired and was taken by another checkout is not released by the first).
-- KEYS: cart:lock:{userId}   ARGV: token
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
