-- A flash crowd no forecast could see: a television appeal sends four times the usual traffic for half an hour,
-- and later a zone outage takes half the capacity away for an hour. The reactive safety net must carry both.

scenario = {
  name = "flash crowd and a zone outage",
  start = "2027-01-11T00:00:00Z",
  days = 4,
  step = 60,
  seed = 42,
  services = {
    { name = "donations-api", capacity_per_replica = 100, cold_start = 90, min_replicas = 3, max_replicas = 60,
      initial_replicas = 5, latency_slo_ms = 300, base_latency_ms = 40 },
  },
  incidents = {
    { kind = "flash_crowd", service = "donations-api", at = "2027-01-13T19:30:00Z", duration = "30m", factor = 4 },
    { kind = "capacity_loss", at = "2027-01-14T10:00:00Z", duration = "1h", fraction = 0.5 },
  },
  operator = { median_response = "3m", p90_response = "10m", approve_probability = 1.0 },
}

function traffic(t, service)
  local hour = (t % 86400) / 3600
  local daily = 0.6 + 0.4 * math.sin((hour - 10) / 24 * 2 * math.pi)
  return math.max(0, 400 * daily * (1 + 0.03 * hydra.normal()))
end
