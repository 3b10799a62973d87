-- Reads one page of a device queue in seq order. Copies past their expiry (not yet swept) are
-- skipped without counting against the limit: they will be reported to their sender as
-- expired, so they must not be delivered, and they must not produce empty pages either.
--
-- KEYS[1] order    sorted set  server id -> seq
-- KEYS[2] expiry   sorted set  server id -> expires-at (ms)
-- KEYS[3] data     hash        (see store_copy.lua)
-- ARGV[1] after seq      exclusive lower bound (0 = from the start)
-- ARGV[2] limit          at most this many copies (>= 1)
-- ARGV[3] now            ms since the epoch
-- ARGV[4] max bytes      payload budget of the page (0 = none); the first copy always fits
--
-- Returns {more (0|1), cursor seq, id1, seq1, expires1, meta1, payload1, id2, ...}; the next
-- page starts after the cursor (the seq of the last copy examined).
local limit = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local budget = tonumber(ARGV[4])
local out = {0, ARGV[1]}
local n = 0
local bytes = 0
local scanned = 0
local done = false
while not done do
  local want = limit - n + 1
  local range = redis.call('ZRANGE', KEYS[1], '(' .. out[2], '+inf', 'BYSCORE', 'LIMIT', 0, want, 'WITHSCORES')
  if #range == 0 then
    break
  end
  for i = 1, #range, 2 do
    if n == limit then
      out[1] = 1
      done = true
      break
    end
    local id = range[i]
    local exp = redis.call('ZSCORE', KEYS[2], id)
    if exp and tonumber(exp) > now then
      local f = redis.call('HMGET', KEYS[3], 'k:' .. id, 'p:' .. id)
      local size = string.len(f[2] or '')
      if budget > 0 and n > 0 and bytes + size > budget then
        out[1] = 1
        done = true
        break
      end
      bytes = bytes + size
      out[#out + 1] = id
      out[#out + 1] = range[i + 1]
      out[#out + 1] = exp
      out[#out + 1] = f[1]
      out[#out + 1] = f[2]
      n = n + 1
    end
    out[2] = range[i + 1]
    scanned = scanned + 1
  end
  if not done and #range < want * 2 then
    break
  end
  -- Bound the work of one call when a long run of copies has expired and awaits the sweeper.
  if not done and scanned >= 10000 then
    out[1] = 1
    done = true
  end
end
return out
