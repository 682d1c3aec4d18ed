--[[
  release_lock: free a named lock if the token holds it (Backend.release_lock).

  KEYS[1] the lock's key   KEYS[2] its release list (waiters block on it, BLPOP)
  ARGV[1] token   ARGV[2] how long a release note is kept for a waiter (ms)

  Only the holder's token frees the lock: a holder whose time ran out cannot free the
  lock of the next one. A release leaves one note in the list (capped at one, with its
  own PX), so that one blocked waiter wakes at once and tries again.
  Returns 1 when released, 0 when the token did not hold the lock.
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('LPUSH', KEYS[2], '1')
redis.call('LTRIM', KEYS[2], 0, 0)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
