--[[
  outbox_ack: the platform acknowledges the first n outbox events it read (see lib.lua), once it has
  acted on them, so they are not read again (at-least-once: an event read but not acknowledged is
  read again).

  KEYS, ARGV header: see lib.lua (no command block).
  ARGV[A+1] n   ARGV[A+2] the n-th event as it was read
  Returns the number of events removed: n, or 0 when the n-th entry is no longer that event (another
  reader acknowledged them first), so a second reader can never drop events nobody has read.
]]
local n = tonumber(ARGV[A + 1])
if n < 1 or redis.call('LINDEX', K_OUTBOX, n - 1) ~= ARGV[A + 2] then return 0 end
redis.call('LTRIM', K_OUTBOX, n, -1)
return n
