--[[
  abandon: the lease holder gives the task back now, to the tail of its queue; the attempt its claim
  charged is refunded.

  KEYS, ARGV header: see lib.lua (one block: the task's command).
  ARGV[A+1] task id   ARGV[A+2] worker id
  Returns {1, record}, or {code}: -1 no such task, -2 leased by another worker, -3 not leased.
]]
local id, worker = ARGV[A + 1], ARGV[A + 2]
local r = load(id)
local code = owned(r, worker)
if code ~= 0 then return {code} end
release_lease(r)
r[R_ATT] = math.max(r[R_ATT] - 1, 0)
event(r, 'abandoned', worker)
push_ready(id, r, CMDIDX[cmd_key(r)])
local blob = save(id, r)
drop_lease(id)
commit()
return {1, blob}
