--[[
  trim: retention. Removes finished tasks (COMPLETED, FAILED, cancelled) that finished longer ago
  than an age, and dead-lettered tasks of the given commands that died longer ago than another age;
  then forgets the given commands that have nothing left (no ready, delayed, leased or dead-lettered
  task, no setting: paused, a cap) and whose counters last changed longer ago than a third age: they leave the known set and the
  turn ring, and their counters go. With that age given, a command with ready work that is not in the
  turn ring joins it. Ages count back from NOW, the store's clock, or from a moment the caller names.

  KEYS, ARGV header: see lib.lua (one block per command whose DLQ is trimmed).
  ARGV[A+1] finished age ms (-1 = skip)   ARGV[A+2] DLQ age ms (-1 = skip)   ARGV[A+3] batch size
  ARGV[A+4] forget age ms (-1 = skip)   ARGV[A+5] the moment ages count back from, ms ('' = NOW)
  Returns {finished removed, dead removed, more left (0/1)}.
]]
local finished_age, dlq_age, limit = tonumber(ARGV[A + 1]), tonumber(ARGV[A + 2]), tonumber(ARGV[A + 3])
local forget_age = tonumber(ARGV[A + 4])
local as_of = ARGV[A + 5] ~= '' and tonumber(ARGV[A + 5]) or NOW
local finished_cutoff, dlq_cutoff, forget_cutoff = as_of - finished_age, as_of - dlq_age, as_of - forget_age
local done, dead, more = 0, 0, 0
if finished_age >= 0 then
  local ids = redis.call('ZRANGEBYSCORE', K_DONE, '-inf', string.format('(%d', finished_cutoff), 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    local r = load(id)
    local st = r and r[R_STATE]
    if st == COMPLETED or st == FAILED or st == CANCELLED then
      remove_task(id, r, 0)
      done = done + 1
    else
      redis.call('ZREM', K_DONE, id)
    end
  end
  if #ids == limit then more = 1 end
end
if dlq_age >= 0 then
  for ci = 1, NCMDS do
    local ids = redis.call('ZRANGEBYSCORE', dlq_key(ci), '-inf', string.format('(%d', dlq_cutoff), 'LIMIT', 0, limit)
    for _, id in ipairs(ids) do
      local r = load(id)
      if r and r[R_STATE] == DEAD then
        remove_task(id, r, ci)
        dead = dead + 1
      else
        redis.call('ZREM', dlq_key(ci), id)
      end
    end
    if #ids == limit then more = 1 end
  end
end
if forget_age >= 0 then
  for ci = 1, NCMDS do
    local f = CMDS[ci] .. '/'
    stats_read({f .. 'seen', f .. 'inflight', f .. 'delayed', f .. 'paused', f .. 'cap', f .. 'hi'})
    local idle = stat_num(f .. 'seen') < forget_cutoff
    if has_ready(ci) then
      -- queued before the ring existed (an upgraded store): it takes its turn too, unless paused
      if not stat(f .. 'paused') then ring_join(CMDS[ci]) end
    elseif idle and redis.call('ZCARD', dlq_key(ci)) == 0 and stat_num(f .. 'inflight') <= 0
        and stat_num(f .. 'delayed') <= 0 and not stat(f .. 'paused') and not stat(f .. 'cap') then
      local fields = {f .. 'created', f .. 'completed', f .. 'failed', f .. 'dead', f .. 'inflight', f .. 'delayed',
                      f .. 'hi'}
      for prio = 0, 9 do fields[#fields + 1] = f .. 'stale/' .. prio end
      redis.call('HDEL', K_STATS, unpack(fields))
      ring_leave(CMDS[ci])
      redis.call('SREM', K_CMDS, CMDS[ci])
      redis.call('HDEL', K_STATS, f .. 'seen')
    end
  end
end
commit()
return {done, dead, more}
