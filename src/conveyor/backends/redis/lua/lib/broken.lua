-- broken(reply): whether a redis.pcall reply is an error (e.g. WRONGTYPE: a job key that
-- holds a string, or a counter field that is not a number). Scripts read a job through
-- pcall before their first write to it, so a damaged record cannot stop them halfway.
local function broken(reply)
  return type(reply) == 'table' and reply.err ~= nil
end
