-- Hands one chunk of a complete history blob to the ONE device it is addressed to; deletes the
-- blob once every chunk has been fetched at least once.
--
-- KEYS[1] meta     hash  (see blob_put_chunk.lua)
-- KEYS[2] chunks   hash  <index> -> bytes
-- ARGV[1] requester      'acc:dev'
-- ARGV[2] chunk index
-- ARGV[3] now            ms since the epoch (service clock)
--
-- Returns {0, chunk bytes, total chunks, total size, deleted (0|1)}, or {1} not found (never
-- existed, expired, already fully fetched; {1, recipient} when this call deleted an expired
-- blob), {2} forbidden (another device), {3} not complete yet, {4} index out of range.
local meta = redis.call('HMGET', KEYS[1], 'to', 'chunks', 'size', 'exp', 'got')
if not meta[1] then
  return {1}
end
if tonumber(meta[4]) <= tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1], KEYS[2])
  return {1, meta[1]}
end
if meta[1] ~= ARGV[1] then
  return {2}
end
if meta[5] ~= meta[2] then
  return {3}
end
local index = tonumber(ARGV[2])
if index >= tonumber(meta[2]) then
  return {4}
end
local chunk = redis.call('HGET', KEYS[2], ARGV[2])
if not chunk then
  return {1}
end
local deleted = 0
if redis.call('HSETNX', KEYS[1], 'f:' .. ARGV[2], 1) == 1 then
  if redis.call('HINCRBY', KEYS[1], 'fetched', 1) == tonumber(meta[2]) then
    redis.call('DEL', KEYS[1], KEYS[2])
    deleted = 1
  end
end
return {0, chunk, meta[2], meta[3], deleted}
