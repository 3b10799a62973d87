-- Stores one chunk of a history blob. Chunks arrive in order (0, 1, ...); re-sending a chunk
-- already stored is an idempotent no-op. Both keys share the blob's hash tag. The first chunk
-- creates the blob and fixes its header (uploader, recipient, totals) and its TTL; later chunks
-- must repeat the same header.
--
-- KEYS[1] meta     hash  up (uploader 'acc:dev'), to (recipient 'acc:dev'), chunks, size,
--                        exp (expires at, ms), got (chunks stored), bytes (bytes stored),
--                        fetched (distinct chunks fetched), f:<index> fetched marks
-- KEYS[2] chunks   hash  <index> -> bytes
-- ARGV[1] uploader       'acc:dev'
-- ARGV[2] recipient      'acc:dev'
-- ARGV[3] total chunks   >= 1
-- ARGV[4] total size     bytes, <= ARGV[9]
-- ARGV[5] chunk index    0 .. total chunks - 1
-- ARGV[6] chunk bytes
-- ARGV[7] expires at     ms since the epoch (by the service's clock)
-- ARGV[8] ttl            ms (Redis-side expiry of both keys, a backstop to ARGV[7])
-- ARGV[9] max size       bytes
-- ARGV[10] mode          'new' (chunk 0 of a new blob: the id must be unused) or 'existing'
--
-- Returns {0, chunks stored, complete (0|1), created (0|1)}, or {1, reason} with reason
-- 'not_found' (no such blob), 'header' (different header, or id in use), 'too_large', 'order'
-- (not the next chunk) or 'size' (sizes do not add up); nothing is written then.
local meta = redis.call('HMGET', KEYS[1], 'up', 'to', 'chunks', 'size')
local created = 0
if meta[1] then
  if ARGV[10] == 'new' or meta[1] ~= ARGV[1] or meta[2] ~= ARGV[2] or meta[3] ~= ARGV[3] or meta[4] ~= ARGV[4] then
    return {1, 'header'}
  end
else
  if ARGV[10] ~= 'new' then
    return {1, 'not_found'}
  end
  if tonumber(ARGV[4]) > tonumber(ARGV[9]) then
    return {1, 'too_large'}
  end
  if ARGV[5] ~= '0' then
    return {1, 'order'}
  end
end
local total = tonumber(ARGV[3])
if redis.call('HEXISTS', KEYS[2], ARGV[5]) == 0 then
  local got = tonumber(redis.call('HGET', KEYS[1], 'got') or '0')
  if tonumber(ARGV[5]) ~= got then
    return {1, 'order'}
  end
  local bytes = tonumber(redis.call('HGET', KEYS[1], 'bytes') or '0')
  local len = string.len(ARGV[6])
  if bytes + len > tonumber(ARGV[4]) or (got + 1 == total and bytes + len ~= tonumber(ARGV[4])) then
    return {1, 'size'}
  end
  if not meta[1] then
    redis.call('HSET', KEYS[1], 'up', ARGV[1], 'to', ARGV[2], 'chunks', ARGV[3], 'size', ARGV[4], 'exp', ARGV[7],
      'got', 0, 'bytes', 0, 'fetched', 0)
    redis.call('PEXPIRE', KEYS[1], ARGV[8])
    created = 1
  end
  redis.call('HSET', KEYS[2], ARGV[5], ARGV[6])
  redis.call('HINCRBY', KEYS[1], 'bytes', len)
  redis.call('HINCRBY', KEYS[1], 'got', 1)
  redis.call('PEXPIRE', KEYS[2], redis.call('PTTL', KEYS[1]))
end
local stored = tonumber(redis.call('HGET', KEYS[1], 'got'))
return {0, stored, stored == total and 1 or 0, created}
