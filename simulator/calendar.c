/* Islamic calendar helpers on top of libitl: the astronomy and the Hijri arithmetic are libitl's; this file only
 * checks input, converts between local civil dates and Unix seconds, and defines Ramadan days and nights. */
#include "calendar.h"

#include "log.h"

#include <itl/hijri.h>
#include <itl/prayer.h>

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECONDS_PER_DAY 86400.0
/* Years 1..9999: what timegm/gmtime_r and libitl's integer arithmetic handle without surprises. */
#define FIRST_UNIX_SECOND -62135596800.0
#define END_UNIX_SECOND 253402300800.0

typedef struct civil_date {
    int year, month, day;
} civil_date;

/* ## Names --------------------------------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int method;
} method_names[] = {
    {"egyptian_survey", CALENDAR_METHOD_EGYPTIAN_SURVEY},
    {"karachi", CALENDAR_METHOD_KARACHI_SHAFII},
    {"karachi_hanafi", CALENDAR_METHOD_KARACHI_HANAFI},
    {"isna", CALENDAR_METHOD_ISNA},
    {"mwl", CALENDAR_METHOD_MWL},
    {"umm_al_qura", CALENDAR_METHOD_UMM_AL_QURA},
    {"fixed_isha", CALENDAR_METHOD_FIXED_ISHA},
    {"egyptian", CALENDAR_METHOD_EGYPTIAN},
    {"umm_al_qura_ramadan", CALENDAR_METHOD_UMM_AL_QURA_RAMADAN},
    {"moonsighting", CALENDAR_METHOD_MOONSIGHTING},
    {"morocco", CALENDAR_METHOD_MOROCCO},
};

/* Indexed by calendar_event. */
static const char *const event_names[] = {"imsak", "fajr", "sunrise", "dhuhr", "asr", "maghrib", "isha"};
static const size_t event_offsets[] = {
    offsetof(calendar_day_times, imsak),   offsetof(calendar_day_times, fajr),
    offsetof(calendar_day_times, sunrise), offsetof(calendar_day_times, dhuhr),
    offsetof(calendar_day_times, asr),     offsetof(calendar_day_times, maghrib),
    offsetof(calendar_day_times, isha),
};
#define EVENT_COUNT (sizeof event_names / sizeof event_names[0])

bool calendar_method_parse(const char *name, int *method)
{
    for (size_t i = 0; name && i < sizeof method_names / sizeof method_names[0]; i++) {
        if (strcmp(name, method_names[i].name) == 0) {
            *method = method_names[i].method;
            return true;
        }
    }
    return false;
}

bool calendar_event_parse(const char *name, calendar_event *event)
{
    for (size_t i = 0; name && i < EVENT_COUNT; i++) {
        if (strcmp(name, event_names[i]) == 0) {
            *event = (calendar_event)i;
            return true;
        }
    }
    return false;
}

double calendar_event_time(const calendar_day_times *times, calendar_event event)
{
    const double *slot = (const double *)((const char *)times + event_offsets[event]);
    return *slot;
}

static void set_event_time(calendar_day_times *times, calendar_event event, double value)
{
    *(double *)((char *)times + event_offsets[event]) = value;
}

/* ## Checks -------------------------------------------------------------------------------------------------------- */

static bool in_range(double value, double low, double high)
{
    return value >= low && value <= high; /* false for NaN too */
}

static int location_check(const calendar_location *loc)
{
    if (!loc) {
        log_error("calendar: no location given");
        return -1;
    }
    if (!in_range(loc->latitude, -90, 90) || !in_range(loc->longitude, -180, 180)) {
        log_error("calendar: location %g, %g is not a place: latitude must be within -90..90, longitude -180..180",
                  loc->latitude, loc->longitude);
        return -1;
    }
    if (!in_range(loc->utc_offset_hours, -12, 14)) {
        log_error("calendar: UTC offset %g hours is outside -12..14", loc->utc_offset_hours);
        return -1;
    }
    if (loc->method < CALENDAR_METHOD_EGYPTIAN_SURVEY || loc->method > CALENDAR_METHOD_MOROCCO) {
        log_error("calendar: calculation method %d is unknown (libitl knows 1..11)", loc->method);
        return -1;
    }
    if (abs(loc->hijri_adjust_days) > 30) {
        log_error("calendar: Hijri adjustment of %d days is more than a month", loc->hijri_adjust_days);
        return -1;
    }
    return 0;
}

