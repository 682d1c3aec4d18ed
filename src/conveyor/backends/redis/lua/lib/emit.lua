-- emit(events, maxlen, name, jobId, ...): append one event to the queue's capped stream.
-- Extra arguments are field/value pairs. The stream is trimmed approximately (MAXLEN ~).
local function emit(events, maxlen, name, jobId, ...)
  redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'event', name, 'jobId', jobId, ...)
end
