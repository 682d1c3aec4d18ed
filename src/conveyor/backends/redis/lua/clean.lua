--[[
  clean: remove jobs of one state that are older than a grace period (Backend.clean).
  KEYS[1] base   KEYS[2] the state's key (wait list or a zset)   KEYS[3] events
  ARGV[1] state   ARGV[2] cutoff ms (finish time for completed/failed, creation time
  otherwise)   ARGV[3] limit   ARGV[4] events maxlen
  Returns the ids removed. Events: removed per job. Active jobs are never cleaned.
  Flows (docs/flows-storage.md): a job that had not finished leaves its parent and takes
  its pending subtree with it; a parent whose pending subtree has an active job is not
  cleaned.
]]
--@include broken
--@include emit
--@include delete_jobs
--@include flow
local base = KEYS[1]
local state = ARGV[1]
local cutoff = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local doomed = {}
if state == 'completed' or state == 'failed' then
  doomed = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', cutoff, 'LIMIT', 0, limit)
  if #doomed > 0 then redis.call('ZREM', KEYS[2], unpack(doomed)) end
  for i = 1, #doomed do flow_leave(base, doomed[i], ARGV[4], false, nil) end
else
  local ids
  if state == 'waiting' then
    ids = redis.call('LRANGE', KEYS[2], 0, -1)
  else
    ids = redis.call('ZRANGE', KEYS[2], 0, -1)
  end
  for i = 1, #ids do
    if #doomed >= limit then break end
    -- a damaged record (not a hash, or no readable timestamp) counts as oldest
    local f = redis.pcall('HMGET', base .. 'job:' .. ids[i], 'timestamp', 'state')
    local ts = (not broken(f) and tonumber(f[1])) or 0
    -- a job an earlier one moved (a parent made ready by its child's removal) is no
    -- longer in this state: left alone
    local moved = not broken(f) and f[2] and f[2] ~= state
    if ts <= cutoff and not moved and not flow_deleted[base .. ids[i]]
        and flow_leave(base, ids[i], ARGV[4], true, nil) then
      doomed[#doomed + 1] = ids[i]
      if state == 'waiting' then
        redis.call('LREM', KEYS[2], 0, ids[i])
      else
        redis.call('ZREM', KEYS[2], ids[i])
      end
    end
  end
end
delete_jobs(base, doomed)
for i = 1, #doomed do emit(KEYS[3], ARGV[4], 'removed', doomed[i]) end
return doomed
