--[[
  add_log: append one line to a job's log, keeping the newest ARGV[2] (Backend.add_log).
  KEYS[1] job hash   KEYS[2] log list
  ARGV[1] line   ARGV[2] lines to keep
  Returns the number of lines kept, or -1 when the job does not exist, -4 when its log
  or record is damaged.
]]
--@include broken
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local len = redis.pcall('RPUSH', KEYS[2], ARGV[1])
if broken(len) then return -4 end
local keep = tonumber(ARGV[2])
if len > keep then
  redis.call('LTRIM', KEYS[2], -keep, -1)
  return keep
end
return len
