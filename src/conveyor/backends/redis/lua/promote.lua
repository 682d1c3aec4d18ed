--[[
  promote: make a delayed job ready now (Backend.promote).
  KEYS[1] base   KEYS[2] delayed   KEYS[3] events   KEYS[4] marker
  ARGV[1] job id   ARGV[2] events maxlen
  Returns 0; -1 no such job; -3 the job is not delayed; -4 its record is damaged. Events: waiting.
]]
--@include broken
--@include emit
--@include enqueue
local base = KEYS[1]
local id = ARGV[1]
local jobKey = base .. 'job:' .. id
if redis.call('EXISTS', jobKey) == 0 then return -1 end
local prio = redis.pcall('HGET', jobKey, 'priority')
if broken(prio) then return -4 end
if redis.call('ZREM', KEYS[2], id) == 0 then return -3 end
prio = tonumber(prio) or 0
redis.call('HSET', jobKey, 'state', enqueue(base, id, prio, false), 'delay', 0)
redis.call('ZADD', KEYS[4], 0, '0')
emit(KEYS[3], ARGV[2], 'waiting', id, 'prev', 'delayed')
return 0
