--[[
  update_progress: store a job's progress and announce it (Backend.update_progress).
  KEYS[1] job hash   KEYS[2] events
  ARGV[1] progress json   ARGV[2] events maxlen   ARGV[3] job id
  Returns 0, or -1 when the job does not exist, -4 when its record is
  damaged. Events: progress.
]]
--@include broken
--@include emit
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if broken(redis.pcall('HSET', KEYS[1], 'progress', ARGV[1])) then return -4 end
emit(KEYS[2], ARGV[2], 'progress', ARGV[3], 'data', ARGV[1])
return 0
