-- Lists the oldest copies of one device queue stored at least a minimum age ago that have not
-- expired: the gateway's check for copies whose live push never reached it. Read-only.
--
-- KEYS[1] order    sorted set  server id -> seq
-- KEYS[2] expiry   sorted set  server id -> expires-at (ms)
-- ARGV[1] min age        ms
-- ARGV[2] limit          at most this many copies (>= 1)
-- ARGV[3] now            ms since the epoch (for expiry, the service's clock as in read_page)
--
-- A copy's seq is max(last seq + 1, Redis server time in microseconds when it was stored) (see
-- store_copy.lua), never earlier than its store time: a copy with seq <= (server time - min age)
-- was stored at least min age ago. The age is measured on the clock the seqs come from.
--
-- Returns {id1, seq1, id2, seq2, ...} in increasing seq.
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000000 + tonumber(t[2]) - tonumber(ARGV[1]) * 1000
local limit = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local out = {}
if cutoff < 1 then
  return out
end
local max = string.format('%.0f', cutoff)
local offset = 0
-- Expired copies awaiting the sweeper are skipped; bound the work of one call over a long run of them.
while #out < limit * 2 and offset < 1000 do
  local range = redis.call('ZRANGE', KEYS[1], '-inf', max, 'BYSCORE', 'LIMIT', offset, limit, 'WITHSCORES')
  for i = 1, #range, 2 do
    local exp = redis.call('ZSCORE', KEYS[2], range[i])
    if exp and tonumber(exp) > now and #out < limit * 2 then
      out[#out + 1] = range[i]
      out[#out + 1] = range[i + 1]
    end
  end
  if #range < limit * 2 then
    break
  end
  offset = offset + limit
end
return out
