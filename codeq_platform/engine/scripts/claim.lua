--[[
  claim: lease up to `want` ready tasks of the given commands to a worker.

  KEYS, ARGV header: see lib.lua (one block per command to claim from, in the worker's order).
  ARGV[A+1] worker id   ARGV[A+2] lease ms   ARGV[A+3] how many tasks at most
  ARGV[A+4] lazy maintenance batch (expired leases / due delayed tasks looked at first)
  ARGV[A+5] how many stale entries one call may skip
  ARGV[A+6] 1 when the commands are the head of the turn ring (a claim that names no command): served
            commands then move to the ring's tail, and commands found without ready work leave it
  Returns a flat array {id, record, id, record, ...}; empty when nothing is ready.
]]
maintain(tonumber(ARGV[A + 4]))
local out, drained = claim_tasks(ARGV[A + 1], tonumber(ARGV[A + 2]), tonumber(ARGV[A + 3]), tonumber(ARGV[A + 5]))
if ARGV[A + 6] == '1' then
  local served = {}
  for i = 2, #out, 2 do served[cmd_key(cmsgpack.unpack(out[i]))] = true end
  for ci = 1, NCMDS do
    local cmd = CMDS[ci]
    if (served[cmd] or drained) and not has_ready(ci) then
      ring_leave(cmd)
    elseif served[cmd] then
      ring_to_tail(cmd)
    end
  end
end
commit()
return out
