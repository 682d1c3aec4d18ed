--[[
  extend_lock: hold a named lock longer, if the token still holds it (Backend.extend_lock).

  KEYS[1] the lock's key
  ARGV[1] token   ARGV[2] ttl ms (from now)

  Returns 1 when extended, 0 when the token no longer holds the lock (its time ran out,
  and another token may hold it now).
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
