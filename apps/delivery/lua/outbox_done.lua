-- Removes outbox entries whose receipt is now enqueued in the sender's queue, and deletes the
-- device's keys if nothing is left.
--
-- KEYS[1] order    sorted set  server id -> seq
-- KEYS[2] expiry   sorted set  server id -> expires-at (ms)
-- KEYS[3] data     hash        (see store_copy.lua)
-- KEYS[4] outbox   sorted set  server id -> lease until (ms)
-- ARGV[1..] server ids
--
-- Returns the next due time (ms) of the device, or -1 when it holds nothing (keys deleted).
for _, id in ipairs(ARGV) do
  redis.call('ZREM', KEYS[4], id)
  redis.call('HDEL', KEYS[3], 'o:' .. id)
end
local firstCopy = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local firstOut = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
local due = -1
if firstCopy[2] then due = firstCopy[2] end
if firstOut[2] and (due == -1 or tonumber(firstOut[2]) < tonumber(due)) then due = firstOut[2] end
if due == -1 and redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
end
return due
