--[[
  add: store a batch of new jobs atomically (Backend.add).

  KEYS[1] queue key base "{prefix:queue}:"
  KEYS[2] id counter      KEYS[3] delayed     KEYS[4] marker     KEYS[5] events

  ARGV[1] now (ms)   ARGV[2] events maxlen   ARGV[3] job count n
  then 10 fields per job: id ('' = generate), name, data, opts, priority, delay ms,
  lifo (0/1), dedup key ('' = none), dedup mode (throttle|debounce), dedup ttl ms (0 =
  until the job finishes)

  A dedup key (base .. 'dedup:' .. key, value "<job id>|<expiry ms or 0>") holds while it
  has not expired by ARGV[1] and its job has not finished: a throttled add then returns
  that job; a debounced add gives a job that has not started its data and a fresh delay
  (and the key a fresh expiry), and one that has started makes way for a new job.
  Returns a flat array: id, created (1, or 0 when a job with that id existed or the key
  held), deduplicated (1 when the key held), ...
  Events: added (with the state the job starts in); delayed (delay ms, due time) too
  for a delayed job; deduplicated (key, mode) for an add the key absorbed.
]]
--@include emit
--@include enqueue
--@include broken
local base = KEYS[1]
local now = tonumber(ARGV[1])
local maxlen = ARGV[2]
local n = tonumber(ARGV[3])
local FIELDS = 10
local UNFINISHED = { waiting = true, prioritized = true, delayed = true, active = true,
  ['waiting-children'] = true }
local NOT_STARTED = { waiting = true, prioritized = true, delayed = true }
local GC_SLACK = 60000  -- the key's own PX: a bound for garbage, not the rule (ARGV[1] is)

local generated = 0
for i = 0, n - 1 do
  if ARGV[4 + i * FIELDS] == '' then generated = generated + 1 end
end
local nextId, top = 0, 0
if generated > 0 then
  top = redis.call('INCRBY', KEYS[2], generated)
  nextId = top - generated
end

-- The job that holds dedup key `dkey` now, or nil: unexpired, and not finished.
local function holder_of(dedupKey)
  local held = redis.pcall('GET', dedupKey)
  if not held or broken(held) then return nil end
  local holder, expires = string.match(held, '^(.*)|(%d+)$')
  if not holder or (tonumber(expires) ~= 0 and tonumber(expires) <= now) then return nil end
  local state = redis.pcall('HGET', base .. 'job:' .. holder, 'state')
  if broken(state) or not state or not UNFINISHED[state] then return nil end
  return holder, state
end

local function hold(dedupKey, id, ttl)
  if ttl > 0 then
    redis.call('SET', dedupKey, id .. '|' .. (now + ttl), 'PX', ttl + GC_SLACK)
  else
    redis.call('SET', dedupKey, id .. '|0')
  end
end

local out = {}
local wake = false
local earliest = nil
for i = 0, n - 1 do
  local o = 4 + i * FIELDS
  local id = ARGV[o]
  local jobKey
  local created = 1
  local dkey, mode, ttl = ARGV[o + 7], ARGV[o + 8], tonumber(ARGV[o + 9])
  local dedupKey = base .. 'dedup:' .. dkey
  local absorbed = nil
  if id ~= '' and redis.call('EXISTS', base .. 'job:' .. id) == 1 then
    dkey = ''  -- an idempotent add of an existing id: below, as before
  elseif dkey ~= '' then
    local holder, hstate = holder_of(dedupKey)
    if holder and mode == 'debounce' and NOT_STARTED[hstate] then
      local delay = tonumber(ARGV[o + 5])
      redis.call('HSET', base .. 'job:' .. holder, 'data', ARGV[o + 2], 'delay', delay)
      if hstate == 'delayed' then
        redis.call('ZADD', KEYS[3], now + delay, holder)
        if earliest == nil or now + delay < earliest then earliest = now + delay end
      end
      hold(dedupKey, holder, ttl)
      absorbed = holder
    elseif holder and mode ~= 'debounce' then
      absorbed = holder
    end
    if absorbed then emit(KEYS[5], maxlen, 'deduplicated', absorbed, 'key', dkey, 'mode', mode) end
  end
  if absorbed then
    id, created = absorbed, 0
  elseif id == '' then
    -- A key already at a generated id (left by hand, or damaged) is skipped, never
    -- written over: HSET on a key of another type would stop the script halfway.
    repeat
      nextId = nextId + 1
      if nextId > top then
        top = redis.call('INCR', KEYS[2])
        nextId = top
      end
      id = tostring(nextId)
      jobKey = base .. 'job:' .. id
    until redis.call('EXISTS', jobKey) == 0
  else
    jobKey = base .. 'job:' .. id
    if redis.call('EXISTS', jobKey) == 1 then created = 0 end
  end
  if created == 1 then
    local priority = tonumber(ARGV[o + 4])
    local delay = tonumber(ARGV[o + 5])
    local state
    if delay > 0 then
      state = 'delayed'
      local due = now + delay
      redis.call('ZADD', KEYS[3], due, id)
      if earliest == nil or due < earliest then earliest = due end
    else
      state = enqueue(base, id, priority, ARGV[o + 6] == '1')
      wake = true
    end
    redis.call('HSET', jobKey, 'name', ARGV[o + 1], 'data', ARGV[o + 2], 'opts', ARGV[o + 3],
      'timestamp', now, 'delay', delay, 'priority', priority, 'state', state,
      'attemptsMade', 0, 'stalledCounter', 0)
    emit(KEYS[5], maxlen, 'added', id, 'name', ARGV[o + 1], 'state', state)
    if delay > 0 then emit(KEYS[5], maxlen, 'delayed', id, 'delay', delay, 'due', now + delay) end
    if dkey ~= '' then hold(dedupKey, id, ttl) end
  end
  out[#out + 1] = id
  out[#out + 1] = created
  out[#out + 1] = absorbed and 1 or 0
end
if wake then
  redis.call('ZADD', KEYS[4], 0, '0')
elseif earliest ~= nil then
  redis.call('ZADD', KEYS[4], 'LT', earliest, '0')
end
return out
