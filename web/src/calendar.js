// Suhoor and Iftar bands from the daemon's calendar (GET /api/v1/calendar): only on days of Ramadan, where the
// ramadan.lua scenario (and real traffic) moves with them.
//   Suhoor: the two hours before Imsak, until Fajr — people eat and give before the fast begins.
//   Iftar:  from Maghrib, when the fast is broken, until Isha.

const SUHOOR_BEFORE_IMSAK = 2 * 3600;

export function prayerBands(calendar) {
    const bands = [];
    for (const day of (calendar && calendar.days) || []) {
        if (day.ramadan_day === null || day.ramadan_day === undefined)
            continue;
        if (Number.isFinite(day.imsak) && Number.isFinite(day.fajr))
            bands.push({ kind: 'suhoor', label: 'Suhoor', from: day.imsak - SUHOOR_BEFORE_IMSAK, to: day.fajr, day });
        if (Number.isFinite(day.maghrib) && Number.isFinite(day.isha))
            bands.push({ kind: 'iftar', label: 'Iftar', from: day.maghrib, to: day.isha, day });
    }
    return bands;
}

// The band a moment falls in (Suhoor or Iftar), or null; a little slack before, as a surge is planned ahead of it.
export function bandAt(bands, seconds, slack = 0) {
    return bands.find(band => seconds >= band.from - slack && seconds <= band.to) || null;
}
