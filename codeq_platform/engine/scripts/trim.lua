--[[
  trim: retention. Removes finished tasks (COMPLETED, FAILED, cancelled) that finished longer ago
  than an age, and dead-lettered tasks of the given commands that died longer ago than another age.
  Ages count back from NOW, the store's clock.

  KEYS, ARGV header: see lib.lua (one block per command whose DLQ is trimmed).
  ARGV[A+1] finished age ms (-1 = skip)   ARGV[A+2] DLQ age ms (-1 = skip)   ARGV[A+3] batch size
  Returns {finished removed, dead removed, more left (0/1)}.
]]
local finished_age, dlq_age, limit = tonumber(ARGV[A + 1]), tonumber(ARGV[A + 2]), tonumber(ARGV[A + 3])
local finished_cutoff, dlq_cutoff = NOW - finished_age, NOW - dlq_age
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
commit()
return {done, dead, more}
