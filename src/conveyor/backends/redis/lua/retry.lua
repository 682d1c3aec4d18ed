--[[
  retry: move failed jobs back to waiting with a fresh set of attempts (Backend.retry).
  KEYS[1] base   KEYS[2] failed   KEYS[3] events   KEYS[4] marker
  ARGV[1] events maxlen   ARGV[2] '1' for every failed job (ids ignored), then job ids
  Earlier attempts' errors are kept. A damaged record stays failed.
  Returns how many jobs moved. Events: waiting.
]]
--@include broken
--@include emit
--@include enqueue
local base = KEYS[1]
local ids = {}
if ARGV[2] == '1' then
  ids = redis.call('ZRANGE', KEYS[2], 0, -1)
else
  for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local moved = 0
for i = 1, #ids do
  local id = ids[i]
  local jobKey = base .. 'job:' .. id
  local prio = redis.pcall('HGET', jobKey, 'priority')
  -- a damaged record stays failed: retrying cannot make it runnable
  if not broken(prio) and redis.call('ZREM', KEYS[2], id) == 1 then
    prio = tonumber(prio) or 0
    local state = enqueue(base, id, prio, false)
    redis.call('HSET', jobKey, 'state', state, 'attemptsMade', 0, 'stalledCounter', 0)
    redis.call('HDEL', jobKey, 'finishedOn', 'processedOn', 'failedReason', 'returnvalue')
    emit(KEYS[3], ARGV[1], 'waiting', id, 'prev', 'failed')
    moved = moved + 1
  end
end
if moved > 0 then redis.call('ZADD', KEYS[4], 0, '0') end
return moved
