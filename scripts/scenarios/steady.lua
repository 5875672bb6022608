-- A steady service: a plain daily cycle with a little noise and no surprises. The baseline every policy should
-- handle without asking anyone much.

scenario = {
  name = "steady daily cycle",
  start = "2027-01-04T00:00:00Z",
  days = 7,
  step = 60,
  seed = 7,
  services = {
    { name = "web", capacity_per_replica = 100, cold_start = 60, min_replicas = 2, max_replicas = 30,
      initial_replicas = 6, latency_slo_ms = 300, base_latency_ms = 40 },
  },
  operator = { median_response = "4m", p90_response = "15m", asleep = { from = 0, to = 7 }, approve_probability = 0.95 },
}

function traffic(t, service)
  local hour = (t % 86400) / 3600
  -- one broad peak in the afternoon, a trough before dawn
  local daily = 0.55 + 0.45 * math.sin((hour - 9) / 24 * 2 * math.pi)
  return math.max(0, 600 * daily * (1 + 0.03 * hydra.normal()))
end
