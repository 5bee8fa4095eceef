--[[
  cancel: withdraw a task that no worker holds yet (ready or delayed). It ends FAILED with error
  CANCELLED and is kept, like any finished task, until retention removes it.

  KEYS, ARGV header: see lib.lua (no command block).
  ARGV[A+1] task id
  A cancelled task reports FAILED, so it is a 'failed' outbox event (see lib.lua).
  Returns {1, record}, or {code}: -1 no such task, -4 leased (cancel refused: the holder must
  report or give it back), -6 already finished.
]]
local id = ARGV[A + 1]
local r = load(id)
if not r then return {E_NOT_FOUND} end
local st = r[R_STATE]
if st == LEASED then return {E_IN_PROGRESS} end
if st ~= READY and st ~= DELAYED then return {E_FINISHED} end
if st == READY then
  mark_stale(r)
else
  count(r, 'delayed', -1)
end
release_dedup(id, r)
r[R_ERROR] = 'CANCELLED'
r[R_DUE] = 0
finish(id, r, CANCELLED)
event(r, 'cancelled', '')
emit(id, r, 'f', 2)
local blob = save(id, r)
-- After the record (flush): a crash before this leaves a delayed entry that promotion drops as stale.
if st == DELAYED then AFTER[#AFTER + 1] = {'ZREM', K_DELAYED, id} end
commit()
return {1, blob}
