// Numbers, times and durations as the page shows them. Times are shown in the calendar location's time zone when the
// daemon has one (the surge happens at Suhoor there, not in the viewer's zone), else in the browser's.

let timeZone;

function zoneWorks(zone) {
    try {
        new Intl.DateTimeFormat('en-GB', { timeZone: zone }).format(0);
        return true;
    } catch {
        return false;
    }
}

function offsetZones(hours) {
    if (!Number.isFinite(hours))
        return [];
    const sign = hours < 0 ? '-' : '+', minutes = Math.round(Math.abs(hours) * 60);
    const offset = `${sign}${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
    // Etc/GMT names count the other way: Etc/GMT-2 is two hours ahead of UTC.
    return Number.isInteger(hours) ? [offset, `Etc/GMT${hours > 0 ? '-' : '+'}${Math.abs(hours)}`] : [offset];
}

// The calendar's location: an IANA zone name when it has one, else its UTC offset in hours ("timezone" may be a
// label such as "UTC+02:00"); times stay in the browser's zone when the browser can place neither.
export function setTimeZone(location) {
    const candidates = [location && location.timezone, ...offsetZones(location && location.utc_offset)];
    timeZone = candidates.find(zone => typeof zone === 'string' && zoneWorks(zone));
}

export function currentTimeZone() {
    return timeZone;
}

const numberFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decimalFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

export function number(value) {
    return value === null || value === undefined || !Number.isFinite(value) ? '–' : numberFormat.format(value);
}

export function decimal(value) {
    return value === null || value === undefined || !Number.isFinite(value) ? '–' : decimalFormat.format(value);
}

export function percent(fraction) {
    return Number.isFinite(fraction) ? `${decimalFormat.format(fraction * 100)} %` : '–';
}

function formatWith(options, seconds) {
    if (!Number.isFinite(seconds))
        return '–';
    return new Intl.DateTimeFormat('en-GB', { ...options, timeZone }).format(new Date(seconds * 1000));
}

// 02:40
export function clockTime(seconds) {
    return formatWith({ hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }, seconds);
}

// 14 Mar 02:40
export function dateTime(seconds) {
    return formatWith({ day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' },
                      seconds);
}

// 2026-03-14 02:40:05
export function fullTime(seconds) {
    return formatWith({ year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
                        second: '2-digit', hourCycle: 'h23' }, seconds).replace(',', '');
}

// 1 h 05 min, 12 min, 40 s
export function duration(seconds) {
    if (!Number.isFinite(seconds))
        return '–';
    const s = Math.max(0, Math.round(seconds));
    if (s < 60)
        return `${s} s`;
    const minutes = Math.floor(s / 60);
    if (minutes < 60)
        return `${minutes} min`;
    const hours = Math.floor(minutes / 60), rest = minutes % 60;
    if (hours < 48)
        return `${hours} h ${String(rest).padStart(2, '0')} min`;
    return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

export function plural(count, one, many) {
    return `${number(count)} ${count === 1 ? one : many}`;
}
