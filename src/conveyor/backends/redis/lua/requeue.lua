--[[
  requeue: put a stopping worker's unfinished jobs back in line (Backend.requeue).
  KEYS[1] base   KEYS[2] active   KEYS[3] events   KEYS[4] marker
  ARGV[1] now (ms)   ARGV[2] events maxlen   then id, token per job
  A job moves only while it is active under the given token (fenced, like a finish): to
  the front of the wait list (or prioritized), its attempts and stall count untouched,
  since a worker that stops is not a job that stalled. A damaged record is confined.
  Returns the ids moved.
  Events: waiting (prev=active).
]]
--@include emit
--@include enqueue
--@include broken
--@include confine
local base = KEYS[1]
local now = tonumber(ARGV[1])
local maxlen = ARGV[2]
local moved = {}
for i = 3, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  if redis.call('HGET', KEYS[2], id) == token then
    redis.call('HDEL', KEYS[2], id)
    local jobKey = base .. 'job:' .. id
    local prio = redis.pcall('HGET', jobKey, 'priority')
    if broken(prio) then
      confine(base, id, now, maxlen, prio.err)
    elseif redis.call('EXISTS', jobKey) == 0 then
      confine(base, id, now, maxlen, 'its record is missing')
    else
      redis.call('HSET', jobKey, 'state', enqueue(base, id, tonumber(prio) or 0, true))
      emit(KEYS[3], maxlen, 'waiting', id, 'prev', 'active')
      moved[#moved + 1] = id
    end
  end
end
if #moved > 0 then redis.call('ZADD', KEYS[4], 0, '0') end
return moved
