--[[
  drain: remove every job that has not started (Backend.drain).
  KEYS[1] base   KEYS[2] wait   KEYS[3] prioritized   KEYS[4] delayed   KEYS[5] events
  ARGV[1] 1 to include delayed jobs   ARGV[2] events maxlen
  Returns how many jobs were removed. Events: removed per job, then drained.
  Each removed job leaves its parent in a flow, and its pending subtree goes with it
  (lib/flow.lua).
]]
--@include emit
--@include delete_jobs
--@include flow
local base = KEYS[1]
local ids = redis.call('LRANGE', KEYS[2], 0, -1)
local prio = redis.call('ZRANGE', KEYS[3], 0, -1)
for i = 1, #prio do ids[#ids + 1] = prio[i] end
redis.call('DEL', KEYS[2], KEYS[3])
if ARGV[1] == '1' then
  local delayed = redis.call('ZRANGE', KEYS[4], 0, -1)
  for i = 1, #delayed do ids[#ids + 1] = delayed[i] end
  redis.call('DEL', KEYS[4])
end
for i = 1, #ids do
  if not flow_deleted[base .. ids[i]] then
    flow_leave(base, ids[i], ARGV[2], false, nil)
    delete_jobs(base, { ids[i] })
    emit(KEYS[5], ARGV[2], 'removed', ids[i])
  end
end
emit(KEYS[5], ARGV[2], 'drained', '')
return #ids
