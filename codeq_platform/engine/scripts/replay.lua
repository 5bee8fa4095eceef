--[[
  replay: move dead-lettered tasks of one command back to the tail of their ready list, attempts
  reset, error, worker and result cleared.

  KEYS, ARGV header: see lib.lua (one block: the command).
  ARGV[A+1] 'ids', 'oldest' or 'edit'
    ids:    ARGV[A+2] n, ARGV[A+3..] task ids (each must be in this command's DLQ)
    oldest: ARGV[A+2] how many at most, oldest death first
    edit:   ARGV[A+2] one task id, ARGV[A+3] its new payload (JSON text, checked by the engine):
            the payload is replaced in the same write that replays the task, so it never runs with
            the old one after the operator edited it, nor is the edit kept if the task left the DLQ
  Returns {moved, remaining in this DLQ, per-id code...}: per-id 1 moved, -1 no such task,
  -7 not in the DLQ.
]]
local ci = 1
local q = dlq_key(ci)
local ids
local payload
if ARGV[A + 1] == 'edit' then
  ids = {ARGV[A + 2]}
  payload = ARGV[A + 3]
elseif ARGV[A + 1] == 'ids' then
  ids = {}
  for i = 1, tonumber(ARGV[A + 2]) do ids[i] = ARGV[A + 2 + i] end
else
  ids = redis.call('ZRANGE', q, 0, tonumber(ARGV[A + 2]) - 1)
end
local moved = 0
local codes = {}
for i, id in ipairs(ids) do
  local r = load(id)
  if not r then
    codes[i] = E_NOT_FOUND
    redis.call('ZREM', q, id)
  elseif r[R_STATE] ~= DEAD or cmd_key(r) ~= CMDS[ci] then
    codes[i] = E_NOT_IN_DLQ
    if cmd_key(r) == CMDS[ci] then redis.call('ZREM', q, id) end
  else
    r[R_ATT] = 0
    r[R_ERROR] = ''
    r[R_WORKER] = ''
    r[R_LEASE] = 0
    r[R_FINISHED] = 0
    if payload then
      r[R_PAYLOAD] = payload
      event(r, 'replayed', 'payload edited')
    else
      event(r, 'replayed', '')
    end
    push_ready(id, r, ci)
    save(id, r)
    AFTER[#AFTER + 1] = {'ZREM', q, id}
    AFTER[#AFTER + 1] = {'HDEL', K_RESULTS, id}
    live(1)
    moved = moved + 1
    codes[i] = 1
  end
end
commit()
local out = {moved, redis.call('ZCARD', q)}
for _, c in ipairs(codes) do out[#out + 1] = c end
return out