/* ## Civil dates --------------------------------------------------------------------------------------------------- */

/* Days since 1970-01-01 of a civil date; false when the date does not exist (timegm would quietly normalise
 * 31 February into March, so the round trip tells). */
static bool civil_to_days(civil_date date, long long *days)
{
    if (date.year < 1 || date.year > 9999 || date.month < 1 || date.month > 12 || date.day < 1 || date.day > 31)
        return false;
    struct tm parts = {.tm_year = date.year - 1900, .tm_mon = date.month - 1, .tm_mday = date.day, .tm_hour = 12};
    time_t noon = timegm(&parts);
    if (parts.tm_mday != date.day || parts.tm_mon != date.month - 1)
        return false;
    *days = (long long)floor((double)noon / SECONDS_PER_DAY);
    return true;
}

static civil_date civil_from_days(long long days)
{
    time_t noon = (time_t)(days * 86400 + 43200);
    struct tm parts;
    gmtime_r(&noon, &parts);
    return (civil_date){parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday};
}

/* The local civil day (days since 1970-01-01) that contains t at loc. */
static int local_day_of(double t, const calendar_location *loc, long long *days)
{
    if (!in_range(t, FIRST_UNIX_SECOND + SECONDS_PER_DAY * 2, END_UNIX_SECOND - SECONDS_PER_DAY * 2)) {
        log_error("calendar: time %g is not within the years 1..9999", t);
        return -1;
    }
    *days = (long long)floor((t + loc->utc_offset_hours * 3600) / SECONDS_PER_DAY);
    return 0;
}

/* ## Prayer times -------------------------------------------------------------------------------------------------- */

/* Seconds after local midnight; libitl reports an event that cannot happen that day as 99:99. */
static bool prayer_seconds(const Prayer *prayer, double *seconds)
{
    if (prayer->hour < 0 || prayer->hour > 47)
        return false;
    *seconds = prayer->hour * 3600.0 + prayer->minute * 60.0 + prayer->second;
    return true;
}

/* libitl (0.8) keeps a per-call cache of the sun's position in a stack variable it never initialises, and reuses
 * it when that garbage matches the day asked about: a value left on the stack by an earlier call can give a wrong
 * Imsak or none at all. Zeroing the stack the call is about to use makes the cache miss, as it should. */
static __attribute__((noinline)) void scrub_stack_for_libitl(void)
{
    char area[16384];
    explicit_bzero(area, sizeof area);
    __asm__ volatile("" : : "r"(area) : "memory");
}

static void libitl_times(const calendar_location *loc, civil_date date, Prayer prayers[EVENT_COUNT])
{
    Location place = {.degreeLong = loc->longitude,
                      .degreeLat = loc->latitude,
                      .gmtDiff = loc->utc_offset_hours,
                      .dst = 0,
                      .seaLevel = 0,
                      .pressure = 1010,
                      .temperature = 10};
    Method method;
    getMethod(loc->method, &method);
    method.round = 0; /* keep the seconds: rounding to minutes is for printed timetables */
    Date day = {.day = date.day, .month = date.month, .year = date.year};
    scrub_stack_for_libitl();
    getImsaak(&place, &method, &day, &prayers[CALENDAR_IMSAK]);
    scrub_stack_for_libitl();
    getPrayerTimes(&place, &method, &day, &prayers[CALENDAR_FAJR]); /* fills Fajr..Isha, in calendar_event order */
}

/* libitl gives clock times modulo 24 h: with an offset far from the longitude's solar time, Isha can fall after
 * midnight or Imsak before it. Dhuhr is always mid-day, so events are placed on its side they belong to. */
