--[[
  renew_lease: keep a worker's lease alive and report jobs it no longer owns
  (Backend.renew_lease). Called from the worker's lease thread, never the event loop.

  KEYS[1] this worker's lease   KEYS[2] active
  ARGV[1] lease ms, then id, token pairs of the jobs the worker is running

  Returns the ids whose token in `active` is no longer the worker's (recovered as stalled
  after the lease lapsed, or removed): the worker cancels those attempts.
]]
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
local lost = {}
if #ARGV > 1 then
  local ids = {}
  for i = 2, #ARGV, 2 do ids[#ids + 1] = ARGV[i] end
  local tokens = redis.call('HMGET', KEYS[2], unpack(ids))
  for i = 1, #ids do
    if tokens[i] ~= ARGV[1 + i * 2] then lost[#lost + 1] = ids[i] end
  end
end
return lost
