-- An anomaly detector written in Lua, loaded through the `lua` anomaly bridge.
--
-- Each sample is compared with the mean and standard deviation of the `window` samples before it; the score is
-- z^2 / (z^2 + threshold^2), so it is 0.5 at `threshold` standard deviations and tends to 1 beyond.

parameters = {
  window = 60,      -- samples of history each score looks at
  threshold = 3.0,  -- z-score that scores 0.5
}

function score(series)
  local window = math.tointeger(parameters.window)
  assert(window and window >= 2, "window must be an integer of at least 2")
  local t2 = parameters.threshold ^ 2
  local values, scores = series.values, {}
  local sum, sq, n = 0, 0, 0      -- running sums over the previous `window` observed samples
  local kept = {}                 -- the observed samples inside the window, oldest first
  for i = 1, series.count do
    local x = values[i]
    local s = 0
    if x == x and n >= 2 then
      local mean = sum / n
      local var = math.max(sq / n - mean * mean, 0)
      local z2 = (x - mean) ^ 2 / math.max(var, 1e-12)
      s = z2 / (z2 + t2)
    end
    scores[i] = s
    if x == x then
      kept[#kept + 1] = x
      sum, sq, n = sum + x, sq + x * x, n + 1
      if n > window then
        local old = table.remove(kept, 1)
        sum, sq, n = sum - old, sq - old * old, n - 1
      end
    end
  end
  return scores
end
