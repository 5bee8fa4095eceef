--[[
  lib: what every operation shares. The engine builds two forms from these files: a FUNCTION library
  (Redis 7+, KVRocks), where this code runs once at load time and each operation is a registered
  function, and, for servers without functions, one EVAL script per operation made of the parts of
  this file it uses followed by its own file. Either way an operation starts with begin().

  KEYS layout, identical for every script (all keys share one {t:<tenant>:<shard>} hash tag):
    KEYS[1] task records (hash: id -> msgpack record)   KEYS[2] results (hash: id -> msgpack)
    KEYS[3] leases (zset, score = lease expiry ms)        KEYS[4] delayed (zset, score = due ms)
    KEYS[5] finished (zset, score = finish ms)            KEYS[6] counters (hash)
    KEYS[7] known commands (set)                          KEYS[8] idempotency keys (hash -> id)
    KEYS[9] dedup keys (hash "<command>\n<key>" -> id)    KEYS[10] outbox (list of terminal events)
    KEYS[11] turn ring (list of commands with ready work)  KEYS[12] the ring's members (set)
    then one block of 11 keys per command named in ARGV: ready lists for priority 0..9, then its DLQ
    (zset, score = time of death ms).
  ARGV header: [1] now ms: '' (the store's clock) but in tests  [2] random seed  [3] backoff base ms  [4] backoff cap ms
               [5] wake channel  [6] number of commands N  [7..6+N] the commands' routing forms
  A command's routing form (keys.command_key: NFKC + Unicode case folding) is computed by the engine
  alone; scripts compare and concatenate it and lowercase nothing (but see cmd_key for old records).
  The operation's own arguments follow at ARGV[A + 1].

  Time: NOW is the store's clock (TIME), read once per call, so every host calling the store agrees
  on lease expiry, due times and retention whatever its own clock says. Scripts replicate by their
  effects (Redis 5+, KVRocks), so reading TIME before writing is allowed. Only tests pass a time of
  their own in ARGV[1], to move it by hand.

  Record fields (msgpack array): see R_* below. Absent values are '' or 0, never nil, so the array
  has no holes; only R_KEY, the last, is missing from records written before it existed.

  Turn ring: the commands that may have ready work, each once, in the order a claim that names no
  command serves them (claim.lua). A command joins at the tail when one of its ready lists goes from
  empty to non-empty and leaves when a claim finds all of them empty; a served command moves to the
  tail. Every member of the set is in the ring (the ring is written first, the set last; removal the
  other way round), so a crash can at worst leave a command twice in the ring, never out of it.

  Known commands: a command joins the known set (KEYS[7]) when it is first enqueued and whenever its
  ready lists come back from empty; the counters' '<command>/seen' field holds the last time a call
  changed one of its counters, so retention (trim.lua) can forget a command that has had nothing for
  the retention period.

  Outbox: a terminal transition (COMPLETED or FAILED result, cancel, dead-lettering) of a task that
  has its own webhook, or of a tenant whose platform set the event's bit in the counters' 'hooks'
  field (1 completed, 2 failed, 4 dead), appends "<kind> US <id> US <ms>" (kind c, f or d) to the
  outbox, which the platform reads and acknowledges (outbox_ack.lua) to send webhooks.
]]
-- Per-call state, set by begin() from KEYS and ARGV.
local NOW, NOW_TEXT, BACKOFF_BASE, BACKOFF_CAP, WAKE_CHANNEL, NCMDS, CMDS, CMDIDX, A
local K_TASKS, K_RESULTS, K_LEASES, K_DELAYED, K_DONE, K_STATS, K_CMDS, K_IDEM, K_DEDUP, K_OUTBOX
local K_RING, K_RINGSET
local deltas, woken, hooks

local R_CMD, R_PAYLOAD, R_PRIO, R_STATE, R_ATT, R_MAX = 1, 2, 3, 4, 5, 6
local R_CREATED, R_UPDATED, R_WORKER, R_LEASE, R_ERROR = 7, 8, 9, 10, 11
local R_IDEM, R_DEDUP, R_WEBHOOK, R_TAGS, R_PROGRESS = 12, 13, 14, 15, 16
local R_DUE, R_FINISHED, R_EVENTS, R_NEVENTS, R_KEY = 17, 18, 19, 20, 21

local READY, DELAYED, LEASED, COMPLETED, FAILED, DEAD, CANCELLED = 0, 1, 2, 3, 4, 5, 6
local MAX_EVENTS = 20

local E_NOT_FOUND, E_NOT_OWNER, E_NOT_IN_PROGRESS = -1, -2, -3
local E_IN_PROGRESS, E_QUEUE_FULL, E_FINISHED, E_NOT_IN_DLQ = -4, -5, -6, -7

local function begin()
  if ARGV[1] == '' then
    local t = redis.call('TIME')
    NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  else
    NOW = tonumber(ARGV[1])
  end
  NOW_TEXT = string.format('%d', NOW)
  math.randomseed(tonumber(ARGV[2]))
  BACKOFF_BASE = tonumber(ARGV[3])
  BACKOFF_CAP = tonumber(ARGV[4])
  WAKE_CHANNEL = ARGV[5]
  NCMDS = tonumber(ARGV[6])
  CMDS = {}
  CMDIDX = {}
  for i = 1, NCMDS do
    CMDS[i] = ARGV[6 + i]
    CMDIDX[ARGV[6 + i]] = i
  end
  A = 6 + NCMDS
  K_TASKS, K_RESULTS, K_LEASES, K_DELAYED = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
  K_DONE, K_STATS, K_CMDS, K_IDEM, K_DEDUP, K_OUTBOX = KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
  K_RING, K_RINGSET = KEYS[11], KEYS[12]
  deltas = {}
  woken = {}
  hooks = nil
end

local function ready_key(ci, prio) return KEYS[12 + (ci - 1) * 11 + prio + 1] end
local function dlq_key(ci) return KEYS[12 + ci * 11] end

local function ready_lists(ci)
  local lists = {}
  for prio = 0, 9 do lists[prio + 1] = ready_key(ci, prio) end
  return lists
end

local function has_ready(ci) return redis.call('EXISTS', unpack(ready_lists(ci))) > 0 end

-- The ring's bookkeeping (see "Turn ring" above). Joining: ring, then set; leaving: set, then ring.
local function ring_join(cmd)
  if redis.call('SISMEMBER', K_RINGSET, cmd) == 0 then
    redis.call('RPUSH', K_RING, cmd)
    redis.call('SADD', K_RINGSET, cmd)
  end
end

local function ring_leave(cmd)
  redis.call('SREM', K_RINGSET, cmd)
  redis.call('LREM', K_RING, 1, cmd)
end

-- A served command goes to the tail: pushed there first, its earlier place removed after.
local function ring_to_tail(cmd)
  if redis.call('SISMEMBER', K_RINGSET, cmd) == 1 then
    redis.call('RPUSH', K_RING, cmd)
    redis.call('LREM', K_RING, 1, cmd)
  end
end

local function load(id)
  local raw = redis.call('HGET', K_TASKS, id)
  if not raw then return nil end
  return cmsgpack.unpack(raw)
end

-- Writes the record and returns its packed form, which callers reuse as their reply.
local function save(id, r)
  r[R_UPDATED] = NOW
  local blob = cmsgpack.pack(r)
  redis.call('HSET', K_TASKS, id, blob)
  return blob
end

-- The history is one string of records "kind US at-ms US detail RS" (ASCII unit/record separators):
-- packing a flat string costs a fraction of packing a table of tables on every write.
local function event(r, code, detail)
  local text = detail
  if string.find(text, '[\30\31]') then text = string.gsub(text, '[\30\31]', ' ') end
  local ev = r[R_EVENTS] .. code .. '\31' .. NOW_TEXT .. '\31' .. text .. '\30'
  if r[R_NEVENTS] >= MAX_EVENTS then
    ev = string.sub(ev, string.find(ev, '\30', 1, true) + 1)
  else
    r[R_NEVENTS] = r[R_NEVENTS] + 1
  end
  r[R_EVENTS] = ev
end

-- The routing form of the task's command: R_KEY holds it when it differs from the command as sent
-- ('' when they are equal). Records written before R_KEY existed lack it; the only ones of those that
-- ever matched their queue have ASCII names, whose routing form is their ASCII lowercase.
local function cmd_key(r)
  local key = r[R_KEY]
  if key == nil then return string.lower(r[R_CMD]) end
  if key == '' then return r[R_CMD] end
  return key
end

-- Appends a terminal event to the outbox when someone will be called back about it. The tenant's
-- 'hooks' bits are read at most once per call, and only for tasks without a webhook of their own.
-- Callers emit before saving the record: a crash in between leaves an event whose record does not
-- agree, which the platform drops, never a transition without its event.
local function emit(id, r, kind, bit)
  if r[R_WEBHOOK] == '' then
    if hooks == nil then hooks = tonumber(redis.call('HGET', K_STATS, 'hooks') or '0') end
    if math.floor(hooks / bit) % 2 == 0 then return end
  end
  redis.call('RPUSH', K_OUTBOX, kind .. '\31' .. id .. '\31' .. NOW_TEXT)
end

-- Counter changes are summed in ``deltas`` and written once at the end (commit), so a task that
-- settles and is replaced by the next claim in one call costs no in-flight writes at all.
local function bump(field, by) deltas[field] = (deltas[field] or 0) + by end

-- Usage of the day (UTC, the day number of NOW): '/u/<day>/<name>' in the same counters hash, summed
-- over every command. No command contains '/', so these fields never meet a command's own.
local USAGE = {created = true, completed = true, failed = true, dead = true}

local function usage(name, by)
  bump('/u/' .. string.format('%d', math.floor(NOW / 86400000)) .. '/' .. name, by)
end

local function count(r, name, by)
  bump(cmd_key(r) .. '/' .. name, by)
  if by > 0 and USAGE[name] then usage(name, by) end
end

local function live(by) bump('live', by) end

-- A ready task that leaves its list without being popped (cancel, delete) leaves its entry behind;
-- the entry is counted stale and skipped by the claim that pops it.
local function mark_stale(r) bump(cmd_key(r) .. '/stale/' .. r[R_PRIO], 1) end

local function unmark_stale(ci, prio)
  local field = CMDS[ci] .. '/stale/' .. prio
  if tonumber(redis.call('HGET', K_STATS, field) or '0') + (deltas[field] or 0) > 0 then bump(field, -1) end
end

local function release_dedup(id, r)
  if r[R_DEDUP] ~= '' then
    local field = cmd_key(r) .. '\n' .. r[R_DEDUP]
    if redis.call('HGET', K_DEDUP, field) == id then redis.call('HDEL', K_DEDUP, field) end
  end
end

-- Pushes to the tail of the task's ready list; the record is written by the caller afterwards, so a
-- crash in between leaves an entry whose record is not READY, which claim skips.
local function push_ready(id, r, ci)
  if redis.call('RPUSH', ready_key(ci, r[R_PRIO]), id) == 1 then woken[ci] = true end
  r[R_STATE] = READY
  r[R_DUE] = 0
end

-- The end of every writing script: counters and the time each command was last seen, then the
-- commands whose queue became non-empty join the known set and the turn ring, and are woken.
local function commit()
  local seen = {}
  for field, by in pairs(deltas) do
    if by ~= 0 then
      redis.call('HINCRBY', K_STATS, field, by)
      local slash = string.find(field, '/', 1, true)
      if slash and slash > 1 then seen[string.sub(field, 1, slash) .. 'seen'] = true end  -- not usage's '/u/...'
    end
  end
  local stamps = {}
  for field in pairs(seen) do
    stamps[#stamps + 1] = field
    stamps[#stamps + 1] = NOW_TEXT
  end
  if #stamps > 0 then redis.call('HSET', K_STATS, unpack(stamps)) end
  for ci in pairs(woken) do
    redis.call('SADD', K_CMDS, CMDS[ci])
    ring_join(CMDS[ci])
    redis.call('PUBLISH', WAKE_CHANNEL, CMDS[ci])
  end
end

local function to_delayed(id, r, due)
  redis.call('ZADD', K_DELAYED, string.format('%d', due), id)
  r[R_STATE] = DELAYED
  r[R_DUE] = due
  count(r, 'delayed', 1)
end

local function finish(id, r, state)
  redis.call('ZADD', K_DONE, string.format('%d', NOW), id)
  r[R_STATE] = state
  r[R_FINISHED] = NOW
  live(-1)
end

local function to_dlq(id, r, ci, reason)
  redis.call('ZADD', dlq_key(ci), string.format('%d', NOW), id)
  r[R_STATE] = DEAD
  r[R_FINISHED] = NOW
  r[R_ERROR] = reason
  count(r, 'dead', 1)
  live(-1)
  event(r, 'dead', reason)
  emit(id, r, 'd', 4)
end

local function backoff(attempts)
  local window = math.min(BACKOFF_BASE * math.pow(2, attempts), BACKOFF_CAP)
  if window >= 1000 then return 1000 * math.random(0, math.floor(window / 1000)) end
  return math.random(0, math.floor(window))
end

-- Releases the lease in the record; the caller removes the lease entry (drop_lease) only after
-- the record is saved, so a crash in between leaves an entry the sweep repairs, never a leased
-- record that no set points at.
local function release_lease(r)
  count(r, 'inflight', -1)
  r[R_WORKER] = ''
  r[R_LEASE] = 0
end

local function drop_lease(id) redis.call('ZREM', K_LEASES, id) end

-- A charged give-back (nack or lease expiry) of a task whose lease was just released: back to the
-- queue after a delay (nil = backoff), or to the DLQ once its attempts are spent.
-- Returns the delay in ms, or -1 when the task went to the DLQ.
local function retry_or_dead(id, r, ci, delay, reason, dead_reason)
  if r[R_ATT] >= r[R_MAX] then
    to_dlq(id, r, ci, dead_reason)
    return -1
  end
  if delay == nil then delay = backoff(r[R_ATT]) end
  r[R_ERROR] = reason
  if delay <= 0 then
    push_ready(id, r, ci)
    event(r, 'retry', '0')
    return 0
  end
  to_delayed(id, r, NOW + delay)
  event(r, 'retry', string.format('%d', NOW + delay))
  return delay
end

-- Lease expiry for one candidate id; entries whose record disagrees are repaired (removed).
local function expire_one(id)
  local r = load(id)
  if not r or r[R_STATE] ~= LEASED or r[R_LEASE] > NOW then
    if not r or r[R_STATE] ~= LEASED then redis.call('ZREM', K_LEASES, id) end
    return 0
  end
  local ci = CMDIDX[cmd_key(r)]
  if not ci then return 0 end
  local worker = r[R_WORKER]
  release_lease(r)
  event(r, 'expired', worker)
  retry_or_dead(id, r, ci, nil, 'LEASE_EXPIRED', 'LEASE_EXPIRED')
  save(id, r)
  drop_lease(id)
  return 1
end

local function promote_one(id)
  local r = load(id)
  if not r or r[R_STATE] ~= DELAYED then
    redis.call('ZREM', K_DELAYED, id)
    return 0
  end
  local ci = CMDIDX[cmd_key(r)]
  if not ci or r[R_DUE] > NOW then return 0 end
  push_ready(id, r, ci)
  save(id, r)
  redis.call('ZREM', K_DELAYED, id)
  count(r, 'delayed', -1)
  return 1
end

-- Bounded lazy maintenance for the commands this script was given: moves at most `limit` expired
-- leases and `limit` due delayed tasks, looking at up to 10 x `limit` entries from the low end of
-- each set, so other commands' entries there (left to the sweep) do not starve this claim.
local function maintain(limit)
  local moved = 0
  if limit <= 0 then return 0 end
  local now, window = string.format('%d', NOW), limit * 10
  local done = 0
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', now, 'LIMIT', 0, window)) do
    done = done + expire_one(id)
    if done >= limit then break end
  end
  moved = done
  done = 0
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', now, 'LIMIT', 0, window)) do
    done = done + promote_one(id)
    if done >= limit then break end
  end
  return moved + done
end

-- Claims up to `want` tasks for `worker` across this script's commands: highest priority first,
-- FIFO within a list. Reads the head before writing so a crash at any point leaves either the entry
-- (skipped later as not READY) or the record unchanged. Returns a flat {id, record, ...} array, and
-- true when it walked every list to its end (so every command it was given has no ready work left).
local function claim_tasks(worker, lease_ms, want, skip_limit)
  local out = {}
  local got, skipped = 0, 0
  local until_ms = NOW + lease_ms
  -- Most tasks carry the default priority 0: one EXISTS over the higher lists spares nine reads.
  local upper = {}
  for ci = 1, NCMDS do
    for prio = 1, 9 do upper[#upper + 1] = ready_key(ci, prio) end
  end
  local top = 9
  if redis.call('EXISTS', unpack(upper)) == 0 then top = 0 end
  for prio = top, 0, -1 do
    for ci = 1, NCMDS do
      local q = ready_key(ci, prio)
      while got < want do
        local head = redis.call('LRANGE', q, 0, 0)[1]
        if not head then break end
        local r = load(head)
        if not r or r[R_STATE] ~= READY or r[R_PRIO] ~= prio or cmd_key(r) ~= CMDS[ci] then
          redis.call('LPOP', q)
          unmark_stale(ci, prio)
          skipped = skipped + 1
          if skipped >= skip_limit then return out, false end
        else
          redis.call('ZADD', K_LEASES, string.format('%d', until_ms), head)
          r[R_STATE] = LEASED
          r[R_ATT] = r[R_ATT] + 1
          r[R_WORKER] = worker
          r[R_LEASE] = until_ms
          event(r, 'claimed', worker)
          release_dedup(head, r)
          local blob = save(head, r)
          redis.call('LPOP', q)
          count(r, 'inflight', 1)
          got = got + 1
          out[#out + 1] = head
          out[#out + 1] = blob
        end
      end
      if got >= want then return out, false end
    end
  end
  return out, true
end

-- Ownership check shared by the lease holder's operations.
local function owned(r, worker)
  if not r then return E_NOT_FOUND end
  if r[R_STATE] ~= LEASED then return E_NOT_IN_PROGRESS end
  if r[R_WORKER] ~= worker then return E_NOT_OWNER end
  return 0
end

-- Final result by the lease holder (COMPLETED or FAILED). A repeat of the same call after a lost
-- reply finds the task already finished by this worker and answers as the first call did.
local function settle(id, worker, state, result_blob, err)
  local raw = redis.call('HGET', K_TASKS, id)
  local r = raw and cmsgpack.unpack(raw)
  if r and (r[R_STATE] == COMPLETED or r[R_STATE] == FAILED) and r[R_WORKER] == worker
      and r[R_FINISHED] > 0 then
    return 2, raw
  end
  local code = owned(r, worker)
  if code ~= 0 then return code, '' end
  redis.call('HSET', K_RESULTS, id, result_blob .. cmsgpack.pack(NOW))
  count(r, 'inflight', -1)
  r[R_LEASE] = 0
  r[R_ERROR] = err
  finish(id, r, state)
  if state == COMPLETED then
    count(r, 'completed', 1)
    event(r, 'completed', '')
    emit(id, r, 'c', 1)
  else
    count(r, 'failed', 1)
    event(r, 'failed', err)
    emit(id, r, 'f', 2)
  end
  local blob = save(id, r)
  drop_lease(id)
  return 1, blob
end

-- Removes a task that is not leased from wherever it sits; its record goes last so a crash leaves
-- it findable. Returns 1, or E_IN_PROGRESS.
local function remove_task(id, r, ci)
  local st = r[R_STATE]
  if st == LEASED then return E_IN_PROGRESS end
  if st == READY then
    mark_stale(r)
    live(-1)
  elseif st == DELAYED then
    redis.call('ZREM', K_DELAYED, id)
    count(r, 'delayed', -1)
    live(-1)
  elseif st == DEAD then
    redis.call('ZREM', dlq_key(ci), id)
  else
    redis.call('ZREM', K_DONE, id)
  end
  release_dedup(id, r)
  if r[R_IDEM] ~= '' and redis.call('HGET', K_IDEM, r[R_IDEM]) == id then
    redis.call('HDEL', K_IDEM, r[R_IDEM])
  end
  redis.call('HDEL', K_RESULTS, id)
  redis.call('HDEL', K_TASKS, id)
  return 1
end

-- The body of complete and fail: store the final result, then claim the caller's next tasks when
-- the call asks for them (see complete.lua for the arguments).
local function settle_and_claim_next(state)
  local code, blob = settle(ARGV[A + 1], ARGV[A + 2], state, ARGV[A + 3], ARGV[A + 4])
  local out = {code, blob}
  local want = tonumber(ARGV[A + 6])
  if code == 1 and want > 0 then  -- a repeated call (2) already claimed its next tasks
    maintain(tonumber(ARGV[A + 7]))
    for _, v in ipairs(claim_tasks(ARGV[A + 2], tonumber(ARGV[A + 5]), want, tonumber(ARGV[A + 8]))) do
      out[#out + 1] = v
    end
  end
  commit()
  return out
end
