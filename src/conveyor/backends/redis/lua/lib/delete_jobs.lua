-- delete_jobs(base, ids): delete the hashes and log lists of the given jobs (and the kept
-- value of a damaged record, see confine, and what a flow's parent keeps of its children:
-- lib/flow.lua), in one DEL per 4998 keys.
local function delete_jobs(base, ids)
  if #ids == 0 then return end
  local keys = {}
  for i = 1, #ids do
    keys[#keys + 1] = base .. 'job:' .. ids[i]
    keys[#keys + 1] = base .. 'logs:' .. ids[i]
    keys[#keys + 1] = base .. 'damaged:' .. ids[i]
    keys[#keys + 1] = base .. 'deps:' .. ids[i]
    keys[#keys + 1] = base .. 'values:' .. ids[i]
    keys[#keys + 1] = base .. 'failures:' .. ids[i]
  end
  for i = 1, #keys, 4998 do
    redis.call('DEL', unpack(keys, i, math.min(i + 4997, #keys)))
  end
end
