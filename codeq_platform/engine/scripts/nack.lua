--[[
  nack: the lease holder gives the task back to be retried later, charging the attempt.

  KEYS, ARGV header: see lib.lua (one block: the task's command).
  ARGV[A+1] task id   ARGV[A+2] worker id   ARGV[A+3] delay ms (-1 = exponential backoff, full jitter)
  ARGV[A+4] reason ('' = none)
  Returns {delay ms, record}, delay -1 when the attempts were spent and the task went to the DLQ;
  or {code}: -1 no such task, -2 leased by another worker, -3 not leased.
]]
local id, worker = ARGV[A + 1], ARGV[A + 2]
local r = load(id)
local code = owned(r, worker)
if code ~= 0 then return {code} end
local ci = CMDIDX[cmd_key(r)]
local delay = tonumber(ARGV[A + 3])
if delay < 0 then delay = nil end
local reason = ARGV[A + 4]
release_lease(r)
event(r, 'nacked', reason)
local dead_reason = reason
if dead_reason == '' then dead_reason = 'MAX_ATTEMPTS' end
local outcome = retry_or_dead(id, r, ci, delay, reason, dead_reason)
local blob = save(id, r)
drop_lease(id)
commit()
return {outcome, blob}
