-- confine(base, id, now, maxlen, detail): fail a job whose stored record is damaged, in
-- place of running or moving it, so that it harms no other job and never vanishes. The
-- caller has already taken the id out of its list or set. A key of another type than a
-- hash is renamed to damaged:<id> (kept for inspection, deleted with the job) and a
-- minimal failed record takes its place; a damaged hash keeps its readable fields.
-- Returns the failure reason.
--@include emit
local function confine(base, id, now, maxlen, detail)
  local jobKey = base .. 'job:' .. id
  local kind = redis.call('TYPE', jobKey)['ok']
  local reason = 'the stored job record is damaged: ' .. detail
  if kind ~= 'hash' then
    if kind ~= 'none' then
      redis.call('RENAME', jobKey, base .. 'damaged:' .. id)
      reason = reason .. ' (its key held a ' .. kind .. ', not a hash; the value is kept at '
        .. base .. 'damaged:' .. id .. ')'
    end
    redis.call('HSET', jobKey, 'name', '', 'data', 'null', 'opts', '{}', 'timestamp', now,
      'attemptsMade', 0, 'stalledCounter', 0, 'priority', 0, 'delay', 0)
  end
  redis.call('HSET', jobKey, 'state', 'failed', 'failedReason', reason, 'finishedOn', now)
  redis.call('ZADD', base .. 'failed', now, id)
  emit(base .. 'events', maxlen, 'failed', id, 'reason', reason)
  return reason
end
