--[[
  configure: a command's settings in one shard: paused or not, and this shard's share of its cap on
  tasks in flight. Claims read both with the counters they read anyway (claim_tasks in lib.lua).

  KEYS, ARGV header: see lib.lua (one block: the command).
  ARGV[A+1] paused: '1' pause, '0' resume, '' unchanged
  ARGV[A+2] cap share: a whole number >= 1, '0' no cap, '' unchanged
  Returns {paused (0/1), cap share (0 = none)}.
  The command joins the known set, so its settings show in listings before its first task. A command
  left unpaused with ready work rejoins the turn ring (an unnamed claim dropped it while paused) and
  its waiting claims are woken.
]]
local f = CMDS[1] .. '/'
local pause, cap = ARGV[A + 1], ARGV[A + 2]
if pause == '1' then
  redis.call('HSET', K_STATS, f .. 'paused', '1')
elseif pause == '0' then
  redis.call('HDEL', K_STATS, f .. 'paused')
end
if cap == '0' then
  redis.call('HDEL', K_STATS, f .. 'cap')
elseif cap ~= '' then
  redis.call('HSET', K_STATS, f .. 'cap', cap)
end
redis.call('SADD', K_CMDS, CMDS[1])
local now = redis.call('HMGET', K_STATS, f .. 'paused', f .. 'cap')
if not now[1] and (pause == '0' or cap ~= '') and has_ready(1) then
  ring_join(CMDS[1])
  redis.call('PUBLISH', WAKE_CHANNEL, CMDS[1])
end
return {now[1] and 1 or 0, tonumber(now[2] or '0')}
