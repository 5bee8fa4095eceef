--[[
  enqueue: create tasks (one, or a batch of up to 1,000 of one shard).

  KEYS, ARGV header: see lib.lua (one command block per distinct command in the batch).
  ARGV[A+1] max live tasks in this shard (0 = no limit)   ARGV[A+2] number of tasks n
  ARGV[A+3] one flag per command block, '1' where the command may not be in the known set yet
  then 12 values per task: id, command index, command as sent, payload, priority, max attempts,
  run-at ms (0 = none), idempotency key, dedup key, webhook, tags ('' when absent), delay ms from
  now (0 = none; due = NOW + delay, by the store's clock).
  Returns per task {code, id, record}: 1 created, 0 an existing task answered (same id,
  idempotency key, or a pending task with the same dedup key), -5 the shard is full (no record).
  Write order: the queue entries (one RPUSH per ready list) and the idempotency and dedup entries
  first, then the records (one HSET for the batch, lib.lua's flush), so a crash leaves at most entries
  that point at no record: claim skips them as stale, and a later enqueue with the same key finds no
  task and creates one.
]]
local max_live = tonumber(ARGV[A + 1])
local n = tonumber(ARGV[A + 2])
local new_commands = ARGV[A + 3]
local out = {}
local live_now = 0
if max_live > 0 then live_now = stat_num('live') end
local ids, lists, entries, known = {}, {}, {}, {}
for i = 0, n - 1 do ids[#ids + 1] = ARGV[A + 4 + i * 12] end
load_many(ids)
for i = 0, n - 1 do
  local b = A + 3 + i * 12
  local id, ci, cmd = ARGV[b + 1], tonumber(ARGV[b + 2]), ARGV[b + 3]
  local idem, dedup = ARGV[b + 8], ARGV[b + 9]
  local existing = nil
  if load(id) then existing = id end
  if not existing and idem ~= '' then
    local other = redis.call('HGET', K_IDEM, idem)
    if other and load(other) then existing = other end
  end
  local dedup_field = CMDS[ci] .. '\n' .. dedup
  if not existing and dedup ~= '' then
    local other = redis.call('HGET', K_DEDUP, dedup_field)
    if other then
      local o = load(other)
      if o and (o[R_STATE] == READY or o[R_STATE] == DELAYED) then existing = other end
    end
  end
  if existing then
    out[#out + 1] = {0, existing, RAW[existing]}
  elseif max_live > 0 and live_now >= max_live then
    out[#out + 1] = {E_QUEUE_FULL, id, ''}
  else
    local due = tonumber(ARGV[b + 7])
    local delay = tonumber(ARGV[b + 12])
    if delay > 0 then due = NOW + delay end
    local key = CMDS[ci]
    if key == cmd then key = '' end
    local r = {cmd, ARGV[b + 4], tonumber(ARGV[b + 5]), READY, 0, tonumber(ARGV[b + 6]), NOW, NOW, '', 0,
               '', idem, dedup, ARGV[b + 10], ARGV[b + 11], '', 0, 0, '', 0, key}
    event(r, 'enqueued', '')
    if due > NOW then
      to_delayed(id, r, due)
    else
      local q = make_ready(r, ci)
      if not entries[q] then
        entries[q] = {}
        lists[#lists + 1] = {q, ci}
      end
      table.insert(entries[q], id)
    end
    local blob = save(id, r)
    if idem ~= '' then redis.call('HSET', K_IDEM, idem, id) end
    if dedup ~= '' then redis.call('HSET', K_DEDUP, dedup_field, id) end
    if string.sub(new_commands, ci, ci) == '1' and not known[ci] then
      redis.call('SADD', K_CMDS, CMDS[ci])
      known[ci] = true
    end
    count(r, 'created', 1)
    usage('bytes', string.len(ARGV[b + 4]))
    live(1)
    live_now = live_now + 1
    out[#out + 1] = {1, id, blob}
  end
end
for _, list in ipairs(lists) do push_ids(list[1], list[2], entries[list[1]]) end
commit()
return out
