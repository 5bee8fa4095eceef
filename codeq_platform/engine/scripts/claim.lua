--[[
  claim: lease up to `want` ready tasks of the given commands to a worker. Paused commands are
  skipped; a command with a cap on tasks in flight gives at most what its cap leaves room for.

  KEYS, ARGV header: see lib.lua (one block per command to claim from, in the worker's order).
  ARGV[A+1] worker id   ARGV[A+2] lease ms   ARGV[A+3] how many tasks at most
  ARGV[A+4] lazy maintenance batch (expired leases / due delayed tasks looked at first)
  ARGV[A+5] how many stale entries one call may skip
  ARGV[A+6] 1 when the commands are the head of the turn ring (a claim that names no command): served
            commands and commands at their cap then move to the ring's tail, and commands found
            without ready work or paused leave it (resume brings a paused one back)
  Returns a flat array {id, record, id, record, ...}; empty when nothing is ready.
]]
maintain(tonumber(ARGV[A + 4]))
local out, status = claim_tasks(ARGV[A + 1], tonumber(ARGV[A + 2]), tonumber(ARGV[A + 3]), tonumber(ARGV[A + 5]))
if ARGV[A + 6] == '1' then
  flush()  -- the entries just claimed are popped before the lists are looked at again
  local served = {}
  for i = 1, #out, 2 do served[cmd_key(REC[out[i]])] = true end
  for ci = 1, NCMDS do
    local cmd = CMDS[ci]
    if status[ci] == 'paused' or status[ci] == true then
      ring_leave(cmd)
    elseif status[ci] == 'full' then
      ring_to_tail(cmd)
    elseif served[cmd] then
      if has_ready(ci) then ring_to_tail(cmd) else ring_leave(cmd) end
    end
  end
end
commit()
return out
