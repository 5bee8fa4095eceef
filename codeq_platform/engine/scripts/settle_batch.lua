--[[
  settle_batch: the lease holder reports many final results in one call, each COMPLETED or FAILED.

  KEYS, ARGV header: see lib.lua (no command block).
  ARGV[A+1] worker id   ARGV[A+2] number of reports n
  then 4 values per report: task id, state (3 = COMPLETED, 4 = FAILED), result record (msgpack), error
  Returns per report {code, record}: as complete.lua (1 done, 2 repeated, -1, -2, -3).
]]
local worker = ARGV[A + 1]
local out = {}
for i = 0, tonumber(ARGV[A + 2]) - 1 do
  local b = A + 2 + i * 4
  local code, blob = settle(ARGV[b + 1], worker, tonumber(ARGV[b + 2]), ARGV[b + 3], ARGV[b + 4])
  out[#out + 1] = {code, blob}
end
commit()
return out
