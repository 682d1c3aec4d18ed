-- trim_finished(base, set, now, age, count): apply a retention policy to a finished set
-- (completed or failed, scored by finish time): drop jobs older than `age` ms and all but
-- the newest `count`. -1 disables either bound. At most 1000 jobs go per call, so the
-- cost stays bounded; the rest go at the next finish.
local function trim_finished(base, set, now, age, count)
  local doomed = {}
  if age >= 0 then
    doomed = redis.call('ZRANGEBYSCORE', set, '-inf', now - age, 'LIMIT', 0, 1000)
  end
  if count >= 0 then
    local excess = redis.call('ZCARD', set) - #doomed - count
    if excess > 0 then
      local oldest = redis.call('ZRANGE', set, #doomed, #doomed + math.min(excess, 1000) - 1)
      for i = 1, #oldest do doomed[#doomed + 1] = oldest[i] end
    end
  end
  if #doomed > 0 then
    delete_jobs(base, doomed)
    for i = 1, #doomed, 5000 do
      redis.call('ZREM', set, unpack(doomed, i, math.min(i + 4999, #doomed)))
    end
  end
end
