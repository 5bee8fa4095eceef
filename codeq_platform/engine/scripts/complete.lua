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
return settle_and_claim_next(COMPLETED)
