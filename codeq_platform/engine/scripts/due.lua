--[[
  due: the sweep's candidates in one shard by the store's clock: lease ids whose expiry has passed
  and delayed ids whose due time has, earliest first, at most a batch of each. Writes nothing; the
  sweep script re-checks each against its record.

  KEYS, ARGV header: see lib.lua (no command block).
  ARGV[A+1] batch size
  Returns {expired lease ids, due delayed ids}.
]]
local now, batch = string.format('%d', NOW), tonumber(ARGV[A + 1])
return {redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', now, 'LIMIT', 0, batch),
        redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', now, 'LIMIT', 0, batch)}
