--[[
  pause: pause or resume fetching from a queue (Backend.pause).
  KEYS[1] meta   KEYS[2] events   KEYS[3] marker
  ARGV[1] 1 to pause, 0 to resume   ARGV[2] events maxlen
  Waiting jobs stay where they are and report as paused.
  Returns 0. Events: paused, resumed.
]]
--@include emit
if ARGV[1] == '1' then
  redis.call('HSET', KEYS[1], 'paused', '1')
  emit(KEYS[2], ARGV[2], 'paused', '')
else
  redis.call('HDEL', KEYS[1], 'paused')
  redis.call('ZADD', KEYS[3], 0, '0')
  emit(KEYS[2], ARGV[2], 'resumed', '')
end
return 0
