-- wrk script for make bench: each request POSTs a batch of samples to /api/v1/ingest/metrics.
--   wrk -s tests/bench_ingest.lua URL -- KEY SAMPLES_PER_BATCH START_TS
-- done() prints one line the benchmark reads: percentiles in milliseconds, then counts.

local batch, counter, start = 10, 0, 0

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  batch = tonumber(args[2]) or batch
  start = tonumber(args[3]) + math.random(0, 3600) -- recent times, a little apart per thread
end

function request()
  counter = counter + 1
  local samples = {}
  for i = 1, batch do
    samples[i] = string.format('{"service":"wrk","ts":%.3f,"value":%d}', start + (counter * batch + i) / 1000, i)
  end
  return wrk.format(nil, "/api/v1/ingest/metrics", nil, "[" .. table.concat(samples, ",") .. "]")
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("wrk-result p50=%.2f p95=%.2f p99=%.2f requests=%d errors=%d\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout))
end
