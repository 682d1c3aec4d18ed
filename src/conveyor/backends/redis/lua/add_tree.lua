--[[
  add_tree: store a flow — jobs across queues, parents first — atomically (Backend.add_tree).
  Rules: docs/flows-storage.md, "Adding a tree".

  KEYS[1] key base of the first node's queue (other queues' keys derive from its prefix)

  ARGV[1] now (ms)   ARGV[2] events maxlen   ARGV[3] node count n
  then 11 fields per node: queue, parent index (1-based in this call, 0 = a root),
  parent ref of a root ("queue:id", '' = none), on failure (fail|ignore|continue|remove),
  id ('' = generate), name, data, opts, priority, delay ms, lifo (0/1)

  A root with a parent ref and an id of its own that the parent has already heard of
  (a value or failure recorded: it finished and was trimmed) is not added again.
  Returns { code } when a root's parent ref is missing (-1), finished (-3) or damaged
  (-4), storing nothing; else a flat array: 0, then id, created (1/0) per node ('' and 0
  for a node skipped under a parent that was not created).
  Events per node's queue: added (name, state); delayed (delay, due) for a delayed one.
]]
--@include emit
--@include enqueue
--@include broken
--@include flow
local first = KEYS[1]
local now = tonumber(ARGV[1])
local maxlen = ARGV[2]
local n = tonumber(ARGV[3])
local F = 11
local PARENT_OK = { active = true, ['waiting-children'] = true }

-- The roots' parents must be there, and waiting for children or running.
local checked = {}
for i = 0, n - 1 do
  local ref = ARGV[4 + i * F + 2]
  if ref ~= '' and not checked[ref] then
    local pbase, pid = flow_node(first, ref)
    local state = redis.pcall('HGET', pbase .. 'job:' .. pid, 'state')
    if broken(state) then return { -4 } end
    if not state then return { -1 } end
    if not PARENT_OK[state] then return { -3 } end
    checked[ref] = true
  end
end

local hasChildren = {}
for i = 0, n - 1 do
  local parent = tonumber(ARGV[4 + i * F + 1])
  if parent > 0 then hasChildren[parent] = true end
end

local out = { 0 }
local ids, created, bases = {}, {}, {}
local wake, earliest = {}, {}
local parents = {}  -- created nodes that wait for children: check they have some
for i = 1, n do
  local o = 4 + (i - 1) * F
  local queue, parent, parentRef = ARGV[o], tonumber(ARGV[o + 1]), ARGV[o + 2]
  local base = flow_base(first, queue)
  bases[i] = base
  local id = ARGV[o + 4]
  local made = 0
  if parent == 0 or created[parent] == 1 then
    if id == '' then
      repeat
        id = tostring(redis.call('INCR', base .. 'id'))
      until redis.call('EXISTS', base .. 'job:' .. id) == 0
      made = 1
    elseif redis.call('EXISTS', base .. 'job:' .. id) == 0
        and not (parentRef ~= '' and flow_settled(first, parentRef, flow_ref(base, id))) then
      made = 1
    end
  elseif id ~= '' and redis.call('EXISTS', base .. 'job:' .. id) == 0 then
    id = ''  -- under a parent that was not created, and not there itself
  end
  ids[i], created[i] = id, made
  if made == 1 then
    local priority, delay = tonumber(ARGV[o + 8]), tonumber(ARGV[o + 9])
    local jobKey = base .. 'job:' .. id
    local state
    if hasChildren[i] then
      state = 'waiting-children'
      redis.call('ZADD', base .. 'waiting-children', now, id)
      parents[#parents + 1] = i
    elseif delay > 0 then
      state = 'delayed'
      redis.call('ZADD', base .. 'delayed', now + delay, id)
      if earliest[base] == nil or now + delay < earliest[base] then earliest[base] = now + delay end
    else
      state = enqueue(base, id, priority, ARGV[o + 10] == '1')
      wake[base] = true
    end
    redis.call('HSET', jobKey, 'name', ARGV[o + 5], 'data', ARGV[o + 6], 'opts', ARGV[o + 7],
      'timestamp', now, 'delay', delay, 'priority', priority, 'state', state,
      'attemptsMade', 0, 'stalledCounter', 0)
    local ref = parentRef
    if parent > 0 then ref = flow_ref(bases[parent], ids[parent]) end
    if ref ~= '' then
      redis.call('HSET', jobKey, 'parent', ref, 'onFailure', ARGV[o + 3])
      local pbase, pid = flow_node(first, ref)
      redis.call('SADD', pbase .. 'deps:' .. pid, flow_ref(base, id))
    end
    emit(base .. 'events', maxlen, 'added', id, 'name', ARGV[o + 5], 'state', state)
    if delay > 0 and state == 'delayed' then
      emit(base .. 'events', maxlen, 'delayed', id, 'delay', delay, 'due', now + delay)
    end
  end
  out[#out + 1] = id
  out[#out + 1] = made
end
-- A new parent whose children all existed already has nothing to wait for.
for _, i in ipairs(parents) do
  if redis.call('SCARD', bases[i] .. 'deps:' .. ids[i]) == 0 then
    flow_ready(bases[i], ids[i], maxlen)
  end
end
for base in pairs(wake) do redis.call('ZADD', base .. 'marker', 0, '0') end
for base, due in pairs(earliest) do
  if not wake[base] then redis.call('ZADD', base .. 'marker', 'LT', due, '0') end
end
return out
