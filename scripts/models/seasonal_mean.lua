-- A forecaster written in Lua, loaded through the `lua` forecaster bridge.
--
-- Each future step is the mean of the same moment in the last `seasons` seasons; the interval comes from the
-- spread of those values. Settings below can be overridden in the config (plugins: settings = { seasons = 5; }).

parameters = {
  season_length = 1440,  -- samples per season (1440 one-minute samples = one day)
  seasons = 3,           -- how many past seasons to average
}

local Z80, Z95 = 1.2816, 1.9600

-- The values at one phase of the season, newest first, skipping missing (NaN) samples.
local function same_phase(values, index, season, seasons)
  local found = {}
  for k = 1, seasons do
    local v = values[index - k * season]
    if v ~= nil and v == v then found[#found + 1] = v end
  end
  return found
end

local function mean_and_sd(xs)
  local sum, sq = 0, 0
  for _, x in ipairs(xs) do sum = sum + x end
  local mean = sum / #xs
  for _, x in ipairs(xs) do sq = sq + (x - mean) ^ 2 end
  return mean, (#xs > 1) and math.sqrt(sq / (#xs - 1)) or 0
end

function forecast(history, horizon)
  local season = math.tointeger(parameters.season_length)
  local seasons = math.tointeger(parameters.seasons)
  assert(season and season >= 1, "season_length must be a positive integer")
  assert(seasons and seasons >= 1, "seasons must be a positive integer")
  if history.count < season then
    error(string.format("needs at least %d samples (one season), got %d", season, history.count))
  end
  local result = { mean = {}, lower80 = {}, upper80 = {}, lower95 = {}, upper95 = {} }
  for h = 1, horizon do
    -- the forecast index lies past the end; step back whole seasons into the history
    local index = history.count + h
    local back = math.ceil((index - history.count) / season) * season
    local values = same_phase(history.values, index - back + season, season, seasons)
    local mean, sd = 0, 0
    if #values > 0 then mean, sd = mean_and_sd(values) end
    result.mean[h] = mean
    result.lower80[h], result.upper80[h] = mean - Z80 * sd, mean + Z80 * sd
    result.lower95[h], result.upper95[h] = mean - Z95 * sd, mean + Z95 * sd
  end
  return result
end
