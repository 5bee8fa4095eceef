--[[
  run_now: an operator makes delayed tasks ready now. A task scheduled for later runs early; a task
  backing off after a failed attempt is retried without waiting (its due time becomes now). Either
  goes to the tail of its ready list, its attempts unchanged.

  KEYS, ARGV header: see lib.lua (one block: the command).
  ARGV[A+1] who asked (kept in each task's history)   ARGV[A+2] n   ARGV[A+3..] task ids
  Returns {moved, per-id code...}: 1 moved, 0 already ready, -1 no such task of this command,
  -4 leased, -6 finished or dead.
  Write order as promotion's: the ready entry, the record, then the delayed entry (one left behind
  is dropped by the next promotion as stale).
]]
local actor = ARGV[A + 1]
local moved = 0
local codes = {}
for i = 1, tonumber(ARGV[A + 2]) do
  local id = ARGV[A + 2 + i]
  local r = load(id)
  if not r or cmd_key(r) ~= CMDS[1] then
    codes[i] = E_NOT_FOUND
  elseif r[R_STATE] == READY then
    codes[i] = 0
  elseif r[R_STATE] == LEASED then
    codes[i] = E_IN_PROGRESS
  elseif r[R_STATE] ~= DELAYED then
    codes[i] = E_FINISHED
  else
    push_ready(id, r, 1)
    event(r, 'run_now', actor)
    save(id, r)
    AFTER[#AFTER + 1] = {'ZREM', K_DELAYED, id}
    count(r, 'delayed', -1)
    moved = moved + 1
    codes[i] = 1
  end
end
commit()
local out = {moved}
for _, c in ipairs(codes) do out[#out + 1] = c end
return out
