-- enqueue(base, id, priority, front): put a ready job where workers take it from.
-- Unprioritized jobs go to the wait list (taken from the right: front=true puts the job
-- next in line, for LIFO and recovered jobs); prioritized ones to a zset ordered by
-- priority, FIFO within one priority. Returns the state name.
local function enqueue(base, id, priority, front)
  if priority > 0 then
    local seq = redis.call('INCR', base .. 'pc') % 4294967296
    redis.call('ZADD', base .. 'prioritized', priority * 4294967296 + seq, id)
    return 'prioritized'
  end
  if front then
    redis.call('RPUSH', base .. 'wait', id)
  else
    redis.call('LPUSH', base .. 'wait', id)
  end
  return 'waiting'
end
