--[[
  complete: the lease holder reports a final COMPLETED result; optionally claims its next tasks in the
  same call, so a busy worker pays one round trip per task.

  KEYS, ARGV header: see lib.lua (one block per command to claim next from; none to claim nothing).
  ARGV[A+1] lazy maintenance batch   ARGV[A+2] stale-skip limit
  ARGV[A+3..A+9] one report as settle_batch.lua's (its state is 3)
  Returns {code, record, id, record, ...} as settle_batch.lua does per report.
  A COMPLETED task is final: never retried, never dead-lettered.
]]
return settle_reports(A + 3, 1, tonumber(ARGV[A + 1]), tonumber(ARGV[A + 2]))[1]
