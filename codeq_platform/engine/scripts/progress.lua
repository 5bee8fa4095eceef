--[[
  progress: the lease holder records progress (any JSON, kept across retries).

  KEYS, ARGV header: see lib.lua (no command block).
  ARGV[A+1] task id   ARGV[A+2] worker id   ARGV[A+3] progress JSON
  Returns {1}, or {code}: -1 no such task, -2 leased by another worker, -3 not leased.
]]
local id, worker = ARGV[A + 1], ARGV[A + 2]
local r = load(id)
local code = owned(r, worker)
if code ~= 0 then return {code} end
r[R_PROGRESS] = ARGV[A + 3]
save(id, r)
flush()
return {1}
