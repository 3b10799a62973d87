-- Read-only: would store_copy accept this copy? Run for every recipient device of a send before
-- any copy is stored, so a send refused for one full queue stores nothing anywhere.
--
-- KEYS[1] order    sorted set  server id -> seq
-- KEYS[2] data     hash        (see store_copy.lua)
-- ARGV[1] idem field
-- ARGV[2] payload size (bytes)
-- ARGV[3] max copies     0 = no cap
-- ARGV[4] max bytes      0 = no cap
--
-- Returns 0 room (or the copy is already stored: a retry always succeeds), 1 full by copies,
-- 2 full by bytes.
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  return 0
end
local maxCopies = tonumber(ARGV[3])
local maxBytes = tonumber(ARGV[4])
if maxCopies > 0 and redis.call('ZCARD', KEYS[1]) >= maxCopies then
  return 1
end
local bytes = tonumber(redis.call('HGET', KEYS[2], 'bytes') or '0')
if maxBytes > 0 and bytes + tonumber(ARGV[2]) > maxBytes then
  return 2
end
return 0
