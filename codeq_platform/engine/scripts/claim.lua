--[[
  claim: lease up to `want` ready tasks of the given commands to a worker.

  KEYS, ARGV header: see lib.lua (one block per command to claim from, in the worker's order).
  ARGV[A+1] worker id   ARGV[A+2] lease ms   ARGV[A+3] how many tasks at most
  ARGV[A+4] lazy maintenance batch (expired leases / due delayed tasks looked at first)
  ARGV[A+5] how many stale entries one call may skip
  Returns a flat array {id, record, id, record, ...}; empty when nothing is ready.
]]
maintain(tonumber(ARGV[A + 4]))
local out = claim_tasks(ARGV[A + 1], tonumber(ARGV[A + 2]), tonumber(ARGV[A + 3]), tonumber(ARGV[A + 5]))
commit()
return out
