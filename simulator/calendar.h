/* Islamic calendar helpers for traffic scenarios: prayer times and Hijri dates at a place, from libitl (Arabeyes
 * ITL), so a scenario can say "traffic climbs before Imsak, drops at Maghrib, peaks on the 27th night".
 *
 * Times are Unix seconds (UTC). "The local date of t" is the civil date at loc->utc_offset_hours.
 *
 * Hijri dates are libitl's arithmetic calendar (h_date/g_date, what `idate` prints by default). It does not
 * follow moon sighting, so an announced date can differ by a day or two; hijri_adjust_days shifts it. For 1448 AH
 * libitl gives 1 Ramadan = Monday 8 February 2027 and 1 Shawwal (Eid al-Fitr) = Wednesday 10 March 2027 (Ramadan
 * has 30 days); Umm al-Qura (`idate --umm_alqura`) agrees on 1 Ramadan but ends Ramadan after 29 days (Eid on
 * 9 March). Umm al-Qura is not offered here: libitl's table covers only 1420-1450 AH, reads past it outside that
 * range, and its header declares G2H/H2G's date arguments in the wrong order.
 *
 * A Hijri date belongs to a civil date's daytime. The Islamic day starts at the sunset before, so nights are
 * counted separately: calendar_ramadan_night(). */
#ifndef HYDRA_CALENDAR_H
#define HYDRA_CALENDAR_H

#include <stdbool.h>

/* libitl's calculation methods (its getMethod() numbers). */
enum {
    CALENDAR_METHOD_EGYPTIAN_SURVEY = 1,     /* "egyptian_survey": Fajr 20, Isha 18 (Syria, Iraq, Malaysia...) */
    CALENDAR_METHOD_KARACHI_SHAFII = 2,      /* "karachi": 18 / 18 */
    CALENDAR_METHOD_KARACHI_HANAFI = 3,      /* "karachi_hanafi": 18 / 18, Hanafi Asr */
    CALENDAR_METHOD_ISNA = 4,                /* "isna": 15 / 15 */
    CALENDAR_METHOD_MWL = 5,                 /* "mwl": Muslim World League, 18 / 17 */
    CALENDAR_METHOD_UMM_AL_QURA = 6,         /* "umm_al_qura": 19, Isha 90 minutes after Maghrib */
    CALENDAR_METHOD_FIXED_ISHA = 7,          /* "fixed_isha": 19.5, Isha 90 minutes after Maghrib (Gulf) */
    CALENDAR_METHOD_EGYPTIAN = 8,            /* "egyptian": Egypt's own, 19.5 / 17.5 */
    CALENDAR_METHOD_UMM_AL_QURA_RAMADAN = 9, /* "umm_al_qura_ramadan": Isha 120 minutes after Maghrib */
    CALENDAR_METHOD_MOONSIGHTING = 10,       /* "moonsighting": Moonsighting Committee Worldwide */
    CALENDAR_METHOD_MOROCCO = 11,            /* "morocco": Morocco Awqaf */
};

#define CALENDAR_RAMADAN 9
#define CALENDAR_SHAWWAL 10
#define CALENDAR_LAST_TEN_NIGHTS_FIRST 21 /* night >= 21: the last ten nights (21..29 or 30) */
#define CALENDAR_LAYLAT_AL_QADR 27        /* the night most observe as Laylat al-Qadr */

typedef struct calendar_location {
    double latitude, longitude; /* degrees, north and east positive */
    /* The UTC offset in force on the dates asked about; no DST rules are applied. Cairo: +2 in Feb-Mar 2027
     * (Egypt's DST runs from the last Friday of April to the last Thursday of October: +3). */
    double utc_offset_hours;
    int method;            /* CALENDAR_METHOD_*; see calendar_method_parse() */
    int hijri_adjust_days; /* added to libitl's Hijri date, e.g. -1 when the month was announced a day later */
} calendar_location;

typedef struct calendar_day_times { /* Unix seconds (UTC) */
    double imsak;                   /* start of the fast: libitl's Imsaak, 1.5 degrees before Fajr */
    double fajr, sunrise, dhuhr, asr, maghrib, isha;
} calendar_day_times;

typedef enum calendar_event {
    CALENDAR_IMSAK,
    CALENDAR_FAJR,
    CALENDAR_SUNRISE,
    CALENDAR_DHUHR,
    CALENDAR_ASR,
    CALENDAR_MAGHRIB, /* Iftar */
    CALENDAR_ISHA,
} calendar_event;

typedef struct calendar_hijri {
    int year, month, day;
} calendar_hijri;

/* Names as in the CALENDAR_METHOD_* comments ("egyptian", "mwl", "isna", "umm_al_qura", "karachi", ...). */
bool calendar_method_parse(const char *name, int *method);
/* "imsak", "fajr", "sunrise", "dhuhr", "asr", "maghrib", "isha". */
bool calendar_event_parse(const char *name, calendar_event *event);
/* The time of event in times. */
double calendar_event_time(const calendar_day_times *times, calendar_event event);

/* Prayer times on the local civil date year-month-day. -1 (logged) for a bad location or date, or when an event
 * does not happen that day (no sunset near the poles). */
int calendar_prayer_times(const calendar_location *loc, int year, int month, int day, calendar_day_times *out);

/* The Hijri date of the local civil date of t (adjusted by loc->hijri_adjust_days). */
int calendar_hijri_from_unix(double t, const calendar_location *loc, calendar_hijri *out);
/* The Gregorian date of a Hijri date; loc only supplies hijri_adjust_days and may be NULL. -1 for a date that
 * does not exist (month 13, day 30 of a 29-day month). */
int calendar_gregorian_from_hijri(const calendar_location *loc, int hijri_year, int hijri_month, int hijri_day,
                                  int *year, int *month, int *day);

/* Scenario helpers, all about the local date of t. The int ones return -1 (logged) for a bad location. */

/* 1..30 on the days (civil dates) of Ramadan, 0 otherwise. */
int calendar_ramadan_day(double t, const calendar_location *loc);
/* True on 1-3 Shawwal (the three days of Eid al-Fitr). */
bool calendar_is_eid_al_fitr(double t, const calendar_location *loc);
/* N when t is in the night that begins Ramadan day N: from Maghrib on the civil date before day N up to Fajr on
 * day N. So night 1 is the evening of the last day of Sha'ban (first Tarawih), night 27 (Laylat al-Qadr) is the
 * evening before day 27, and the evening of the last day of Ramadan is no Ramadan night (0). 0 in daytime. */
int calendar_ramadan_night(double t, const calendar_location *loc);
/* (t - event) / 60 with the event on the local date of t: negative before the event, positive after.
 * "Minutes to Imsak" is -*minutes; "minutes since Maghrib (Iftar)" is *minutes. */
int calendar_minutes_relative(double t, const calendar_location *loc, calendar_event event, double *minutes);

#endif
