--[[
  update_progress: store a job's progress and announce it (Backend.update_progress).
  KEYS[1] job hash   KEYS[2] events
  ARGV[1] progress json   ARGV[2] events maxlen   ARGV[3] job id
  Returns 0, or -1 when the job does not exist. Events: progress.
]]
--@include emit
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('HSET', KEYS[1], 'progress', ARGV[1])
emit(KEYS[2], ARGV[2], 'progress', ARGV[3], 'data', ARGV[1])
return 0
