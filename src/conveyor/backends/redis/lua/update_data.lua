--[[
  update_data: replace a job's payload (Backend.update_data).
  KEYS[1] job hash   ARGV[1] data json
  Returns 0, or -1 when the job does not exist, -4 when its record is damaged.
]]
--@include broken
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if broken(redis.pcall('HSET', KEYS[1], 'data', ARGV[1])) then return -4 end
return 0
