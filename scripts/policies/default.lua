-- The default approval policy: scale-downs and small scale-ups go ahead on their own, large scale-ups wait for a
-- person, and anything past the replica budget is refused.
--
-- decide(rec, ctx) returns a verdict ("approve", "ask" or "reject") and a reason in words.
--   rec: target, from, to (replicas), forecast_peak, reason
--   ctx: now (Unix seconds, host clock), min_replicas, max_replicas

limits = {
  small_step = 2,          -- replicas a scale-up may add without asking...
  small_fraction = 0.25,   -- ...or this fraction of the current count, whichever is larger
  replica_budget = 200,    -- never run more replicas than this for one target
}

function decide(rec, ctx)
  if rec.to > limits.replica_budget then
    return "reject", string.format("%d replicas is over the budget of %d", rec.to, limits.replica_budget)
  end
  if rec.to <= rec.from then
    return "approve", "scale-down within bounds"
  end
  local step = rec.to - rec.from
  local small = math.max(limits.small_step, math.floor(rec.from * limits.small_fraction))
  if step <= small then
    return "approve", string.format("small scale-up (+%d, at most +%d without asking)", step, small)
  end
  return "ask", string.format("large scale-up (+%d replicas, more than +%d)", step, small)
end
