--[[
  release: an operator takes tasks back from their lease holders. Each leased task returns to the
  tail of its ready list now and the attempt its claim charged is refunded, as if its holder had
  abandoned it; the holder's later heartbeat, result or nack is refused (not-in-progress, or
  not-owner once another worker has claimed it).

  KEYS, ARGV header: see lib.lua (one block: the command).
  ARGV[A+1] who released them (kept in each task's history)   ARGV[A+2] n   ARGV[A+3..] task ids
  Returns {released, per-id code...}: 1 released, -1 no such task of this command, -3 not leased.
  Write order as abandon's: the ready entry first (a record not READY makes claim skip it), then the
  record, then the lease entry (one left behind is dropped by the sweep as stale).
]]
local actor = ARGV[A + 1]
local released = 0
local codes = {}
for i = 1, tonumber(ARGV[A + 2]) do
  local id = ARGV[A + 2 + i]
  local r = load(id)
  if not r or cmd_key(r) ~= CMDS[1] then
    codes[i] = E_NOT_FOUND
  elseif r[R_STATE] ~= LEASED then
    codes[i] = E_NOT_IN_PROGRESS
  else
    local worker = r[R_WORKER]
    release_lease(r)
    r[R_ATT] = math.max(r[R_ATT] - 1, 0)
    event(r, 'released', actor .. ' took it from ' .. worker)
    push_ready(id, r, 1)
    save(id, r)
    drop_lease(id)
    released = released + 1
    codes[i] = 1
  end
end
commit()
local out = {released}
for _, c in ipairs(codes) do out[#out + 1] = c end
return out
