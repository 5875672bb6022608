-- wrk script for make bench: each request POSTs to /api/v1/predict.
--   wrk -s tests/bench_predict.lua URL -- KEY service   the target donations-api's forecast from its model
--   wrk -s tests/bench_predict.lua URL -- KEY series    a posted series: two days of minutes, holt_winters
-- done() prints the line bench_ingest.lua prints (the benchmark reads both the same way).

local body

-- Two daily seasons at one value a minute, as a data person would post them: a sine a day and a little noise.
local function two_days()
  local values = {}
  for i = 1, 2880 do
    values[i] = string.format("%.1f", 1000 + 500 * math.sin(2 * math.pi * i / 1440) + math.random(0, 20))
  end
  return '{"forecaster":"holt_winters","step":60,"start":1802044800,"horizon":60,"values":[' ..
    table.concat(values, ",") .. "]}"
end

function init(args)
  wrk.method = "POST"
  wrk.path = "/api/v1/predict"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  body = args[2] == "series" and two_days() or '{"service":"donations-api","horizon":60}'
  wrk.body = body
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("wrk-result p50=%.2f p95=%.2f p99=%.2f requests=%d errors=%d\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout))
end
