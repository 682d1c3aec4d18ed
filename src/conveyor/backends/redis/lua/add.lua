--[[
  add: store a batch of new jobs atomically (Backend.add).

  KEYS[1] queue key base "{prefix:queue}:"
  KEYS[2] id counter      KEYS[3] delayed     KEYS[4] marker     KEYS[5] events

  ARGV[1] now (ms)   ARGV[2] events maxlen   ARGV[3] job count n
  then 7 fields per job: id ('' = generate), name, data, opts, priority, delay ms, lifo (0/1)

  Returns a flat array: id, created (1, or 0 when a job with that id already existed), ...
  Events: added (with the state the job starts in); delayed (delay ms, due time) too
  for a delayed job.
]]
--@include emit
--@include enqueue
local base = KEYS[1]
local now = tonumber(ARGV[1])
local maxlen = ARGV[2]
local n = tonumber(ARGV[3])
local FIELDS = 7

local generated = 0
for i = 0, n - 1 do
  if ARGV[4 + i * FIELDS] == '' then generated = generated + 1 end
end
local nextId, top = 0, 0
if generated > 0 then
  top = redis.call('INCRBY', KEYS[2], generated)
  nextId = top - generated
end

local out = {}
local wake = false
local earliest = nil
for i = 0, n - 1 do
  local o = 4 + i * FIELDS
  local id = ARGV[o]
  local jobKey
  local created = 1
  if id == '' then
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
  end
  out[#out + 1] = id
  out[#out + 1] = created
end
if wake then
  redis.call('ZADD', KEYS[4], 0, '0')
elseif earliest ~= nil then
  redis.call('ZADD', KEYS[4], 'LT', earliest, '0')
end
return out
