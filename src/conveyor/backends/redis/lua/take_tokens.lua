--[[
  take_tokens: take tokens from a shared token bucket (Backend.take_tokens).

  KEYS[1] the bucket's key (hash: tokens, at)
  ARGV[1] count   ARGV[2] capacity   ARGV[3] tokens per second   ARGV[4] now (ms)

  The bucket refills continuously from its last take (a new bucket is full) and never
  holds more than its capacity. A bucket that would be full again is garbage: the key's
  PX lets it go then.
  Returns 0 when the tokens were taken, else the ms until enough would be there (nothing
  is taken then).
]]
local count, capacity = tonumber(ARGV[1]), tonumber(ARGV[2])
local rate, now = tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
elseif now > at then
  tokens = math.min(capacity, tokens + (now - at) * rate / 1000)
end
if tokens < count then
  return math.max(1, math.ceil((count - tokens) * 1000 / rate))
end
tokens = tokens - count
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', math.max(now, at or now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) * 1000 / rate) + 60000)
return 0
