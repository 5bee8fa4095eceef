--[[
  sweep: the scheduler's maintenance of one shard for a group of commands: expire leases and
  promote due delayed tasks among the candidate ids (read just before by the engine), re-checking
  each against its record. Entries whose record disagrees are repaired (removed).

  KEYS, ARGV header: see lib.lua (one block per command among the candidates).
  ARGV[A+1] n expired-lease candidates, then their ids; then m due-delayed candidates, then ids.
  Returns {leases expired, tasks promoted}.
]]
local n = tonumber(ARGV[A + 1])
local expired, promoted = 0, 0
for i = 1, n do expired = expired + expire_one(ARGV[A + 1 + i]) end
local b = A + 2 + n
for i = 1, tonumber(ARGV[b]) do promoted = promoted + promote_one(ARGV[b + i]) end
commit()
return {expired, promoted}
