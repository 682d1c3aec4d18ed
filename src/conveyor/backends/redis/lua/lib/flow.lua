-- Flows (docs/flows-storage.md): a child names its parent by ref "queue:id" (field
-- `parent`, policy in `onFailure`); a parent keeps deps:<id> (set of pending child refs),
-- values:<id> (ref -> return value) and failures:<id> (ref -> reason) in its own queue.
-- A flow spans queues: these helpers derive another queue's key base from this one's
-- prefix, so on standalone Redis one script can settle a parent in any queue.
--@include emit
--@include enqueue
--@include broken
--@include delete_jobs

local FLOW_WAITING = { waiting = true, prioritized = true, delayed = true,
  ['waiting-children'] = true }

-- The key base of `queue` under the same prefix as `base` ("{prefix:queue}:").
local function flow_base(base, queue)
  return '{' .. string.match(base, '^{(.*):[^:]*}:$') .. ':' .. queue .. '}:'
end

-- The ref "queue:id" of job `id` in the queue of `base`.
local function flow_ref(base, id)
  return string.match(base, '^{.*:([^:]*)}:$') .. ':' .. id
end

-- The key base and id of the job a ref names.
local function flow_node(base, ref)
  local queue, id = string.match(ref, '^([^:]*):(.*)$')
  return flow_base(base, queue), id
end

local FLOW_SETS = { prioritized = true, delayed = true, completed = true, failed = true,
  ['waiting-children'] = true }

-- Take job `id` out of the list or set its `state` names (a state that names none, of a
-- damaged record: out of every one).
local function flow_unlist(base, id, state)
  if state == 'waiting' then
    redis.call('LREM', base .. 'wait', 0, id)
  elseif state == 'active' then
    redis.call('HDEL', base .. 'active', id)
  elseif FLOW_SETS[state] then
    redis.call('ZREM', base .. state, id)
  else
    redis.call('LREM', base .. 'wait', 0, id)
    for set in pairs(FLOW_SETS) do redis.call('ZREM', base .. set, id) end
  end
end

-- Whether the parent at `parentRef` has recorded child `ref` as finished (a value or a
-- failure): a re-added child that finished and was trimmed must not run again.
local function flow_settled(base, parentRef, ref)
  local pbase, pid = flow_node(base, parentRef)
  return redis.call('HEXISTS', pbase .. 'values:' .. pid, ref) == 1
    or redis.call('HEXISTS', pbase .. 'failures:' .. pid, ref) == 1
end

-- A parent whose children are done (or who goes on): out of waiting-children, in line.
local function flow_ready(base, id, maxlen)
  local jobKey = base .. 'job:' .. id
  redis.call('ZREM', base .. 'waiting-children', id)
  local priority = tonumber(redis.call('HGET', jobKey, 'priority')) or 0
  redis.call('HSET', jobKey, 'state', enqueue(base, id, priority, false))
  redis.call('ZADD', base .. 'marker', 0, '0')
  emit(base .. 'events', maxlen, 'waiting', id, 'prev', 'waiting-children')
end

-- Fail a parent that has not started, for its child `by` under the `fail` policy.
local function flow_fail(base, id, state, reason, by, now, maxlen)
  local jobKey = base .. 'job:' .. id
  flow_unlist(base, id, state)
  redis.call('HSET', jobKey, 'state', 'failed', 'failedReason', reason, 'finishedOn', now,
    'failedBy', by)
  redis.call('ZADD', base .. 'failed', now, id)
  emit(base .. 'events', maxlen, 'failed', id, 'reason', reason)
end

-- settle(base, id, parentRef, kind, value, now, maxlen): job `id` of the queue at `base`
-- ended — kind 'c' completed (value: its return value), 'f' failed for good (value: the
-- reason), 'x' removed before it finished — so its parent hears of it. A parent failed
-- by a `fail` child is settled with its own parent in turn, up the tree.
local function flow_settle(base, id, parentRef, kind, value, now, maxlen)
  while parentRef and parentRef ~= '' do
    local pbase, pid = flow_node(base, parentRef)
    local ref = flow_ref(base, id)
    if redis.call('SREM', pbase .. 'deps:' .. pid, ref) == 0 then return end
    local pkey = pbase .. 'job:' .. pid
    local pstate = redis.pcall('HGET', pkey, 'state')
    if broken(pstate) then return end
    local policy = 'fail'
    if kind == 'c' then
      redis.call('HSET', pbase .. 'values:' .. pid, ref, value)
    elseif kind == 'f' then
      policy = redis.call('HGET', base .. 'job:' .. id, 'onFailure') or 'fail'
      if policy ~= 'remove' then redis.call('HSET', pbase .. 'failures:' .. pid, ref, value) end
    end
    if kind == 'f' and policy == 'fail' then
      local reason = 'child ' .. ref .. ' failed: ' .. value
      if pstate == 'active' then
        redis.call('HSET', pkey, 'childFailed', reason, 'childFailedBy', ref)
        return
      elseif not FLOW_WAITING[pstate] then
        return
      end
      flow_fail(pbase, pid, pstate, reason, ref, now, maxlen)
      base, id, kind, value = pbase, pid, 'f', reason
      parentRef = redis.call('HGET', pkey, 'parent')
    else
      if pstate == 'waiting-children' then
        if (kind == 'f' and policy == 'continue')
            or redis.call('SCARD', pbase .. 'deps:' .. pid) == 0 then
          flow_ready(pbase, pid, maxlen)
        end
      elseif pstate == 'active' and kind == 'f' and policy == 'continue' then
        redis.call('HSET', pkey, 'resume', '1')
      end
      return
    end
  end
