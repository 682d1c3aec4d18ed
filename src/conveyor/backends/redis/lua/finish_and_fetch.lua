--[[
  finish_and_fetch: end a batch of attempts and take the next jobs, in one step
  (Backend.finish_and_fetch). This is the worker's hot path: one call per batch.

  KEYS[1] base "{prefix:queue}:"   KEYS[2] active     KEYS[3] wait       KEYS[4] prioritized
  KEYS[5] delayed                  KEYS[6] completed  KEYS[7] failed     KEYS[8] events
  KEYS[9] marker                   KEYS[10] meta      KEYS[11] lease of this worker

  ARGV[1] now (ms)        ARGV[2] events maxlen   ARGV[3] worker id   ARGV[4] lease ms
  ARGV[5] first token sequence number             ARGV[6] how many jobs to fetch
  ARGV[7] outcome count n, then 12 fields per outcome:
    id, token, action (c|f|r|p|w: complete, fail, retry, postpone, wait), attempts made,
    result json (for a wait: the new payload, '' = keep it), reason, error json (kept as
    field err:<n>, n counting every failed attempt of the job, across manual retries),
    retry delay ms, keep age ms (-1 none), keep count (-1 none); age = count = 0 removes;
    the job's dedup key ('' = none), released by a complete or fail while the job still
    holds it; the job's parent ref in a flow ('' = none), settled by a complete or fail
    (lib/flow.lua). A postpone moves the job like a retry but leaves its attempts,
    reason and errors as they were. A wait (a flow's parent) goes to waiting-children,
    or back in line when no child is pending (docs/flows-storage.md).

  Returns { codes, jobs, next delayed due time or -1, paused 0/1 }
    codes: per outcome 0, or -2 when the token is not the job's (lock lost)
    jobs:  flat id, token, name, data, opts, attemptsMade, timestamp, parent per job;
           fields may be missing or garbled: the worker fails such a job alone
  A record that cannot be read as a hash (or that is missing) is confined to failed with
  a reason instead of being finished, promoted or fetched (lib/confine.lua).
  Events: completed, failed, retrying, delayed (a retry or postpone that waits), waiting
  (a delayed job now due, or a postponed one back in line), waiting-children, active,
  drained; in a parent's queue the events of settling it (lib/flow.lua).
]]
--@include emit
--@include enqueue
--@include delete_jobs
--@include trim_finished
--@include broken
--@include confine
--@include flow
local base = KEYS[1]
local now = tonumber(ARGV[1])
local maxlen = ARGV[2]
local n = tonumber(ARGV[7])
local F = 12

local codes = {}
if n > 0 then
  local ids = {}
  for i = 1, n do ids[i] = ARGV[8 + (i - 1) * F] end
  local tokens = redis.call('HMGET', KEYS[2], unpack(ids))
  local owned = {}
  for i = 1, n do
    if tokens[i] == ARGV[9 + (i - 1) * F] then
      codes[i] = 0
      owned[#owned + 1] = ids[i]
    else
      codes[i] = -2
    end
  end
  if #owned > 0 then redis.call('HDEL', KEYS[2], unpack(owned)) end

  local zadds = { [KEYS[6]] = {}, [KEYS[7]] = {} }
  local policies = {}
  for i = 1, n do
    if codes[i] == 0 then
      local o = 8 + (i - 1) * F
      local id, action, attempts = ARGV[o], ARGV[o + 2], ARGV[o + 3]
      local jobKey = base .. 'job:' .. id
      local age, count = tonumber(ARGV[o + 8]), tonumber(ARGV[o + 9])
      -- The first touch of the job's record goes through pcall: a damaged record is
      -- confined to failed instead of stopping the script halfway through the batch.
      local again = action == 'r' or action == 'p'
      local removing = age == 0 and count == 0 and not again and action ~= 'w'
      local first
      if removing then
        first = nil
      elseif action == 'w' then
        first = redis.pcall('HMGET', jobKey, 'childFailed', 'childFailedBy')
      elseif action == 'c' then
        first = redis.pcall('HSET', jobKey, 'state', 'completed', 'returnvalue', ARGV[o + 4],
          'finishedOn', now, 'attemptsMade', attempts)
      elseif action == 'p' then
        first = redis.pcall('HGET', jobKey, 'priority')
      else
        first = redis.pcall('HINCRBY', jobKey, 'errors', 1)
      end
      if broken(first) then
        confine(base, id, now, maxlen, first.err)
      elseif action == 'p' and not first then
        confine(base, id, now, maxlen, 'its record is missing')
      elseif action == 'w' then
        if ARGV[o + 4] ~= '' then redis.call('HSET', jobKey, 'data', ARGV[o + 4]) end
        if first[1] then  -- a child under the fail policy failed while this job ran
          redis.call('HDEL', jobKey, 'childFailed', 'childFailedBy', 'resume')
          redis.call('HSET', jobKey, 'state', 'failed', 'failedReason', first[1],
            'finishedOn', now, 'failedBy', first[2] or '')
          redis.call('ZADD', KEYS[7], now, id)
          emit(KEYS[8], maxlen, 'failed', id, 'reason', first[1])
          flow_settle(base, id, ARGV[o + 11], 'f', first[1], now, maxlen)
        elseif redis.call('HDEL', jobKey, 'resume') == 1
            or redis.call('SCARD', base .. 'deps:' .. id) == 0 then
          local priority = tonumber(redis.call('HGET', jobKey, 'priority')) or 0
          redis.call('HSET', jobKey, 'state', enqueue(base, id, priority, false))
          redis.call('ZADD', KEYS[9], 0, '0')
          emit(KEYS[8], maxlen, 'waiting', id, 'prev', 'active')
        else
          redis.call('HSET', jobKey, 'state', 'waiting-children')
          redis.call('ZADD', base .. 'waiting-children', now, id)
          emit(KEYS[8], maxlen, 'waiting-children', id)
        end
      elseif again then
        local delay = tonumber(ARGV[o + 7])
        local state
        if action == 'r' then
          redis.call('HSET', jobKey, 'attemptsMade', attempts, 'failedReason', ARGV[o + 5],
            'err:' .. first, ARGV[o + 6])
        end
        if delay > 0 then
          state = 'delayed'
          redis.call('ZADD', KEYS[5], now + delay, id)
          redis.call('ZADD', KEYS[9], 'LT', now + delay, '0')
        else
          state = enqueue(base, id, tonumber(redis.call('HGET', jobKey, 'priority')) or 0, false)
          redis.call('ZADD', KEYS[9], 0, '0')
        end
        redis.call('HSET', jobKey, 'state', state)
        if action == 'r' then
          emit(KEYS[8], maxlen, 'retrying', id, 'delay', delay, 'reason', ARGV[o + 5])
        elseif delay == 0 then
          emit(KEYS[8], maxlen, 'waiting', id, 'prev', 'active')
        end
        if delay > 0 then emit(KEYS[8], maxlen, 'delayed', id, 'delay', delay, 'due', now + delay) end
      else
        local dkey = ARGV[o + 10]
        if dkey ~= '' then  -- a finished job no longer holds its dedup key
          local held = redis.pcall('GET', base .. 'dedup:' .. dkey)
          if type(held) == 'string' and string.sub(held, 1, #id + 1) == id .. '|' then
            redis.call('DEL', base .. 'dedup:' .. dkey)
          end
        end
        local set = (action == 'c') and KEYS[6] or KEYS[7]
        if ARGV[o + 11] ~= '' then
          local value = (action == 'c') and ARGV[o + 4] or ARGV[o + 5]
          flow_settle(base, id, ARGV[o + 11], action, value, now, maxlen)
        end
        if removing then
          delete_jobs(base, { id })
        elseif action == 'c' then
          -- an earlier attempt failed: its reason stays in err:<n>, not on a completed job
          if tonumber(attempts) > 1 then redis.call('HDEL', jobKey, 'failedReason') end
        else
          redis.call('HSET', jobKey, 'state', 'failed', 'failedReason', ARGV[o + 5],
            'finishedOn', now, 'attemptsMade', attempts, 'err:' .. first, ARGV[o + 6])
        end
        if not removing then
          local z = zadds[set]
          z[#z + 1] = now
          z[#z + 1] = id
          if age >= 0 or count >= 0 then policies[set .. ' ' .. age .. ' ' .. count] = { set, age, count } end
        end
        if action == 'c' then
          emit(KEYS[8], maxlen, 'completed', id, 'returnvalue', ARGV[o + 4])
        else
          emit(KEYS[8], maxlen, 'failed', id, 'reason', ARGV[o + 5])
        end
      end
    end
  end
  for set, z in pairs(zadds) do
    if #z > 0 then redis.call('ZADD', set, unpack(z)) end
  end
  for _, p in pairs(policies) do trim_finished(base, p[1], now, p[2], p[3]) end
end

local want = tonumber(ARGV[6])
local paused = redis.call('HEXISTS', KEYS[10], 'paused') == 1
local jobs = {}
if want > 0 and not paused then
  local due = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, 1000)
  if #due > 0 then
    for i = 1, #due do
      local jobKey = base .. 'job:' .. due[i]
      local priority = redis.pcall('HGET', jobKey, 'priority')
      if broken(priority) then
        confine(base, due[i], now, maxlen, priority.err)
      else
        local state = enqueue(base, due[i], tonumber(priority) or 0, false)
        redis.call('HSET', jobKey, 'state', state)
        emit(KEYS[8], maxlen, 'waiting', due[i], 'prev', 'delayed')
      end
    end
    redis.call('ZREM', KEYS[5], unpack(due))
  end

  local taken = redis.call('RPOP', KEYS[3], want) or {}
  if #taken < want then
    local popped = redis.call('ZPOPMIN', KEYS[4], want - #taken)
    for i = 1, #popped, 2 do taken[#taken + 1] = popped[i] end
  end

  if #taken > 0 then
    local seq = tonumber(ARGV[5])
    local leases = {}
    for i = 1, #taken do
      local id = taken[i]
      local jobKey = base .. 'job:' .. id
      local f = redis.pcall('HMGET', jobKey, 'name', 'data', 'opts', 'attemptsMade', 'timestamp',
        'parent')
      if broken(f) then
        confine(base, id, now, maxlen, f.err)
      elseif not (f[1] or f[2] or f[3] or f[4] or f[5]) and redis.call('EXISTS', jobKey) == 0 then
        confine(base, id, now, maxlen, 'its record is missing')
      else
        -- Missing or garbled fields are the worker's to judge (it fails such a job alone).
        local token = ARGV[3] .. ':' .. seq
        seq = seq + 1
        redis.call('HSET', jobKey, 'state', 'active', 'processedOn', now)
        leases[#leases + 1] = id
        leases[#leases + 1] = token
        jobs[#jobs + 1] = id
        jobs[#jobs + 1] = token
        for k = 1, 5 do jobs[#jobs + 1] = f[k] end
        jobs[#jobs + 1] = f[6] or ''

        emit(KEYS[8], maxlen, 'active', id)
      end
    end
    if #leases > 0 then
      redis.call('HSET', KEYS[2], unpack(leases))
      redis.call('SET', KEYS[11], '1', 'PX', ARGV[4])
    end
    if redis.call('LLEN', KEYS[3]) + redis.call('ZCARD', KEYS[4]) > 0 then
      redis.call('ZADD', KEYS[9], 0, '0')
    else
      emit(KEYS[8], maxlen, 'drained', '')
    end
  end
end

local nextDue = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
local nextAt = -1
if #nextDue > 0 then nextAt = tonumber(nextDue[2]) end
return { codes, jobs, nextAt, paused and 1 or 0 }
