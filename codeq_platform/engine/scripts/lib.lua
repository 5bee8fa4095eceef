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

  Counters hash (KEYS[6]): per command '<command>/<name>' counters (created, completed, failed, dead,
  inflight, delayed, stale/<priority>), '<command>/seen', and the command's settings: '<command>/paused'
  ('1' while claims skip it), '<command>/cap' (this shard's share of its cap on tasks in flight) and
  '<command>/hi' ('0' when its priority 1-9 lists are known to be empty: claims then read only its
  priority 0 list; absent or '1': they may hold entries); the tenant's 'hooks' bits; usage '/u/...'.
  A call reads the fields it needs once (one HMGET) and writes every field it changed once, at its
  end (one HSET), so a claim's pause and cap checks cost no command of their own. (On KVRocks each
  hash field, list element and sorted-set member is a RocksDB key of its own: a call's cost there
  follows the keys it touches more than its command count; see the README's "KVRocks beside Redis".)

  Writes in three steps (flush): first what must precede a task's record (its result, its place in
  the finished set, its outbox event, its lease entry), then every record the call changed in one
  HSET, then what must follow them (lease entries removed, ready entries popped, delayed and DLQ
  entries removed). Any prefix of that order is repaired as the single-task order always was: an
  entry whose record disagrees is skipped or dropped by the next claim or the sweep.

  Outbox: a terminal transition (COMPLETED or FAILED result, cancel, dead-lettering) of a task that
  has its own webhook, or of a tenant whose platform set the event's bit in the counters' 'hooks'
  field (1 completed, 2 failed, 4 dead), appends "<kind> US <id> US <ms>" (kind c, f or d) to the
  outbox, which the platform reads and acknowledges (outbox_ack.lua) to send webhooks.
]]
-- Per-call state, set by begin() from KEYS and ARGV.
local NOW, NOW_TEXT, BACKOFF_BASE, BACKOFF_CAP, WAKE_CHANNEL, NCMDS, CMDS, CMDIDX, A
local K_TASKS, K_RESULTS, K_LEASES, K_DELAYED, K_DONE, K_STATS, K_CMDS, K_IDEM, K_DEDUP, K_OUTBOX
local K_RING, K_RINGSET
local deltas, woken
-- S: counters-hash fields read this call (false: absent); SETS: fields written as given at commit;
-- HI_SET: commands whose 'hi' flag this call raised. REC / RAW: records read or written this call
-- (unpacked / packed; REC false: no such task). The P_* lists and DIRTY wait for flush().
local S, SETS, HI_SET, REC, RAW
local P_RESULTS, P_DONE, P_OUTBOX, P_LEASES, DIRTY, DIRTY_IDS, UNLEASE, POPS, AFTER, PEEK

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
  deltas, woken = {}, {}
  S, SETS, HI_SET, REC, RAW = {}, {}, {}, {}, {}
  P_RESULTS, P_DONE, P_OUTBOX, P_LEASES, DIRTY, DIRTY_IDS = {}, {}, {}, {}, {}, {}
  UNLEASE, POPS, AFTER, PEEK = {}, {}, {}, {}
end

local function ready_key(ci, prio) return KEYS[12 + (ci - 1) * 11 + prio + 1] end
local function dlq_key(ci) return KEYS[12 + ci * 11] end