end

-- A failed job retried (retry.lua): a pending child of its parent again, and a parent
-- that its failure failed waits for its children again, and so on up the tree. A parent
-- that completed is left alone (the child runs on its own).
local function flow_retry(base, id, maxlen, now)
  local ref = redis.call('HGET', base .. 'job:' .. id, 'parent')
  while ref do
    local pbase, pid = flow_node(base, ref)
    local pkey = pbase .. 'job:' .. pid
    local pstate = redis.pcall('HGET', pkey, 'state')
    if broken(pstate) or not pstate or pstate == 'completed' then return end
    local mine = flow_ref(base, id)
    redis.call('HDEL', pbase .. 'failures:' .. pid, mine)
    redis.call('SADD', pbase .. 'deps:' .. pid, mine)
    if pstate == 'active' and redis.call('HGET', pkey, 'childFailedBy') == mine then
      redis.call('HDEL', pkey, 'childFailed', 'childFailedBy')
    end
    if pstate ~= 'failed' or redis.call('HGET', pkey, 'failedBy') ~= mine then return end
    redis.call('ZREM', pbase .. 'failed', pid)
    redis.call('HDEL', pkey, 'failedBy', 'finishedOn', 'failedReason')
    redis.call('HSET', pkey, 'state', 'waiting-children')
    redis.call('ZADD', pbase .. 'waiting-children', now, pid)
    emit(pbase .. 'events', maxlen, 'waiting-children', pid, 'prev', 'failed')
    base, id = pbase, pid
    ref = redis.call('HGET', pkey, 'parent')
  end
end

-- The pending subtree under job `id` (its pending children, theirs, ... in any queue;
-- not `id` itself) as a list of { base, id, state }. `strict`: nil when one of them is
-- active; else active ones are left out with what is under them (they settle with a
-- parent that is gone, which does nothing). Children in the queue at `skip` are left
-- out too (obliterate deletes those itself).
local function flow_pending_subtree(base, id, strict, skip)
  local out = {}
  local todo = { { base, id } }
  local i = 1
  while i <= #todo do
    local nbase, nid = todo[i][1], todo[i][2]
    i = i + 1
    local refs = redis.call('SMEMBERS', nbase .. 'deps:' .. nid)
    for r = 1, #refs do
      local cbase, cid = flow_node(nbase, refs[r])
      if cbase ~= skip then
        local cstate = redis.pcall('HGET', cbase .. 'job:' .. cid, 'state')
        if broken(cstate) then cstate = 'damaged' end
        if cstate == 'active' then
          if strict then return nil end
        elseif cstate then
          out[#out + 1] = { cbase, cid, cstate }
          todo[#todo + 1] = { cbase, cid }
        end
      end
    end
  end
  return out
end

-- Jobs flow_delete deleted in this script (base .. id -> true), so that a caller going
-- through a list of ids skips those already gone with a parent.
local flow_deleted = {}

-- Delete the nodes flow_pending_subtree found, each from its own queue (event removed).
local function flow_delete(nodes, maxlen)
  for i = 1, #nodes do
    local nbase, nid, nstate = nodes[i][1], nodes[i][2], nodes[i][3]
    flow_deleted[nbase .. nid] = true
    flow_unlist(nbase, nid, nstate)
    delete_jobs(nbase, { nid })
    emit(nbase .. 'events', maxlen, 'removed', nid)
  end
end

-- A job deleted before it finished (remove, clean, drain, obliterate) leaves its parent;
-- its pending subtree goes with it unless `strict` finds an active job there (then
-- nothing changes and it returns false). `skip`: as for flow_pending_subtree, and a
-- parent in that queue is not settled either (it is deleted too).
local function flow_leave(base, id, maxlen, strict, skip)
  local nodes = flow_pending_subtree(base, id, strict, skip)
  if nodes == nil then return false end
  local parentRef = redis.pcall('HGET', base .. 'job:' .. id, 'parent')
  if not broken(parentRef) and parentRef then
    local pbase = flow_node(base, parentRef)
    if pbase ~= skip then flow_settle(base, id, parentRef, 'x', '', 0, maxlen) end
  end
  flow_delete(nodes, maxlen)
  return true
end
