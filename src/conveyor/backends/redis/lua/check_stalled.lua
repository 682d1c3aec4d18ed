--[[
  check_stalled: recover active jobs whose worker lease has expired (Backend.check_stalled).

  KEYS[1] base   KEYS[2] active   KEYS[3] failed   KEYS[4] events   KEYS[5] marker
  KEYS[6] stalled-check guard

  ARGV[1] now (ms)   ARGV[2] events maxlen   ARGV[3] max stalled recoveries
  ARGV[4] check interval ms (the guard's PX, so one check runs per interval)
  ARGV[5] failure reason for jobs stalled too often

  Lease expiry is Redis's own PX, never a comparison of clocks. A job is stalled when the
  lease named by its token (<worker id>:<n>) is gone. It returns to the front of the wait
  list, or fails once it has stalled more than ARGV[3] times. A damaged
  (or missing) record is confined to failed (lib/confine.lua) and reported among the failed.
  Returns { recovered ids, failed ids }; both empty when another worker holds the guard.
  A job failed for stalling settles with its parent in a flow (lib/flow.lua).
  Events: stalled, failed.
]]
--@include emit
--@include enqueue
--@include broken
--@include confine
--@include flow
local base = KEYS[1]
if not redis.call('SET', KEYS[6], '1', 'NX', 'PX', ARGV[4]) then
  return { {}, {} }
end
local now = tonumber(ARGV[1])
local maxlen = ARGV[2]
local maxStalled = tonumber(ARGV[3])
local active = redis.call('HGETALL', KEYS[2])
local alive = {}
local recovered, failed = {}, {}
for i = 1, #active, 2 do
  local id, token = active[i], active[i + 1]
  local worker = string.match(token, '^(.*):[0-9]+$') or token
  local live = alive[worker]
  if live == nil then
    live = redis.call('EXISTS', base .. 'lease:' .. worker) == 1
    alive[worker] = live
  end
  if not live then
    redis.call('HDEL', KEYS[2], id)
    local jobKey = base .. 'job:' .. id
    if redis.call('EXISTS', jobKey) == 1 then
      local stalled = redis.pcall('HINCRBY', jobKey, 'stalledCounter', 1)
      if broken(stalled) then
        confine(base, id, now, maxlen, stalled.err)
        failed[#failed + 1] = id
      elseif stalled > maxStalled then
        redis.call('HSET', jobKey, 'state', 'failed', 'failedReason', ARGV[5], 'finishedOn', now)
        redis.call('ZADD', KEYS[3], now, id)
        emit(KEYS[4], maxlen, 'failed', id, 'reason', ARGV[5])
        flow_settle(base, id, redis.call('HGET', jobKey, 'parent'), 'f', ARGV[5], now, maxlen)
        failed[#failed + 1] = id
      else
        local prio = tonumber(redis.call('HGET', jobKey, 'priority')) or 0
        redis.call('HSET', jobKey, 'state', enqueue(base, id, prio, true))
        emit(KEYS[4], maxlen, 'stalled', id)
        recovered[#recovered + 1] = id
      end
    else  -- an active id without a record: failed with a reason, never dropped unseen
      confine(base, id, now, maxlen, 'its record is missing')
      failed[#failed + 1] = id
    end
  end
end
if #recovered > 0 then redis.call('ZADD', KEYS[5], 0, '0') end
return { recovered, failed }
