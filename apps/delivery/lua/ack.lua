-- Deletes acknowledged copies from ONE device queue (ids of other devices are not in these keys,
-- so they are untouched; unknown ids are no-ops). For each acknowledged message copy (not for
-- receipts) a 'delivered' outbox entry is written in the same slot, atomically: the receipt to
-- the sender is enqueued from it afterwards and survives a crash in between (the sweeper
-- retries outbox entries whose lease passed).
--
-- KEYS[1] order    sorted set  server id -> seq
-- KEYS[2] expiry   sorted set  server id -> expires-at (ms)
-- KEYS[3] data     hash        (see store_copy.lua); outbox entries are o:<id> -> 'd|<meta>'
-- KEYS[4] outbox   sorted set  server id -> lease until (ms)
-- ARGV[1] lease until    ms; the caller owns the new outbox entries until then
-- ARGV[2..] server ids
--
-- Returns {removed count, next due (ms, -1 when the device holds nothing and its keys were
-- deleted), id1, entry1, id2, entry2, ...} for the new outbox entries.
local out = {0, -1}
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('ZREM', KEYS[1], id) == 1 then
    local f = redis.call('HMGET', KEYS[3], 'p:' .. id, 'k:' .. id, 'd:' .. id)
    local d = f[3] or 'r|'
    redis.call('HDEL', KEYS[3], 'p:' .. id, 'k:' .. id, 'd:' .. id, string.sub(d, 3))
    redis.call('HINCRBY', KEYS[3], 'bytes', 0 - string.len(f[1] or ''))
    redis.call('ZREM', KEYS[2], id)
    out[1] = out[1] + 1
    if string.sub(d, 1, 1) == 'm' then
      redis.call('ZADD', KEYS[4], ARGV[1], id)
      redis.call('HSET', KEYS[3], 'o:' .. id, 'd|' .. (f[2] or ''))
      out[#out + 1] = id
      out[#out + 1] = 'd|' .. (f[2] or '')
    end
  end
end
local firstCopy = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local firstOut = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
if firstCopy[2] then out[2] = firstCopy[2] end
if firstOut[2] and (out[2] == -1 or tonumber(firstOut[2]) < tonumber(out[2])) then out[2] = firstOut[2] end
if out[2] == -1 and redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
end
return out
