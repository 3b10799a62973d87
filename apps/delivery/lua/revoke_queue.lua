-- Deletes every key of one device queue (the device was revoked): copies, idempotency index,
-- counters and pending outbox entries.
--
-- KEYS[1] order    sorted set
-- KEYS[2] expiry   sorted set
-- KEYS[3] data     hash
-- KEYS[4] outbox   sorted set
--
-- Returns the number of copies that were queued.
local n = redis.call('ZCARD', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return n
