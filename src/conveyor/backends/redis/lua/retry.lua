--[[
  retry: move failed jobs back to waiting with a fresh set of attempts (Backend.retry).
  KEYS[1] base   KEYS[2] failed   KEYS[3] events   KEYS[4] marker
  ARGV[1] events maxlen   ARGV[2] '1' for every failed job (ids ignored)   ARGV[3] now (ms)
  then job ids
  Earlier attempts' errors are kept. A damaged record stays failed.
  Flows (docs/flows-storage.md, "Retrying"): a parent with pending children waits for
  them again (waiting-children); a child becomes its parent's pending child again, and a
  parent that its failure failed waits again in turn.
  Returns how many jobs moved. Events: waiting (waiting-children for such a parent).
]]
--@include broken
--@include emit
--@include enqueue
--@include flow
local base = KEYS[1]
local ids = {}
if ARGV[2] == '1' then
  ids = redis.call('ZRANGE', KEYS[2], 0, -1)
else
  for i = 4, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local moved = 0
for i = 1, #ids do
  local id = ids[i]
  local jobKey = base .. 'job:' .. id
  local prio = redis.pcall('HGET', jobKey, 'priority')
  -- a damaged record stays failed: retrying cannot make it runnable
  if not broken(prio) and redis.call('ZREM', KEYS[2], id) == 1 then
    flow_retry(base, id, ARGV[1], tonumber(ARGV[3]))
    redis.call('HSET', jobKey, 'attemptsMade', 0, 'stalledCounter', 0)
    redis.call('HDEL', jobKey, 'finishedOn', 'processedOn', 'failedReason', 'returnvalue',
      'failedBy')
    if redis.call('SCARD', base .. 'deps:' .. id) > 0 then
      redis.call('HSET', jobKey, 'state', 'waiting-children')
      redis.call('ZADD', base .. 'waiting-children', ARGV[3], id)
      emit(KEYS[3], ARGV[1], 'waiting-children', id, 'prev', 'failed')
    else
      redis.call('HSET', jobKey, 'state', enqueue(base, id, tonumber(prio) or 0, false))
      emit(KEYS[3], ARGV[1], 'waiting', id, 'prev', 'failed')
    end
    moved = moved + 1
  end
end
if moved > 0 then redis.call('ZADD', KEYS[4], 0, '0') end
return moved
