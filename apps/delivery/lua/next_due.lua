-- Read-only: when the device queue next needs the sweeper.
--
-- KEYS[1] expiry   sorted set  server id -> expires-at (ms)
-- KEYS[2] outbox   sorted set  server id -> lease until (ms)
--
-- Returns the earliest copy expiry or outbox lease (ms), or -1 when the device holds nothing.
local firstCopy = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local firstOut = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local due = -1
if firstCopy[2] then due = firstCopy[2] end
if firstOut[2] and (due == -1 or tonumber(firstOut[2]) < tonumber(due)) then due = firstOut[2] end
return due
