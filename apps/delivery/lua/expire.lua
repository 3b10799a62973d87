-- One sweep step for ONE device queue: moves copies past their expiry out of the queue into the
-- device's outbox (an 'expired' entry per message copy; expired receipts are just dropped), and
-- claims outbox entries whose lease passed (left by a crashed instance). Atomic, so of several
-- sweepers running at once exactly one moves each copy; the receipt enqueued from an outbox
-- entry is idempotent on the copy id, so a re-claimed entry never produces a second receipt.
--
-- KEYS[1] order    sorted set  server id -> seq
-- KEYS[2] expiry   sorted set  server id -> expires-at (ms)
-- KEYS[3] data     hash        (see store_copy.lua); outbox entries are o:<id> -> 'e|<meta>'
-- KEYS[4] outbox   sorted set  server id -> lease until (ms)
-- ARGV[1] now            ms since the epoch
-- ARGV[2] limit          at most this many copies expired and outbox entries claimed
-- ARGV[3] lease until    ms; the caller owns the returned outbox entries until then
--
-- Returns {expired count, next due (ms, -1 when the device holds nothing), id1, entry1, ...}
-- with the outbox entries now leased to the caller.
local now = ARGV[1]
local limit = tonumber(ARGV[2])
local out = {0, -1}
local due = redis.call('ZRANGE', KEYS[2], '-inf', now, 'BYSCORE', 'LIMIT', 0, limit)
for _, id in ipairs(due) do
  local f = redis.call('HMGET', KEYS[3], 'p:' .. id, 'k:' .. id, 'd:' .. id)
  local d = f[3] or 'r|'
  redis.call('HDEL', KEYS[3], 'p:' .. id, 'k:' .. id, 'd:' .. id, string.sub(d, 3))
  redis.call('HINCRBY', KEYS[3], 'bytes', 0 - string.len(f[1] or ''))
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  out[1] = out[1] + 1
  if string.sub(d, 1, 1) == 'm' then
    redis.call('HSET', KEYS[3], 'o:' .. id, 'e|' .. (f[2] or ''))
    redis.call('ZADD', KEYS[4], now, id)
  end
end
local claim = redis.call('ZRANGE', KEYS[4], '-inf', now, 'BYSCORE', 'LIMIT', 0, limit)
for _, id in ipairs(claim) do
  redis.call('ZADD', KEYS[4], ARGV[3], id)
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[3], 'o:' .. id) or ''
end
local firstCopy = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local firstOut = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
if firstCopy[2] then out[2] = firstCopy[2] end
if firstOut[2] and (out[2] == -1 or tonumber(firstOut[2]) < tonumber(out[2])) then out[2] = firstOut[2] end
if out[2] == -1 and redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
end
return out
