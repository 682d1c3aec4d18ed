-- delete_jobs(base, ids): delete the hashes and log lists of the given jobs, in one DEL.
local function delete_jobs(base, ids)
  if #ids == 0 then return end
  local keys = {}
  for i = 1, #ids do
    keys[#keys + 1] = base .. 'job:' .. ids[i]
    keys[#keys + 1] = base .. 'logs:' .. ids[i]
  end
  for i = 1, #keys, 5000 do
    redis.call('DEL', unpack(keys, i, math.min(i + 4999, #keys)))
  end
end
