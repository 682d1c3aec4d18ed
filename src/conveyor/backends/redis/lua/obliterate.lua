--[[
  obliterate: delete a queue and its jobs, a chunk per call (Backend.obliterate).
  KEYS[1] base   KEYS[2] meta   KEYS[3] active
  ARGV[1] 1 to proceed although jobs are active   ARGV[2] jobs to delete in this call
  ARGV[3] events maxlen (for the queues of flows that reach into this one)
  The queue is paused by the first call so nothing starts while chunks are deleted.
  Returns how many jobs remain (call again until 0), or -3 when jobs are active and
  ARGV[1] is not 1. The id counter (base .. 'id') is kept: generated ids never repeat on
  a backend, so an id that outlives the queue (in a log, a parent's record, a caller's
  table) cannot name a new job.
  Flows: each job leaves its parent in another queue, and its pending children in other
  queues are removed (lib/flow.lua); the rest of its flow in this queue goes with it.
]]
--@include delete_jobs
--@include flow
local base = KEYS[1]
if ARGV[1] ~= '1' and redis.call('HLEN', KEYS[3]) > 0 then return -3 end
redis.call('HSET', KEYS[2], 'paused', '1')
local budget = tonumber(ARGV[2])
local function leave(ids)
  for i = 1, #ids do flow_leave(base, ids[i], ARGV[3], false, base) end
end
local lists = { 'wait' }
local sets = { 'prioritized', 'delayed', 'completed', 'failed', 'waiting-children' }
for _, name in ipairs(lists) do
  local key = base .. name
  while budget > 0 do
    local ids = redis.call('LRANGE', key, 0, math.min(budget, 1000) - 1)
    if #ids == 0 then break end
    leave(ids)
    delete_jobs(base, ids)
    redis.call('LTRIM', key, #ids, -1)
    budget = budget - #ids
  end
end
for _, name in ipairs(sets) do
  local key = base .. name
  while budget > 0 do
    local ids = redis.call('ZRANGE', key, 0, math.min(budget, 1000) - 1)
    if #ids == 0 then break end
    leave(ids)
    delete_jobs(base, ids)
    redis.call('ZREM', key, unpack(ids))
    budget = budget - #ids
  end
end
if budget > 0 then
  local active = redis.call('HKEYS', KEYS[3])
  leave(active)
  delete_jobs(base, active)
  budget = budget - #active
  redis.call('DEL', KEYS[3])
end
if budget > 0 then
  redis.call('DEL', base .. 'pc', base .. 'events', base .. 'marker',
    base .. 'stalled-check', KEYS[2])
  return 0
end
return 1