static double unwrap_around_dhuhr(calendar_event event, double seconds, double dhuhr)
{
    if (event < CALENDAR_DHUHR && seconds > dhuhr)
        return seconds - SECONDS_PER_DAY;
    if (event > CALENDAR_DHUHR && seconds < dhuhr)
        return seconds + SECONDS_PER_DAY;
    return seconds;
}

static int compute_times_on_day(const calendar_location *loc, long long days, calendar_day_times *out)
{
    civil_date date = civil_from_days(days);
    Prayer prayers[EVENT_COUNT];
    libitl_times(loc, date, prayers);
    double seconds[EVENT_COUNT];
    for (size_t i = 0; i < EVENT_COUNT; i++) {
        if (!prayer_seconds(&prayers[i], &seconds[i])) {
            log_error("calendar: no %s on %04d-%02d-%02d at latitude %g (the sun does not reach that angle)",
                      event_names[i], date.year, date.month, date.day, loc->latitude);
            return -1;
        }
    }
    double local_midnight = (double)days * SECONDS_PER_DAY - loc->utc_offset_hours * 3600;
    for (size_t i = 0; i < EVENT_COUNT; i++) {
        double local = unwrap_around_dhuhr((calendar_event)i, seconds[i], seconds[CALENDAR_DHUHR]);
        set_event_time(out, (calendar_event)i, local_midnight + local);
    }
    return 0;
}

/* A scenario's traffic asks about the same day for every service at every step, and libitl's astronomy is most of
 * what that costs: the last day computed is kept, per thread (the simulator's traffic and the API's threads ask). */
static _Thread_local struct {
    bool known;
    calendar_location where;
    long long days;
    calendar_day_times times;
} last_day;

static bool same_place(const calendar_location *a, const calendar_location *b)
{
    return a->latitude == b->latitude && a->longitude == b->longitude && a->utc_offset_hours == b->utc_offset_hours &&
           a->method == b->method && a->hijri_adjust_days == b->hijri_adjust_days;
}

static int times_on_day(const calendar_location *loc, long long days, calendar_day_times *out)
{
    if (last_day.known && last_day.days == days && same_place(&last_day.where, loc)) {
        *out = last_day.times;
        return 0;
    }
    if (compute_times_on_day(loc, days, out) != 0)
        return -1;
    last_day.known = true;
    last_day.where = *loc;
    last_day.days = days;
    last_day.times = *out;
    return 0;
}

int calendar_prayer_times(const calendar_location *loc, int year, int month, int day, calendar_day_times *out)
{
    if (location_check(loc) != 0)
        return -1;
    long long days;
    if (!civil_to_days((civil_date){year, month, day}, &days)) {
        log_error("calendar: %04d-%02d-%02d is not a date", year, month, day);
        return -1;
    }
    return times_on_day(loc, days, out);
}

/* ## Hijri dates --------------------------------------------------------------------------------------------------- */

/* libitl mallocs sDate.event (the day's feast names) and leaves freeing it to the caller. */
static void sdate_release(sDate *date)
{
    free(date->event);
    date->event = NULL;
}

/* Converted days, four at a time per thread (a scenario asks about today and tomorrow, for every service). */
#define HIJRI_KEPT 4
static _Thread_local struct {
    bool known;
    long long civil_day;
    calendar_hijri date;
} hijri_kept[HIJRI_KEPT];

static int hijri_of_day(long long days, int adjust, calendar_hijri *out)
{
    long long civil_day = days + adjust;
    size_t slot = (size_t)(civil_day & (HIJRI_KEPT - 1));
    if (hijri_kept[slot].known && hijri_kept[slot].civil_day == civil_day) {
        *out = hijri_kept[slot].date;
        return 0;
    }
    civil_date date = civil_from_days(civil_day);
    sDate result;
    memset(&result, 0, sizeof result);
    int status = h_date(&result, date.day, date.month, date.year);
    sdate_release(&result);
    if (status != 0) {
        log_error("calendar: libitl cannot convert %04d-%02d-%02d to a Hijri date", date.year, date.month, date.day);
        return -1;
    }
    *out = (calendar_hijri){result.year, result.month, result.day};
    hijri_kept[slot].known = true;
    hijri_kept[slot].civil_day = civil_day;
    hijri_kept[slot].date = *out;
    return 0;
}

