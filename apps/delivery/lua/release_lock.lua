-- Releases a sweep lock only if this instance still holds it.
--
-- KEYS[1] lock     string  owner token (set with SET NX PX)
-- ARGV[1] token    this instance's token
--
-- Returns 1 released, 0 not held (expired, or another instance holds it now).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
