-- Stores one copy in one device queue, idempotently. All keys share the device's hash tag.
--
-- KEYS[1] order    sorted set  server id -> seq
-- KEYS[2] expiry   sorted set  server id -> expires-at (ms)
-- KEYS[3] data     hash        p:<id> payload, k:<id> meta, d:<id> "<kind>|<idem field>",
--                              <idem field> -> id, 'seq' last seq, 'bytes' payload bytes queued
-- ARGV[1] idem field     'i:<sender account>:<sender device>:<client message id>' or 'i:r:<kind>:<copy id>'
-- ARGV[2] server id      the id to use if the copy is new (UUID)
-- ARGV[3] kind           'm' message copy, 'r' receipt
-- ARGV[4] payload        bytes (ciphertext), counted against the byte cap
-- ARGV[5] meta           opaque to this script (JSON written by the service)
-- ARGV[6] expires at     ms since the epoch
-- ARGV[7] max copies     0 = no cap
-- ARGV[8] max bytes      0 = no cap
--
-- Returns {0, id, seq} stored, {1, id, seq, expires at, meta, payload} already stored (a retry:
-- the copy as first stored, nothing written),
-- {2, 'copies'|'bytes'} the queue is full (nothing written).
-- seq = max(last seq + 1, Redis server time in microseconds): increasing even after the queue
-- (and with it the 'seq' field) was deleted because it emptied.
local existing = redis.call('HGET', KEYS[3], ARGV[1])
if existing then
  return {1, existing, redis.call('ZSCORE', KEYS[1], existing), redis.call('ZSCORE', KEYS[2], existing),
    redis.call('HGET', KEYS[3], 'k:' .. existing), redis.call('HGET', KEYS[3], 'p:' .. existing)}
end
local size = string.len(ARGV[4])
local maxCopies = tonumber(ARGV[7])
local maxBytes = tonumber(ARGV[8])
if maxCopies > 0 and redis.call('ZCARD', KEYS[1]) >= maxCopies then
  return {2, 'copies'}
end
local bytes = tonumber(redis.call('HGET', KEYS[3], 'bytes') or '0')
if maxBytes > 0 and bytes + size > maxBytes then
  return {2, 'bytes'}
end
local t = redis.call('TIME')
local floor = tonumber(t[1]) * 1000000 + tonumber(t[2])
local last = tonumber(redis.call('HGET', KEYS[3], 'seq') or '0')
local seq = string.format('%.0f', math.max(last + 1, floor))
local id = ARGV[2]
redis.call('ZADD', KEYS[1], seq, id)
redis.call('ZADD', KEYS[2], ARGV[6], id)
redis.call('HSET', KEYS[3], 'p:' .. id, ARGV[4], 'k:' .. id, ARGV[5], 'd:' .. id, ARGV[3] .. '|' .. ARGV[1],
  ARGV[1], id, 'seq', seq)
redis.call('HINCRBY', KEYS[3], 'bytes', size)
return {0, id, seq}
