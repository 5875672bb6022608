-- wrk script for make bench: POSTs to the API, one of three kinds of request.
--   wrk -s tests/bench_api.lua URL -- ingest KEY SAMPLES_PER_BATCH START_TS   batches of samples to /ingest/metrics
--   wrk -s tests/bench_api.lua URL -- service KEY    /predict: the target donations-api's forecast from its model
--   wrk -s tests/bench_api.lua URL -- series KEY     /predict: a posted series of two days of minutes, holt_winters
-- done() prints one line the benchmark reads: percentiles in milliseconds, then counts.

local mode, batch, counter, start = "ingest", 10, 0, 0

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
  mode = args[1]
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  if mode == "ingest" then
    batch = tonumber(args[3]) or batch
    start = tonumber(args[4]) + math.random(0, 3600) -- recent times, a little apart per thread
  else
    wrk.path = "/api/v1/predict"
    wrk.body = mode == "series" and two_days() or '{"service":"donations-api","horizon":60}'
  end
end

local function ingest_request()
  counter = counter + 1
  local samples = {}
  for i = 1, batch do
    samples[i] = string.format('{"service":"wrk","ts":%.3f,"value":%d}', start + (counter * batch + i) / 1000, i)
  end
  return wrk.format(nil, "/api/v1/ingest/metrics", nil, "[" .. table.concat(samples, ",") .. "]")
end

function request()
  if mode == "ingest" then
    return ingest_request()
  end
  return wrk.format()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("wrk-result p50=%.2f p95=%.2f p99=%.2f requests=%d errors=%d\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout))
end
