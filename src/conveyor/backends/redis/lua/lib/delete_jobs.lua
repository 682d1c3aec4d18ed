-- delete_jobs(base, ids): delete the hashes and log lists of the given jobs (and the kept
-- value of a damaged record, see confine), in one DEL per 5000 keys.
local function delete_jobs(base, ids)
  if #ids == 0 then return end
  local keys = {}
  for i = 1, #ids do
    keys[#keys + 1] = base .. 'job:' .. ids[i]
    keys[#keys + 1] = base .. 'logs:' .. ids[i]
    keys[#keys + 1] = base .. 'damaged:' .. ids[i]
  end
  for i = 1, #keys, 4998 do
    redis.call('DEL', unpack(keys, i, math.min(i + 4997, #keys)))
  end
end
