-- Every recommendation within the target's bounds is applied without asking.
function decide(rec, ctx)
  if rec.to < ctx.min_replicas or rec.to > ctx.max_replicas then
    return "reject", string.format("%d replicas is outside [%d, %d]", rec.to, ctx.min_replicas, ctx.max_replicas)
  end
  return "approve", "policy auto: within bounds"
end