int calendar_hijri_from_unix(double t, const calendar_location *loc, calendar_hijri *out)
{
    long long days;
    if (location_check(loc) != 0 || local_day_of(t, loc, &days) != 0)
        return -1;
    return hijri_of_day(days, loc->hijri_adjust_days, out);
}

/* The local civil day of a Hijri date, unadjusted; false when the date does not exist. */
static bool hijri_to_days(int hijri_year, int hijri_month, int hijri_day, long long *days)
{
    if (hijri_year < 1 || hijri_year > 9000 || hijri_month < 1 || hijri_month > 12 || hijri_day < 1 ||
        hijri_day > 30)
        return false;
    sDate result;
    memset(&result, 0, sizeof result);
    int status = g_date(&result, hijri_day, hijri_month, hijri_year);
    sdate_release(&result);
    if (status != 0 || !civil_to_days((civil_date){result.year, result.month, result.day}, days))
        return false;
    /* libitl turns day 30 of a 29-day month into the 1st of the next: the round trip catches it. */
    calendar_hijri back;
    return hijri_of_day(*days, 0, &back) == 0 && back.year == hijri_year && back.month == hijri_month &&
           back.day == hijri_day;
}

int calendar_gregorian_from_hijri(const calendar_location *loc, int hijri_year, int hijri_month, int hijri_day,
                                  int *year, int *month, int *day)
{
    if (loc && location_check(loc) != 0)
        return -1;
    long long days;
    if (!hijri_to_days(hijri_year, hijri_month, hijri_day, &days)) {
        log_error("calendar: %d-%02d-%02d AH is not a Hijri date", hijri_year, hijri_month, hijri_day);
        return -1;
    }
    civil_date date = civil_from_days(days - (loc ? loc->hijri_adjust_days : 0));
    *year = date.year;
    *month = date.month;
    *day = date.day;
    return 0;
}

/* ## Scenario helpers ---------------------------------------------------------------------------------------------- */

/* Ramadan day of a local civil day, 0 outside Ramadan. */
static int ramadan_day_of(long long days, const calendar_location *loc)
{
    calendar_hijri date;
    if (hijri_of_day(days, loc->hijri_adjust_days, &date) != 0)
        return -1;
    return date.month == CALENDAR_RAMADAN ? date.day : 0;
}

int calendar_ramadan_day(double t, const calendar_location *loc)
{
    long long days;
    if (location_check(loc) != 0 || local_day_of(t, loc, &days) != 0)
        return -1;
    return ramadan_day_of(days, loc);
}

bool calendar_is_eid_al_fitr(double t, const calendar_location *loc)
{
    calendar_hijri date;
    if (calendar_hijri_from_unix(t, loc, &date) != 0)
        return false;
    return date.month == CALENDAR_SHAWWAL && date.day <= 3;
}

int calendar_ramadan_night(double t, const calendar_location *loc)
{
    long long days;
    calendar_day_times times;
    if (location_check(loc) != 0 || local_day_of(t, loc, &days) != 0 || times_on_day(loc, days, &times) != 0)
        return -1;
    if (t >= times.maghrib) /* this evening starts tomorrow's Islamic day */
        return ramadan_day_of(days + 1, loc);
    if (t < times.fajr) /* still the night that began yesterday evening */
        return ramadan_day_of(days, loc);
    return 0;
}

int calendar_minutes_relative(double t, const calendar_location *loc, calendar_event event, double *minutes)
{
    long long days;
    calendar_day_times times;
    if ((unsigned)event >= EVENT_COUNT) {
        log_error("calendar: event %d is unknown", (int)event);
        return -1;
    }
    if (location_check(loc) != 0 || local_day_of(t, loc, &days) != 0 || times_on_day(loc, days, &times) != 0)
        return -1;
    *minutes = (t - calendar_event_time(&times, event)) / 60;
    return 0;
}
