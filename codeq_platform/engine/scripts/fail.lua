--[[
  fail: the lease holder reports a final FAILED result (never retried, never dead-lettered);
  optionally claims its next tasks in the same call. KEYS, ARGV and replies as complete.lua (state 4).
]]
return settle_reports(A + 3, 1, tonumber(ARGV[A + 1]), tonumber(ARGV[A + 2]))[1]
