--[[
  settle_batch: the lease holder reports many final results in one call, each COMPLETED or FAILED.

  KEYS, ARGV header: see lib.lua (no command block).
  ARGV[A+1] worker id   ARGV[A+2] number of reports n
  then 4 values per report: task id, state (3 = COMPLETED, 4 = FAILED), result record (msgpack), error
  Returns per report {code, record}: as complete.lua (1 done, 2 repeated, -1, -2, -3).
  The records are read in one HMGET and every kind of write is made once for the whole batch (lib.lua).
]]
local worker = ARGV[A + 1]
local n = tonumber(ARGV[A + 2])
local ids = {}
for i = 0, n - 1 do ids[#ids + 1] = ARGV[A + 3 + i * 4] end
load_many(ids)
stats_read({'hooks', 'live', usage_field('completed'), usage_field('failed')})
local out = {}
for i = 0, n - 1 do
  local b = A + 2 + i * 4
  local code, blob = settle(ARGV[b + 1], worker, tonumber(ARGV[b + 2]), ARGV[b + 3], ARGV[b + 4])
  out[#out + 1] = {code, blob}
end
commit()
return out
