--[[
  settle_batch: final results of many leased tasks in one call, each COMPLETED or FAILED, each from its
  own lease holder, each optionally claiming that holder's next tasks. A worker's batch of results
  comes here, and so do the asyncio face's complete and fail calls of one shard that met while an
  earlier one was in flight (engine/lanes.py).

  KEYS, ARGV header: see lib.lua (one block per command to claim next from; none to claim nothing).
  ARGV[A+1] number of reports n   ARGV[A+2] lazy maintenance batch   ARGV[A+3] stale-skip limit
  then 7 values per report: task id, worker id, state (3 = COMPLETED, 4 = FAILED), result record
  (msgpack), error text, lease ms for next tasks, how many next tasks (0: none)
  Returns per report {code, record, id, record, ...} (lib.lua, settle_reports).
]]
return settle_reports(A + 4, tonumber(ARGV[A + 1]), tonumber(ARGV[A + 2]), tonumber(ARGV[A + 3]))
