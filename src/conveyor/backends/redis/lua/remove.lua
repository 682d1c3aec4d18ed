--[[
  remove: delete one job that is not running (Backend.remove).
  KEYS[1] base   KEYS[2] active   KEYS[3] events
  ARGV[1] job id   ARGV[2] events maxlen
  Returns 0; -1 no such job; -3 the job is active (its worker owns it), or a job of its
  pending subtree is (a flow: docs/flows-storage.md, "Removing"). A damaged record (not a
  hash, or a state that names no list or set) is removed from wherever its id is.
  The job leaves its parent (which may become ready), and its pending subtree, in any
  queue, is removed with it.
  Events: removed (in each removed job's queue).
]]
--@include broken
--@include emit
--@include delete_jobs
--@include flow
local base = KEYS[1]
local id = ARGV[1]
local jobKey = base .. 'job:' .. id
local state = redis.pcall('HGET', jobKey, 'state')
local SETS = { prioritized = true, delayed = true, completed = true, failed = true,
  ['waiting-children'] = true }
if broken(state) then
  state = 'damaged'
elseif not state then
  if redis.call('EXISTS', jobKey) == 0 then return -1 end
  state = 'damaged'  -- a hash without its state field
elseif state ~= 'waiting' and state ~= 'active' and not SETS[state] then
  state = 'damaged'  -- a garbled state names no list or set it could be taken out of
end
if redis.call('HEXISTS', KEYS[2], id) == 1 then return -3 end
if not flow_leave(base, id, ARGV[2], true, nil) then return -3 end
if state == 'waiting' then
  redis.call('LREM', base .. 'wait', 0, id)
elseif state == 'damaged' or state == 'active' then
  -- the record cannot say where the job is: take its id out of every list and set
  redis.call('LREM', base .. 'wait', 0, id)
  for _, set in ipairs({ 'prioritized', 'delayed', 'completed', 'failed', 'waiting-children' }) do
    redis.call('ZREM', base .. set, id)
  end
else
  redis.call('ZREM', base .. state, id)
end
delete_jobs(base, { id })
emit(KEYS[3], ARGV[2], 'removed', id)
return 0
