--[[
  heartbeat: extend the caller's lease on a task.

  KEYS, ARGV header: see lib.lua (no command block).
  ARGV[A+1] task id   ARGV[A+2] worker id   ARGV[A+3] lease ms from now
  Returns {1, record}, or {code}: -1 no such task, -2 leased by another worker, -3 not leased.
  A lease past its time that no sweep has taken back yet is still the caller's, so it is extended.
]]
local id, worker = ARGV[A + 1], ARGV[A + 2]
local r = load(id)
local code = owned(r, worker)
if code ~= 0 then return {code} end
local until_ms = NOW + tonumber(ARGV[A + 3])
add_lease(id, string.format('%d', until_ms))
r[R_LEASE] = until_ms
event(r, 'heartbeat', worker)
local blob = save(id, r)
flush()
return {1, blob}
