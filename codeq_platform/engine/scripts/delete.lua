--[[
  delete: remove tasks that are not leased, with their results and queue entries.

  KEYS, ARGV header: see lib.lua (one block per command of the tasks named).
  ARGV[A+1] 'ids' or 'dlq'
    ids: ARGV[A+2] n, ARGV[A+3..] task ids
    dlq: ARGV[A+2] how many at most, oldest first, from the DLQ of the (single) command block
  Returns {deleted, remaining in that DLQ (0 for ids), per-id code...}: 1 deleted, -1 no such task,
  -4 leased (left alone).
]]
local ids
if ARGV[A + 1] == 'ids' then
  ids = {}
  for i = 1, tonumber(ARGV[A + 2]) do ids[i] = ARGV[A + 2 + i] end
else
  ids = redis.call('ZRANGE', dlq_key(1), 0, tonumber(ARGV[A + 2]) - 1)
end
local deleted = 0
local codes = {}
for i, id in ipairs(ids) do
  local r = load(id)
  local ci = r and CMDIDX[cmd_key(r)]
  if not r then
    codes[i] = E_NOT_FOUND
  elseif not ci then
    codes[i] = E_NOT_FOUND
  else
    codes[i] = remove_task(id, r, ci)
    if codes[i] == 1 then deleted = deleted + 1 end
  end
end
commit()
local remaining = 0
if ARGV[A + 1] == 'dlq' then remaining = redis.call('ZCARD', dlq_key(1)) end
local out = {deleted, remaining}
for _, c in ipairs(codes) do out[#out + 1] = c end
return out
