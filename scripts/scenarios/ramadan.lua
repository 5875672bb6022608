-- Ramadan 1448 AH (early 2027) for a donation platform in Cairo.
--
-- Before Ramadan: an ordinary daily cycle. During Ramadan the day follows the sun, not the clock:
--   * Suhoor: people awake before dawn give; traffic climbs for two hours and peaks ~30 minutes before Imsak,
--     then falls away at Fajr;
--   * Iftar: at Maghrib everyone sits down to eat and traffic drops for about 40 minutes, then an evening peak
--     builds after Taraweeh prayers;
--   * giving grows through the month, more in the last ten nights, most on the 27th night (Laylat al-Qadr);
--   * Zakat al-Fitr is due before the Eid prayer: a rush on the last evening and early on Eid morning.
-- libitl puts 1 Ramadan 1448 on 8 February 2027 and Eid al-Fitr on 10 March 2027 (Cairo, Egyptian method).

scenario = {
  name = "Ramadan 1448, donation platform, Cairo",
  start = "2027-02-01T00:00:00Z",
  days = 40,
  step = 60,
  seed = 1448,
  location = { latitude = 30.0444, longitude = 31.2357, utc_offset = 2, method = "egyptian" },
  services = {
    { name = "donations-api", capacity_per_replica = 100, cold_start = 90, min_replicas = 2, max_replicas = 80,
      initial_replicas = 4, latency_slo_ms = 300, base_latency_ms = 40 },
    { name = "payments", capacity_per_replica = 60, cold_start = 180, min_replicas = 2, max_replicas = 60,
      initial_replicas = 3, latency_slo_ms = 500, base_latency_ms = 80 },
  },
  -- The on-call engineer keeps Ramadan hours: awake for Suhoor, asleep after Fajr until late morning.
  operator = { median_response = "6m", p90_response = "20m", asleep = { from = 6, to = 11 },
               approve_probability = 0.95 },
}

-- Share of each service in the platform's traffic.
local share = { ["donations-api"] = 1.0, ["payments"] = 0.35 }

-- A smooth bump: 1 at the centre, 0 beyond `width` minutes either side.
local function bump(minutes, centre, width)
  local x = (minutes - centre) / width
  if x <= -1 or x >= 1 then return 0 end
  return 0.5 * (1 + math.cos(math.pi * x))
end

-- An ordinary day: a morning rise, an evening peak at 21:00 local, a trough before dawn.
local function ordinary(hour)
  return 0.35 + 0.25 * bump(hour * 60, 11 * 60, 300) + 0.55 * bump(hour * 60, 21 * 60, 240)
end

-- Growth through the month, the last ten nights and the 27th.
local function giving(day, night)
  local growth = 1 + 0.02 * day
  if night == 27 then return growth * 2.6 end
  if night >= 21 then return growth * 1.6 end
  return growth
end

local function ramadan_shape(t)
  local to_imsak = hydra.minutes_from(t, "imsak")      -- negative before Imsak
  local since_maghrib = hydra.minutes_from(t, "maghrib")
  local level = 0.30
  level = level + 2.2 * bump(to_imsak, -35, 120)        -- Suhoor surge
  if since_maghrib >= 0 and since_maghrib < 40 then     -- Iftar: everyone is eating
    level = level * 0.25
  end
  level = level + 1.1 * bump(since_maghrib, 210, 150)   -- after Taraweeh
  return level
end

function traffic(t, service)
  local day = hydra.ramadan_day(t)
  local night = hydra.ramadan_night(t)
  local base = 300 * share[service]
  local level
  if day > 0 or night > 0 then
    level = ramadan_shape(t) * giving(math.max(day, night), night)
    if day == 30 or (day == 29 and night == 0 and hydra.minutes_from(t, "maghrib") > 0) then
      level = level * 1.8                               -- Zakat al-Fitr before Eid
    end
  elseif hydra.is_eid(t) then
    local since_fajr = hydra.minutes_from(t, "fajr")
    level = ordinary(hydra.local_hour(t)) + 3.0 * bump(since_fajr, 45, 90)
  else
    level = ordinary(hydra.local_hour(t))
  end
  return math.max(0, base * level * (1 + 0.04 * hydra.normal()))
end