-- Reads the counters-hash fields not read yet this call, all in one HMGET.
local function stats_read(fields)
  local missing = {}
  for _, f in ipairs(fields) do
    if S[f] == nil then missing[#missing + 1] = f end
  end
  if #missing > 0 then
    local values = redis.call('HMGET', K_STATS, unpack(missing))
    for i, f in ipairs(missing) do S[f] = values[i] end
  end
end

local function stat(field)
  if S[field] == nil then S[field] = redis.call('HGET', K_STATS, field) end
  return S[field]
end

local function stat_num(field) return tonumber(stat(field) or '0') or 0 end

-- Whether any ready list of the command holds an entry (its priority 0 list alone when its 'hi'
-- flag says the others are empty).
local function has_ready(ci)
  if stat(CMDS[ci] .. '/hi') == '0' and not HI_SET[ci] then
    return redis.call('EXISTS', ready_key(ci, 0)) > 0
  end
  local lists = {}
  for prio = 0, 9 do lists[prio + 1] = ready_key(ci, prio) end
  return redis.call('EXISTS', unpack(lists)) > 0
end

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
  local r = REC[id]
  if r == nil then
    local raw = redis.call('HGET', K_TASKS, id)
    r = raw and cmsgpack.unpack(raw) or false
    REC[id], RAW[id] = r, raw or nil
  end
  return r or nil
end

-- Reads the records of `ids` not read yet this call, all in one HMGET.
local function load_many(ids)
  local missing = {}
  for _, id in ipairs(ids) do
    if REC[id] == nil then missing[#missing + 1] = id end
  end
  if #missing > 0 then
    local raws = redis.call('HMGET', K_TASKS, unpack(missing))
    for i, id in ipairs(missing) do
      REC[id] = raws[i] and cmsgpack.unpack(raws[i]) or false
      RAW[id] = raws[i] or nil
    end
  end
end

-- Stages the record (written by flush) and returns its packed form, which callers reuse as their reply.
local function save(id, r)
  r[R_UPDATED] = NOW
  local blob = cmsgpack.pack(r)
  if not DIRTY[id] then DIRTY_IDS[#DIRTY_IDS + 1] = id end
  DIRTY[id] = blob
  REC[id], RAW[id] = r, blob
  return blob
end

-- Removes the record now (retention, delete), and any write of it still staged.
local function drop_record(id)
  redis.call('HDEL', K_TASKS, id)
  DIRTY[id] = nil
  REC[id], RAW[id] = false, nil
end

local function drop_lease(id) UNLEASE[id] = true end

local function add_lease(id, until_text)
  UNLEASE[id] = nil
  P_LEASES[#P_LEASES + 1] = until_text
  P_LEASES[#P_LEASES + 1] = id
end

-- The writes staged so far, in the order the header describes.
local function flush()
  if #P_RESULTS > 0 then redis.call('HSET', K_RESULTS, unpack(P_RESULTS)) end
  if #P_DONE > 0 then redis.call('ZADD', K_DONE, unpack(P_DONE)) end
  if #P_OUTBOX > 0 then redis.call('RPUSH', K_OUTBOX, unpack(P_OUTBOX)) end
  if #P_LEASES > 0 then redis.call('ZADD', K_LEASES, unpack(P_LEASES)) end
  local pairs_ = {}
  for _, id in ipairs(DIRTY_IDS) do
    if DIRTY[id] then
      pairs_[#pairs_ + 1] = id
      pairs_[#pairs_ + 1] = DIRTY[id]
    end
  end
  if #pairs_ > 0 then redis.call('HSET', K_TASKS, unpack(pairs_)) end
  local gone = {}
  for id in pairs(UNLEASE) do gone[#gone + 1] = id end
  if #gone > 0 then redis.call('ZREM', K_LEASES, unpack(gone)) end
  for q, n in pairs(POPS) do redis.call('LPOP', q, n) end
  for _, call in ipairs(AFTER) do redis.call(unpack(call)) end
  P_RESULTS, P_DONE, P_OUTBOX, P_LEASES, DIRTY, DIRTY_IDS = {}, {}, {}, {}, {}, {}
  UNLEASE, POPS, AFTER, PEEK = {}, {}, {}, {}
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

-- Stages a terminal event for the outbox when someone will be called back about it; it is written
-- before the record (flush): a crash in between leaves an event whose record does not agree, which
-- the platform drops, never a transition without its event.
local function emit(id, r, kind, bit)
  if r[R_WEBHOOK] == '' then
    local hooks = tonumber(stat('hooks') or '0') or 0
    if math.floor(hooks / bit) % 2 == 0 then return end
  end
  P_OUTBOX[#P_OUTBOX + 1] = kind .. '\31' .. id .. '\31' .. NOW_TEXT
end

-- Counter changes are summed in ``deltas`` and written once at the end (commit), so a task that
-- settles and is replaced by the next claim in one call costs no in-flight writes at all.
local function bump(field, by) deltas[field] = (deltas[field] or 0) + by end

-- Usage of the day (UTC, the day number of NOW): '/u/<day>/<name>' in the same counters hash, summed
-- over every command. No command contains '/', so these fields never meet a command's own.
local USAGE = {created = true, completed = true, failed = true, dead = true}

local function usage_field(name) return '/u/' .. string.format('%d', math.floor(NOW / 86400000)) .. '/' .. name end

local function usage(name, by) bump(usage_field(name), by) end

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
  if stat_num(field) + (deltas[field] or 0) > 0 then bump(field, -1) end
end

local function release_dedup(id, r)
  if r[R_DEDUP] ~= '' then
    local field = cmd_key(r) .. '\n' .. r[R_DEDUP]
    if redis.call('HGET', K_DEDUP, field) == id then redis.call('HDEL', K_DEDUP, field) end
  end
end

-- Makes the record READY for the tail of its ready list, whose key it returns; the caller pushes the
-- entry, then the record is written, so a crash in between leaves an entry whose record is not READY,
-- which claim skips. An entry of priority 1-9 raises the command's 'hi' flag first, so no prefix
-- leaves it behind a '0'.
local function make_ready(r, ci)
  local prio = r[R_PRIO]
  if prio > 0 and not HI_SET[ci] then
    local field = CMDS[ci] .. '/hi'
    if stat(field) ~= '1' then
      redis.call('HSET', K_STATS, field, '1')
      S[field] = '1'
    end
    HI_SET[ci] = true
    SETS[field] = nil
  end
  r[R_STATE] = READY
  r[R_DUE] = 0
  return ready_key(ci, prio)
end

-- Pushes `ids` to the tail of ready list `q` of command `ci` (woken when the list was empty).
local function push_ids(q, ci, ids)
  if redis.call('RPUSH', q, unpack(ids)) == #ids then woken[ci] = true end
end

local function push_ready(id, r, ci) push_ids(make_ready(r, ci), ci, {id}) end

-- The end of every writing script: the staged writes, then every counter changed and the time each
-- command was last seen in one HSET, then the commands whose queue became non-empty join the known
-- set and the turn ring, and are woken. An in-flight count never goes below 0 (a crash between a
-- record and its counters can leave it one short; it then heals when the command goes idle).
local function commit()
  flush()
  local fields = {}
  for field, by in pairs(deltas) do
    if by ~= 0 then fields[#fields + 1] = field end
  end
  stats_read(fields)
  local args, seen = {}, {}
  for _, field in ipairs(fields) do
    local value = (tonumber(S[field] or '0') or 0) + deltas[field]
    if value < 0 and string.sub(field, -9) == '/inflight' then value = 0 end
    args[#args + 1] = field
    args[#args + 1] = string.format('%d', value)
    local slash = string.find(field, '/', 1, true)
    if slash and slash > 1 then seen[string.sub(field, 1, slash) .. 'seen'] = true end  -- not usage's '/u/...'
  end
  for field in pairs(seen) do
    args[#args + 1] = field
    args[#args + 1] = NOW_TEXT
  end
  for field, value in pairs(SETS) do
    args[#args + 1] = field
    args[#args + 1] = value
  end
  if #args > 0 then redis.call('HSET', K_STATS, unpack(args)) end
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
  P_DONE[#P_DONE + 1] = NOW_TEXT
  P_DONE[#P_DONE + 1] = id
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

-- Releases the lease in the record; the caller drops the lease entry (drop_lease), which flush
-- removes only after the record is written, so a crash in between leaves an entry the sweep
-- repairs, never a leased record that no set points at.
local function release_lease(r)
  count(r, 'inflight', -1)
  r[R_WORKER] = ''
  r[R_LEASE] = 0
end

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
    if not r or r[R_STATE] ~= LEASED then drop_lease(id) end
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
    AFTER[#AFTER + 1] = {'ZREM', K_DELAYED, id}
    return 0
  end
  local ci = CMDIDX[cmd_key(r)]
  if not ci or r[R_DUE] > NOW then return 0 end
  push_ready(id, r, ci)
  save(id, r)
  AFTER[#AFTER + 1] = {'ZREM', K_DELAYED, id}
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

-- The fields a claim reads for each of this script's commands, in one HMGET with the caller's own.
local function claim_fields(fields)
  for ci = 1, NCMDS do
    local f = CMDS[ci] .. '/'
    fields[#fields + 1] = f .. 'paused'
    fields[#fields + 1] = f .. 'cap'
    fields[#fields + 1] = f .. 'inflight'
    fields[#fields + 1] = f .. 'hi'
  end
  return fields
end

-- Claims up to `want` tasks for `worker` across this script's commands: highest priority first,
-- FIFO within a list, skipping paused commands and taking no more of a command than its cap leaves
-- room for. Reads a list's head entries and their records (one LRANGE, one HMGET per chunk) before
-- writing anything; the lease entries are written before the records, the entries popped after
-- them (flush), so a crash at any point leaves entries that are skipped later as not READY.
-- Returns a flat {id, record, ...} array, and per command index: true when all its lists were
-- walked to their end (no ready work left), or 'paused' / 'full' when it was not served for that.
local function claim_tasks(worker, lease_ms, want, skip_limit)
  local out = {}
  local got, skipped = 0, 0
  local until_text = string.format('%d', NOW + lease_ms)
  stats_read(claim_fields({}))
  local room, status, tops, upper, checked = {}, {}, {}, {}, {}
  for ci = 1, NCMDS do
    local f = CMDS[ci] .. '/'
    tops[ci] = 0
    if S[f .. 'paused'] == '1' then
      room[ci], status[ci] = 0, 'paused'
    else
      room[ci] = want
      local cap = tonumber(S[f .. 'cap'] or '')
      if cap then
        room[ci] = math.max(cap - stat_num(f .. 'inflight') - (deltas[f .. 'inflight'] or 0), 0)
        if room[ci] == 0 then status[ci] = 'full' end
      end
      if room[ci] > 0 and (S[f .. 'hi'] ~= '0' or HI_SET[ci]) then
        checked[#checked + 1] = ci
        for prio = 1, 9 do upper[#upper + 1] = ready_key(ci, prio) end
      end
    end
  end
  -- Most tasks carry the default priority 0: the 'hi' flags spare the higher lists' reads, and one
  -- EXISTS covers those of the commands whose flag is up (and lowers it when they are empty).
  if #upper > 0 then
    if redis.call('EXISTS', unpack(upper)) > 0 then
      for _, ci in ipairs(checked) do tops[ci] = 9 end
    else
      for _, ci in ipairs(checked) do
        if not HI_SET[ci] then SETS[CMDS[ci] .. '/hi'] = '0' end
      end
    end
  end
  local taken = {}
  for ci = 1, NCMDS do
    taken[ci] = 0
    if status[ci] == nil then status[ci] = true end
  end
  local stop = false
  for prio = 9, 0, -1 do
    for ci = 1, NCMDS do
      if prio <= tops[ci] and status[ci] ~= 'paused' then
        local q = ready_key(ci, prio)
        local pos, ended = POPS[q] or 0, false
        while not stop and got < want and taken[ci] < room[ci] do
          local need = math.min(want - got, room[ci] - taken[ci])
          local ids = PEEK[q]
          if ids and #ids >= pos + need then
            ids = {unpack(ids, pos + 1, pos + need)}
          else
            ids = redis.call('LRANGE', q, pos, pos + need - 1)
          end
          load_many(ids)
          for _, id in ipairs(ids) do
            if stop then break end
            pos = pos + 1
            local r = REC[id]
            if not r or r[R_STATE] ~= READY or r[R_PRIO] ~= prio or cmd_key(r) ~= CMDS[ci] then
              unmark_stale(ci, prio)
              skipped = skipped + 1
              if skipped >= skip_limit then stop = true end
            else
              add_lease(id, until_text)
              r[R_STATE] = LEASED
              r[R_ATT] = r[R_ATT] + 1
              r[R_WORKER] = worker
              r[R_LEASE] = NOW + lease_ms
              event(r, 'claimed', worker)
              release_dedup(id, r)
              count(r, 'inflight', 1)
              got = got + 1
              taken[ci] = taken[ci] + 1
              out[#out + 1] = id
              out[#out + 1] = save(id, r)
            end
          end
          if #ids < need and not stop then
            ended = true
            break
          end
        end
        if pos > 0 then POPS[q] = pos end
        if not ended and status[ci] == true then status[ci] = false end
      end
    end
  end
  for ci = 1, NCMDS do
    if status[ci] ~= 'paused' and room[ci] < want and taken[ci] >= room[ci] then status[ci] = 'full' end
  end
  return out, status
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
  local r = load(id)
  if r and (r[R_STATE] == COMPLETED or r[R_STATE] == FAILED) and r[R_WORKER] == worker
      and r[R_FINISHED] > 0 then
    return 2, RAW[id]
  end
  local code = owned(r, worker)
  if code ~= 0 then return code, '' end
  P_RESULTS[#P_RESULTS + 1] = id
  P_RESULTS[#P_RESULTS + 1] = result_blob .. cmsgpack.pack(NOW)
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
  drop_record(id)
  return 1
end

-- Final results of many leased tasks, each from its own lease holder, each optionally claiming that
-- holder's next tasks: the body of complete, fail and settle_batch. `first` is the ARGV index of the
-- first report's 7 values: task id, worker id, state (3 = COMPLETED, 4 = FAILED), result record
-- (msgpack), error text, lease ms for next tasks, how many next tasks. Every record (the settled ones
-- and, when the next claims name one command at priority 0, the head of its list) is read in one
-- HMGET, the counters in one more, and every kind of write is made once for all the reports (flush).
-- Returns per report {code, record, id, record, ...}: code 1 done, 2 already done by this worker (a
-- retried call), -1 no such task, -2 leased by another worker, -3 not leased; the claimed tasks
-- follow the record. A repeated call (2) claims nothing: its first call did.
local function settle_reports(first, n, lazy, skip_limit)
  local reports, ids, wanted, kinds = {}, {}, 0, {}
  for i = 1, n do
    local b = first + (i - 1) * 7
    local state = tonumber(ARGV[b + 2])
    reports[i] = {ARGV[b], ARGV[b + 1], state, ARGV[b + 3], ARGV[b + 4], tonumber(ARGV[b + 5]), tonumber(ARGV[b + 6])}
    ids[i] = ARGV[b]
    wanted = wanted + reports[i][7]
    kinds[state == COMPLETED and 'completed' or 'failed'] = true
  end
  local fields = {'hooks', 'live'}
  for kind in pairs(kinds) do fields[#fields + 1] = usage_field(kind) end
  if wanted > 0 then
    claim_fields(fields)
    for ci = 1, NCMDS do
      for kind in pairs(kinds) do fields[#fields + 1] = CMDS[ci] .. '/' .. kind end
    end
    -- Next claims usually name the one command their workers work on, at priority 0 only: the head
    -- of that list is read now, so the settled records and the next ones come in one HMGET.
    stats_read(fields)
    local f = CMDS[1] .. '/'
    if NCMDS == 1 and S[f .. 'paused'] ~= '1' and S[f .. 'hi'] == '0' then
      local q = ready_key(1, 0)
      PEEK[q] = redis.call('LRANGE', q, 0, wanted - 1)
      for _, id in ipairs(PEEK[q]) do ids[#ids + 1] = id end
    end
    load_many(ids)
  else
    load_many(ids)
    for i = 1, n do
      if owned(REC[ids[i]] or nil, reports[i][2]) == 0 then  -- not for refusals and repeats alone
        stats_read(fields)
        break
      end
    end
  end
  local out, claiming = {}, {}
  for i, rep in ipairs(reports) do
    local code, blob = settle(rep[1], rep[2], rep[3], rep[4], rep[5])
    out[i] = {code, blob}
    if code == 1 and rep[7] > 0 then claiming[#claiming + 1] = i end
  end
  if #claiming > 0 then
    maintain(lazy)
    for _, i in ipairs(claiming) do
      local rep = reports[i]
      for _, v in ipairs(claim_tasks(rep[2], rep[6], rep[7], skip_limit)) do out[i][#out[i] + 1] = v end
    end
  end
  commit()
  return out
end
