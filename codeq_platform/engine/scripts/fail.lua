--[[
  fail: the lease holder reports a final FAILED result (never retried, never dead-lettered);
  optionally claims its next tasks in the same call. KEYS, ARGV and replies as complete.lua.
]]
return settle_and_claim_next(FAILED)
