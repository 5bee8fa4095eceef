--[[
  complete: the lease holder reports a final COMPLETED result; optionally claims its next tasks in the
  same call, so a busy worker pays one round trip per task.

  KEYS, ARGV header: see lib.lua (one block per command to claim next from; none to claim nothing).
  ARGV[A+1] task id   ARGV[A+2] worker id   ARGV[A+3] result record (msgpack)   ARGV[A+4] error text
  ARGV[A+5] lease ms for next tasks   ARGV[A+6] how many next tasks   ARGV[A+7] lazy batch
  ARGV[A+8] stale-skip limit
  Returns {code, record, id, record, ...}: code 1 done, 2 already done by this worker (a retried call),
  -1 no such task, -2 leased by another worker, -3 not leased; the claimed tasks follow the record.
  A COMPLETED task is final: never retried, never dead-lettered.
]]
local code, blob = settle(ARGV[A + 1], ARGV[A + 2], COMPLETED, ARGV[A + 3], ARGV[A + 4])
local out = {code, blob}
local want = tonumber(ARGV[A + 6])
if code > 0 and want > 0 then
  maintain(tonumber(ARGV[A + 7]))
  for _, v in ipairs(claim_tasks(ARGV[A + 2], tonumber(ARGV[A + 5]), want, tonumber(ARGV[A + 8]))) do
    out[#out + 1] = v
  end
end
commit()
return out
