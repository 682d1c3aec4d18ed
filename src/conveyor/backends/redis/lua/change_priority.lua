--[[
  change_priority: re-rank one job (Backend.change_priority).
  KEYS[1] base   KEYS[2] wait   KEYS[3] prioritized
  ARGV[1] job id   ARGV[2] new priority (0 = none)
  A job that waits moves between the wait list and the prioritized set; a job in any
  other state keeps its place and takes the priority when it next waits.
  Returns 0, or -1 when the job does not exist, -4 when its record is damaged.
]]
--@include broken
--@include enqueue
local base = KEYS[1]
local id = ARGV[1]
local jobKey = base .. 'job:' .. id
local state = redis.pcall('HGET', jobKey, 'state')
if broken(state) then return -4 end
if not state then return -1 end
local prio = tonumber(ARGV[2])
redis.call('HSET', jobKey, 'priority', prio)
local waiting = false
if state == 'waiting' then
  waiting = redis.call('LREM', KEYS[2], 0, id) > 0
elseif state == 'prioritized' then
  waiting = redis.call('ZREM', KEYS[3], id) > 0
end
if waiting then
  redis.call('HSET', jobKey, 'state', enqueue(base, id, prio, false))
end
return 0
