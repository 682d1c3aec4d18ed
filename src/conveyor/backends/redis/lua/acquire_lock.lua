--[[
  acquire_lock: take a named lock for a token, for a time (Backend.acquire_lock).

  KEYS[1] the lock's key
  ARGV[1] token   ARGV[2] ttl ms

  The lock's expiry is Redis's own PX: a holder that dies frees it when its time is up.
  The holder taking it again keeps it and gets the new ttl.
  Returns 0 when the token holds the lock now, else the holder's ms left (at least 1).
]]
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 0
end
local left = redis.call('PTTL', KEYS[1])
if left < 1 then return 1 end
return left
