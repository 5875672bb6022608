/*
 * calendar: seasonality anchored to prayer times and the Hijri calendar rather than to the clock alone.
 *
 * In Ramadan a day follows the sun: people eat before Imsak, stop at Maghrib (Iftar), come back after Taraweeh.
 * Such a day is a profile over minutes relative to the nearest of Imsak and Maghrib, so it stays in place while
 * those move a minute or two a day. The profile is scaled by a level kept per part of the month: daytime, the
 * nights 1-20, the last ten nights, the 27th night, the last day (Zakat al-Fitr), Eid al-Fitr, and ordinary days.
 * Outside Ramadan the profile is the plain minute of the local day (or of the week).
 *
 * value ~ level[part of the month] x profile[bin]. Each sample moves the level of its part (weight alpha, or 1/n
 * while a part has seen few samples) and its profile bin (weight gamma, or 1/n while a bin is young). A part never
 * seen starts from the level in force before it; a Ramadan bin never seen is forecast from the daily profile with
 * a fast level of its own, as plain daily seasonality would. The intervals are quantiles of the recent relative
 * one-step errors, widened with the horizon.
 *
 * Prayer times and Hijri dates come from libitl, linked by this plugin itself.
 *
 * Settings: latitude, longitude (required), utc_offset (hours, 0), method ("mwl"; the scenario names),
 * hijri_adjust_days (0), bin_minutes (1), alpha (0.05), gamma (0.1), weekly (false).
 */
#include <hydra/plugin.h>

#include "../common/model_text.h"
#include "../common/sorted_values.h"

#include <itl/hijri.h>
#include <itl/prayer.h>

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECONDS_PER_DAY 86400.0
#define MINUTES_PER_DAY 1440
#define MINUTES_PER_WEEK 10080
/* Offsets from an anchor run over half a day either side: Imsak and Maghrib are never further apart than that
 * from the nearest one outside the polar regions. */
#define ANCHOR_SPAN_MINUTES 720
#define RAMADAN 9
#define SHAWWAL 10
#define LAST_TEN_NIGHTS_FIRST 21
#define LAYLAT_AL_QADR 27
/* The level for a Ramadan bin never seen follows the data fast, the way a plain daily model's level would. */
#define FALLBACK_ALPHA 0.3
/* Recent one-step relative errors the intervals come from. */
#define RESIDUAL_WINDOW 1440
#define DAY_CACHE 4

typedef enum part_of_month {
    PART_ORDINARY,
    PART_RAMADAN_DAY,
    PART_RAMADAN_NIGHT,
    PART_LAST_TEN_NIGHTS,
    PART_NIGHT_27,
    PART_LAST_DAY, /* the eve of Eid: Zakat al-Fitr is due */
    PART_EID,
    PART_COUNT,
} part_of_month;

typedef struct calendar_config {
    const hydra_host *host;
    double latitude, longitude, utc_offset;
    int method;
    long long hijri_adjust_days;
    long long bin_minutes;
    double alpha, gamma;
    bool weekly;
} calendar_config;

/* What the calendar says about one local civil day (days since 1970-01-01 at utc_offset). */
typedef struct day_info {
    long long day;
    bool known;          /* false until computed; a day without prayer times has no Ramadan profile */
    bool has_times;
    double imsak, fajr, maghrib; /* Unix seconds */
    int ramadan_day, next_ramadan_day; /* 1..30 on Ramadan days, else 0; the same for the next day */
    bool eid;
} day_info;

typedef enum profile_kind {
    PROFILE_DAILY,   /* minute of the local day (or week) */
    PROFILE_RAMADAN, /* minutes from the nearest of Imsak and Maghrib */
    PROFILE_EID,     /* the same anchors, learned on the first day of Eid for the next two */
    PROFILE_COUNT,
} profile_kind;

/* Where a time falls: its part of the month, the profile that applies and its bin there, and its daily bin. */
typedef struct position {
    part_of_month part;
    profile_kind profile;
    size_t bin;
    size_t anchored_bin; /* in the anchored profiles; 0 when the day has no prayer times */
    size_t daily_bin;
} position;

typedef struct profile_cell {
    double factor;
    size_t seen;
} profile_cell;

typedef struct level_state {
    double value;
    size_t seen;
} level_state;

typedef struct calendar_model {
    calendar_config config;
    double start, step;
    size_t count; /* samples taken: the next one is at start + count * step */
    size_t anchored_bins, daily_bins;
    profile_cell *profiles[PROFILE_COUNT];
    level_state levels[PART_COUNT];
    bool has_level;
    double current_level;  /* of the part last observed: where a new part starts */
    double fallback_level; /* daily profile's level, following fast: forecasts Ramadan bins never seen */
    bool has_fallback;
    double last_value;     /* NAN until a sample is observed */
    double *residuals;     /* ring of relative one-step errors */
    size_t residual_count, residual_next;
    double *sorted;        /* the same errors in order, kept so as each one comes: for the quantiles */
    day_info days[DAY_CACHE];
} calendar_model;

/* ## Settings -------------------------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int number; /* libitl's getMethod() number */
} method_names[] = {
    {"egyptian_survey", 1}, {"karachi", 2}, {"karachi_hanafi", 3},      {"isna", 4},
    {"mwl", 5},             {"umm_al_qura", 6}, {"fixed_isha", 7},      {"egyptian", 8},
    {"umm_al_qura_ramadan", 9}, {"moonsighting", 10}, {"morocco", 11},
};

static int read_method(const hydra_host *host, int *method)
{
    const char *name = "mwl";
    if (host->setting_string(host, "method", &name) < 0)
        return -1;
    for (size_t i = 0; i < sizeof method_names / sizeof method_names[0]; i++) {
        if (strcmp(name, method_names[i].name) == 0) {
            *method = method_names[i].number;
            return 0;
        }
    }
    host->set_error(host,
                    "method \"%s\" is unknown; use one of egyptian, egyptian_survey, karachi, karachi_hanafi, isna, "
                    "mwl, umm_al_qura, umm_al_qura_ramadan, fixed_isha, moonsighting, morocco",
                    name);
    return -1;
}

/* A required number within [low, high]. */
static int read_coordinate(const hydra_host *host, const char *key, double low, double high, double *value)
{
    int status = host->setting_double(host, key, value);
    if (status < 0)
        return -1;
    if (status > 0) {
        host->set_error(host, "%s is required: the place whose prayer times shape the traffic", key);
        return -1;
    }
    if (*value >= low && *value <= high)
        return 0;
    host->set_error(host, "%s must be within %g..%g degrees, got %g", key, low, high, *value);
    return -1;
}

static int read_range(const hydra_host *host, const char *key, double low, double high, double *value)
{
    if (host->setting_double(host, key, value) < 0)
        return -1;
    if (*value >= low && *value <= high)
        return 0;
    host->set_error(host, "%s must be within %g..%g, got %g", key, low, high, *value);
    return -1;
}

/* A smoothing weight in (0, 1]. */
static int read_weight(const hydra_host *host, const char *key, double *value)
{
    if (host->setting_double(host, key, value) < 0)
        return -1;
    if (*value > 0 && *value <= 1)
        return 0;
    host->set_error(host, "%s must be in (0, 1], got %g", key, *value);
    return -1;
}

static int read_whole(const hydra_host *host, const char *key, long long low, long long high, long long *value)
{
    if (host->setting_int(host, key, value) < 0)
        return -1;
    if (*value >= low && *value <= high)
        return 0;
    host->set_error(host, "%s must be between %lld and %lld, got %lld", key, low, high, *value);
    return -1;
}

static int read_settings(const hydra_host *host, calendar_config *config)
{
    *config = (calendar_config){.host = host, .method = 5, .bin_minutes = 1, .alpha = 0.05, .gamma = 0.1};
    if (read_coordinate(host, "latitude", -90, 90, &config->latitude) != 0 ||
        read_coordinate(host, "longitude", -180, 180, &config->longitude) != 0 ||
        read_range(host, "utc_offset", -12, 14, &config->utc_offset) != 0 || read_method(host, &config->method) != 0 ||
        read_whole(host, "hijri_adjust_days", -30, 30, &config->hijri_adjust_days) != 0 ||
        read_whole(host, "bin_minutes", 1, 60, &config->bin_minutes) != 0 ||
        read_weight(host, "alpha", &config->alpha) != 0 || read_weight(host, "gamma", &config->gamma) != 0 ||
        host->setting_bool(host, "weekly", &config->weekly) < 0)
        return -1;
    if (MINUTES_PER_DAY % config->bin_minutes != 0) {
        host->set_error(host, "bin_minutes must divide a day (1440 minutes), got %lld", config->bin_minutes);
        return -1;
    }
    return 0;
}

/* ## Life cycle ---------------------------------------------------------------------------------------------- */

static void *calendar_create(const hydra_host *host)
{
    calendar_config config;
    if (read_settings(host, &config) != 0)
        return NULL;
    calendar_config *state = host->alloc(host, sizeof *state);
    if (!state) {
        host->set_error(host, "out of memory");
        return NULL;
    }
    *state = config;
    return state;
}

static void calendar_destroy(void *opaque)
{
    calendar_config *state = opaque;
    if (state)
        state->host->free(state->host, state);
}

/* ## The calendar: prayer times and Hijri dates of a local day, from libitl ------------------------------------ */

static struct tm civil_of_day(long long day)
{
    time_t noon = (time_t)(day * 86400 + 43200);
    struct tm parts;
    gmtime_r(&noon, &parts);
    return parts;
}

/* Day of Ramadan (1..30) of a local day, 0 in another month; eid when it is 1-3 Shawwal. */
static int ramadan_day_of(const calendar_config *config, long long day, bool *eid)
{
    struct tm civil = civil_of_day(day + config->hijri_adjust_days);
    sDate hijri;
    memset(&hijri, 0, sizeof hijri);
    int status = h_date(&hijri, civil.tm_mday, civil.tm_mon + 1, civil.tm_year + 1900);
    free(hijri.event); /* libitl allocates the day's feast names and leaves them to the caller */
    if (eid)
        *eid = status == 0 && hijri.month == SHAWWAL && hijri.day <= 3;
    return status == 0 && hijri.month == RAMADAN ? hijri.day : 0;
}

/* Seconds after local midnight; libitl says 99:99 for an event the sun does not allow that day. */
static bool prayer_seconds(const Prayer *prayer, double *seconds)
{
    if (prayer->hour < 0 || prayer->hour > 47)
        return false;
    *seconds = prayer->hour * 3600.0 + prayer->minute * 60.0 + prayer->second;
    return true;
}

/* Imsak, Fajr and Maghrib of a local day in Unix seconds; false near the poles when one does not happen. libitl
 * gives clock times modulo a day, so each is placed on the side of Dhuhr it belongs to. */
/* libitl (0.8) keeps a per-call cache of the sun's position in a stack variable it never initialises, and reuses
 * it when that garbage matches the day asked about: a value left on the stack by an earlier call can give a wrong
 * Imsak or none at all. Zeroing the stack the call is about to use makes the cache miss, as it should. */
static __attribute__((noinline)) void scrub_stack_for_libitl(void)
{
    char area[16384];
    explicit_bzero(area, sizeof area);
    __asm__ volatile("" : : "r"(area) : "memory");
}

static bool prayer_times_of(const calendar_config *config, long long day, day_info *info)
{
    Location place = {.degreeLong = config->longitude, .degreeLat = config->latitude, .gmtDiff = config->utc_offset,
                      .pressure = 1010, .temperature = 10};
    Method method;
    getMethod(config->method, &method);
    method.round = 0;
    struct tm civil = civil_of_day(day);
    Date date = {.day = civil.tm_mday, .month = civil.tm_mon + 1, .year = civil.tm_year + 1900};
    Prayer imsak, prayers[6]; /* Fajr, Shurooq, Dhuhr, Asr, Maghrib, Isha */
    scrub_stack_for_libitl();
    getImsaak(&place, &method, &date, &imsak);
    scrub_stack_for_libitl();
    getPrayerTimes(&place, &method, &date, prayers);
    double at_imsak, at_fajr, at_dhuhr, at_maghrib;
    if (!prayer_seconds(&imsak, &at_imsak) || !prayer_seconds(&prayers[0], &at_fajr) ||
        !prayer_seconds(&prayers[2], &at_dhuhr) || !prayer_seconds(&prayers[4], &at_maghrib))
        return false;
    double midnight = (double)day * SECONDS_PER_DAY - config->utc_offset * 3600;
    info->imsak = midnight + (at_imsak > at_dhuhr ? at_imsak - SECONDS_PER_DAY : at_imsak);
    info->fajr = midnight + (at_fajr > at_dhuhr ? at_fajr - SECONDS_PER_DAY : at_fajr);
    info->maghrib = midnight + (at_maghrib < at_dhuhr ? at_maghrib + SECONDS_PER_DAY : at_maghrib);
    return true;
}

/* The model walks forwards, and a forecast looks a few hours ahead: a few days cached cover both. */
static const day_info *day_lookup(calendar_model *model, long long day)
{
    day_info *info = &model->days[(size_t)(day % DAY_CACHE + DAY_CACHE) % DAY_CACHE];
    if (info->known && info->day == day)
        return info;
    *info = (day_info){.day = day, .known = true};
    info->has_times = prayer_times_of(&model->config, day, info);
    info->ramadan_day = ramadan_day_of(&model->config, day, &info->eid);
    info->next_ramadan_day = ramadan_day_of(&model->config, day + 1, NULL);
    return info;
}

/* ## Where a time falls ------------------------------------------------------------------------------------------ */

static long long floor_div(double value, double unit) { return (long long)floor(value / unit); }

static part_of_month night_part(int night)
{
    if (night == LAYLAT_AL_QADR)
        return PART_NIGHT_27;
    return night >= LAST_TEN_NIGHTS_FIRST ? PART_LAST_TEN_NIGHTS : PART_RAMADAN_NIGHT;
}

/* The nearest of today's Imsak, today's Maghrib and tomorrow's Imsak (a day after today's, near enough), and the
 * bin of the minutes from it: [0, span) for Imsak, [span, 2 span) for Maghrib. */
static size_t anchored_bin(const calendar_model *model, const day_info *info, double t)
{
    double anchors[3] = {info->imsak, info->maghrib, info->imsak + SECONDS_PER_DAY};
    size_t nearest = 0;
    for (size_t a = 1; a < 3; a++)
        if (fabs(t - anchors[a]) < fabs(t - anchors[nearest]))
            nearest = a;
    long long minutes = floor_div(t - anchors[nearest], 60) + ANCHOR_SPAN_MINUTES;
    if (minutes < 0)
        minutes = 0;
    if (minutes >= 2 * ANCHOR_SPAN_MINUTES)
        minutes = 2 * ANCHOR_SPAN_MINUTES - 1;
    size_t half = (size_t)(2 * ANCHOR_SPAN_MINUTES / model->config.bin_minutes);
    return (nearest == 1 ? half : 0) + (size_t)minutes / (size_t)model->config.bin_minutes;
}

static size_t daily_bin_of(const calendar_model *model, double t)
{
    long long span = model->config.weekly ? MINUTES_PER_WEEK : MINUTES_PER_DAY;
    long long minutes = floor_div(t + model->config.utc_offset * 3600, 60) % span;
    if (minutes < 0)
        minutes += span;
    return (size_t)(minutes / model->config.bin_minutes);
}

static position position_of(calendar_model *model, double t)
{
    long long day = floor_div(t + model->config.utc_offset * 3600, SECONDS_PER_DAY);
    const day_info *info = day_lookup(model, day);
    position at = {.part = PART_ORDINARY, .daily_bin = daily_bin_of(model, t)};
    at.bin = at.daily_bin;
    if (info->has_times) {
        /* the Islamic day begins at Maghrib: the evening belongs to tomorrow's night */
        int night = t >= info->maghrib ? info->next_ramadan_day : t < info->fajr ? info->ramadan_day : 0;
        at.anchored_bin = anchored_bin(model, info, t);
        if (info->ramadan_day > 0 || night > 0)
            at.profile = PROFILE_RAMADAN;
        else if (info->eid)
            at.profile = PROFILE_EID;
        if (night > 0)
            at.part = night_part(night);
        else if (info->ramadan_day > 0)
            at.part = info->next_ramadan_day == 0 ? PART_LAST_DAY : PART_RAMADAN_DAY;
        if (at.profile != PROFILE_DAILY)
            at.bin = at.anchored_bin;
    }
    if (at.profile != PROFILE_RAMADAN && info->eid)
        at.part = PART_EID;
    return at;
}

/* ## The model ------------------------------------------------------------------------------------------------- */

/* The level a part forecasts with: its own once seen, else the one in force. */
static double level_for(const calendar_model *model, part_of_month part)
{
    return model->levels[part].seen ? model->levels[part].value : model->current_level;
}

/* The bin a position learns into. */
static profile_cell *own_cell(const calendar_model *model, const position *at)
{
    return &model->profiles[at->profile][at->bin];
}

/* The bin a position forecasts from with its part's level, or NULL: its own once seen; on Eid before that, the
 * Ramadan bin at the same distance from Imsak or Maghrib (yesterday's habits, as a plain daily model would take). */
static const profile_cell *forecast_cell(const calendar_model *model, const position *at)
{
    const profile_cell *cell = own_cell(model, at);
    if (cell->seen)
        return cell;
    if (at->profile == PROFILE_EID && model->profiles[PROFILE_RAMADAN][at->anchored_bin].seen)
        return &model->profiles[PROFILE_RAMADAN][at->anchored_bin];
    return NULL;
}

/* Mean at a position, as level and calendar factor: mean = level x factor. */
static void expected_at(const calendar_model *model, const position *at, double *level, double *factor)
{
    const profile_cell *cell = forecast_cell(model, at);
    const profile_cell *daily = &model->profiles[PROFILE_DAILY][at->daily_bin];
    if (model->has_level && cell) {
        *level = level_for(model, at->part);
        *factor = cell->factor;
    } else if (model->has_fallback && daily->seen) {
        *level = model->fallback_level;
        *factor = daily->factor;
    } else {
        *level = model->last_value;
        *factor = 1;
    }
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void sort_residuals(calendar_model *model)
{
    memcpy(model->sorted, model->residuals, model->residual_count * sizeof(double));
    qsort(model->sorted, model->residual_count, sizeof(double), compare_doubles);
}

/* A forecast every tick sorted the whole window (50 us a target); an error in and one out moves a few KB instead. */
static void sorted_take(calendar_model *model, bool full, double oldest, double error)
{
    if (!full)
        sorted_insert(model->sorted, model->residual_count, error);
    else if (sorted_contains(model->sorted, model->residual_count, oldest))
        sorted_replace(model->sorted, model->residual_count, oldest, error);
    else /* not where it should be (a NAN loaded, say): in order again, from the ring */
        sort_residuals(model);
}

static void residual_record(calendar_model *model, double value, double predicted)
{
    if (!(predicted > 0) || isnan(predicted))
        return;
    double error = (value - predicted) / predicted;
    bool full = model->residual_count == RESIDUAL_WINDOW;
    double oldest = model->residuals[model->residual_next];
    model->residuals[model->residual_next] = error;
    model->residual_next = (model->residual_next + 1) % RESIDUAL_WINDOW;
    sorted_take(model, full, oldest, error); /* full: the window's count stays, the oldest goes */
    if (!full)
        model->residual_count++;
}

/* Weight of a new observation: 1/n while few were seen (a running mean), then the floor. */
static double learning_weight(size_t seen, double floor_weight)
{
    double running = 1.0 / (double)(seen + 1);
    return running > floor_weight ? running : floor_weight;
}

static void update_fallback(calendar_model *model, const position *at, double value)
{
    profile_cell *daily = &model->profiles[PROFILE_DAILY][at->daily_bin];
    if (model->has_fallback && daily->seen && daily->factor > 0)
        model->fallback_level += FALLBACK_ALPHA * (value / daily->factor - model->fallback_level);
    else if (!model->has_fallback) {
        model->fallback_level = value;
        model->has_fallback = true;
    }
}

static void update_level(calendar_model *model, const position *at, double value)
{
    level_state *level = &model->levels[at->part];
    const profile_cell *cell = forecast_cell(model, at);
    if (!model->has_level) {
        model->current_level = cell && cell->factor > 0 ? value / cell->factor : value;
        model->has_level = true;
    }
    if (!level->seen)
        level->value = model->current_level;
    /* a bin seen for the first time carries no news about the level: it only learns its own factor; nor does a
     * borrowed one (Eid's first day), or the level would absorb what the new profile is there to learn */
    if (cell && cell == own_cell(model, at) && cell->factor > 0) {
        double weight = learning_weight(level->seen, model->config.alpha);
        level->value += weight * (value / cell->factor - level->value);
    }
    level->seen++;
    model->current_level = level->value;
}

/* Each sample teaches the profile of its own kind of day: Ramadan and Eid leave the ordinary day alone. A day
 * without prayer times on Eid (polar) teaches nothing rather than mislead the daily profile. */
static void update_profile(calendar_model *model, const position *at, double value)
{
    if (at->part == PART_EID && at->profile == PROFILE_DAILY)
        return;
    profile_cell *cell = own_cell(model, at);
    double level = model->levels[at->part].value;
    if (!(level > 0))
        return;
    double weight = learning_weight(cell->seen, model->config.gamma);
    cell->factor = cell->seen ? cell->factor + weight * (value / level - cell->factor) : value / level;
    cell->seen++;
}

static void model_take(calendar_model *model, double value)
{
    double t = model->start + (double)model->count * model->step;
    model->count++;
    if (isnan(value))
        return;
    if (value < 0)
        value = 0;
    position at = position_of(model, t);
    if (!isnan(model->last_value)) {
        double level, factor;
        expected_at(model, &at, &level, &factor);
        residual_record(model, value, level * factor);
    }
    model->last_value = value;
    update_fallback(model, &at, value);
    update_level(model, &at, value);
    update_profile(model, &at, value);
}

/* ## Forecasting --------------------------------------------------------------------------------------------- */

/* Linear interpolation between order statistics; share in [0, 1]. */
static double quantile(const double *sorted, size_t count, double share)
{
    double rank = share * (double)(count - 1);
    size_t below = (size_t)floor(rank);
    size_t above = below + 1 < count ? below + 1 : below;
    return sorted[below] + (rank - (double)below) * (sorted[above] - sorted[below]);
}

/* Relative error quantiles for 2.5, 10, 90, 97.5 %: from the recent one-step errors, 0 without any. */
static void error_quantiles(calendar_model *model, double q[4])
{
    static const double shares[4] = {0.025, 0.10, 0.90, 0.975};
    size_t n = model->residual_count;
    for (size_t i = 0; i < 4; i++) {
        q[i] = n ? quantile(model->sorted, n, shares[i]) : 0;
        q[i] = i < 2 ? fmin(q[i], 0) : fmax(q[i], 0); /* a biased stretch must not leave the mean outside */
    }
}

static double at_least_zero(double value) { return value > 0 ? value : 0; }

static void name_components(hydra_forecast *out)
{
    static const char names[2][HYDRA_COMPONENT_NAME_MAX] = {"level", "calendar"};
    out->component_count = 2;
    for (size_t c = 0; c < 2; c++)
        memcpy(out->component_names[c], names[c], strlen(names[c]) + 1);
}

static void write_forecast(calendar_model *model, hydra_forecast *out)
{
    double q[4];
    error_quantiles(model, q);
    double t = model->start + (double)model->count * model->step;
    for (size_t i = 0; i < out->horizon; i++, t += model->step) {
        position at = position_of(model, t);
        double level, factor;
        expected_at(model, &at, &level, &factor);
        double mean = level * factor;
        /* the level wanders between now and step i: a random walk of alpha-sized moves */
        double widen = sqrt(1 + model->config.alpha * model->config.alpha * (double)i);
        out->mean[i] = at_least_zero(mean);
        out->lower95[i] = at_least_zero(mean * (1 + widen * q[0]));
        out->lower80[i] = at_least_zero(mean * (1 + widen * q[1]));
        out->upper80[i] = at_least_zero(mean * (1 + widen * q[2]));
        out->upper95[i] = at_least_zero(mean * (1 + widen * q[3]));
        if (out->components[0])
            out->components[0][i] = level;
        if (out->components[1])
            out->components[1][i] = mean - level;
    }
    name_components(out);
}

/* ## Models: one per target, fed sample by sample ------------------------------------------------------------- */

static void calendar_model_close(void *opaque)
{
    calendar_model *model = opaque;
    if (!model)
        return;
    const hydra_host *host = model->config.host;
    for (size_t p = 0; p < PROFILE_COUNT; p++)
        host->free(host, model->profiles[p]);
    host->free(host, model->residuals);
    host->free(host, model->sorted);
    host->free(host, model);
}

static calendar_model *model_new(const calendar_config *config, double start, double step)
{
    const hydra_host *host = config->host;
    calendar_model *model = host->alloc(host, sizeof *model);
    if (!model) {
        host->set_error(host, "out of memory");
        return NULL;
    }
    size_t bin = (size_t)config->bin_minutes;
    *model = (calendar_model){.config = *config, .start = start, .step = step, .last_value = NAN,
                              .anchored_bins = 2 * 2 * ANCHOR_SPAN_MINUTES / bin, /* Imsak's, then Maghrib's */
                              .daily_bins = (size_t)(config->weekly ? MINUTES_PER_WEEK : MINUTES_PER_DAY) / bin};
    bool allocated = true;
    for (size_t p = 0; p < PROFILE_COUNT; p++) {
        size_t bins = p == PROFILE_DAILY ? model->daily_bins : model->anchored_bins;
        model->profiles[p] = host->alloc(host, bins * sizeof(profile_cell));
        allocated = allocated && model->profiles[p];
    }
    model->residuals = host->alloc(host, RESIDUAL_WINDOW * sizeof(double));
    model->sorted = host->alloc(host, RESIDUAL_WINDOW * sizeof(double));
    if (!allocated || !model->residuals || !model->sorted) {
        calendar_model_close(model);
        host->set_error(host, "out of memory for a model");
        return NULL;
    }
    return model;
}

static void *calendar_model_open(void *opaque, const hydra_series *history)
{
    const calendar_config *config = opaque;
    if (!history || !(history->step > 0) || !isfinite(history->start)) {
        config->host->set_error(config->host, "model_open: the calendar forecaster needs the series' start and a "
                                              "step > 0 to place samples on the calendar");
        return NULL;
    }
    if (history->count > 0 && !history->values) {
        config->host->set_error(config->host, "model_open: history of %zu samples has no values", history->count);
        return NULL;
    }
    calendar_model *model = model_new(config, history->start, history->step);
    for (size_t t = 0; model && t < history->count; t++)
        model_take(model, history->values[t]);
    return model;
}

static int calendar_model_observe(void *opaque, double value)
{
    model_take(opaque, value);
    return 0;
}

/* "35 min before Imsak" or "1 h 5 min after Maghrib": the nearest anchor of the day, as the profile reads it. */
static size_t describe_anchor(const day_info *info, double t, char *text, size_t size)
{
    double anchors[3] = {info->imsak, info->maghrib, info->imsak + SECONDS_PER_DAY};
    static const char *const names[3] = {"Imsak", "Maghrib", "Imsak"};
    size_t nearest = 0;
    for (size_t a = 1; a < 3; a++)
        if (fabs(t - anchors[a]) < fabs(t - anchors[nearest]))
            nearest = a;
    long long minutes = llround(fabs(t - anchors[nearest]) / 60);
    const char *side = t < anchors[nearest] ? "before" : "after";
    int written = minutes == 0 ? snprintf(text, size, "at %s", names[nearest])
                  : minutes < 60
                      ? snprintf(text, size, "%lld min %s %s", minutes, side, names[nearest])
                      : snprintf(text, size, "%lld h %lld min %s %s", minutes / 60, minutes % 60, side, names[nearest]);
    return written < 0 ? 0 : (size_t)written < size ? (size_t)written : size - 1;
}

/* Words for the part of the month a time falls in, with the night or day number. */
static void describe_part(const day_info *info, const position *at, double t, char *text, size_t size)
{
    int night = t >= info->maghrib ? info->next_ramadan_day : t < info->fajr ? info->ramadan_day : 0;
    switch (at->part) {
    case PART_RAMADAN_DAY: snprintf(text, size, "day %d of Ramadan", info->ramadan_day); break;
    case PART_RAMADAN_NIGHT: snprintf(text, size, "night %d of Ramadan", night); break;
    case PART_LAST_TEN_NIGHTS: snprintf(text, size, "night %d of Ramadan, in the last ten nights", night); break;
    case PART_NIGHT_27: snprintf(text, size, "night 27 of Ramadan (Laylat al-Qadr)"); break;
    case PART_LAST_DAY: snprintf(text, size, "the last day of Ramadan (Zakat al-Fitr)"); break;
    case PART_EID: snprintf(text, size, "Eid al-Fitr"); break;
    default: text[0] = '\0'; break;
    }
}

static int calendar_model_explain(void *opaque, double t, char *text, size_t size)
{
    calendar_model *model = opaque;
    if (!text || size == 0)
        return 0;
    text[0] = '\0';
    long long day = floor_div(t + model->config.utc_offset * 3600, SECONDS_PER_DAY);
    const day_info *info = day_lookup(model, day);
    position at = position_of(model, t);
    if (!info->has_times || at.profile == PROFILE_DAILY)
        return 0; /* an ordinary day: the daily season says it all */
    size_t used = describe_anchor(info, t, text, size);
    if (used + 3 < size && at.part != PART_ORDINARY) {
        memcpy(text + used, ", ", 3);
        used += 2;
        describe_part(info, &at, t, text + used, size - used);
    }
    return 0;
}

static int calendar_model_forecast(void *opaque, hydra_forecast *out)
{
    calendar_model *model = opaque;
    if (isnan(model->last_value)) {
        model->config.host->set_error(model->config.host,
                                      "calendar has no observed sample yet (%zu taken, all missing)", model->count);
        return -1;
    }
    write_forecast(model, out);
    return 0;
}

static int calendar_predict(void *opaque, const hydra_series *history, hydra_forecast *out)
{
    calendar_model *model = calendar_model_open(opaque, history);
    if (!model)
        return -1;
    int result = calendar_model_forecast(model, out);
    calendar_model_close(model);
    return result;
}

/* ## Saved models: what was learned, as text (the model registry) ----------------------------------------------- */

#define SAVE_FORMAT 1

static const char *const profile_names[PROFILE_COUNT] = {"daily", "ramadan", "eid"};

static size_t profile_bins(const calendar_model *model, size_t p)
{
    return p == PROFILE_DAILY ? model->daily_bins : model->anchored_bins;
}

static void save_profile(model_text_writer *w, const calendar_model *model, size_t p)
{
    char name[32];
    model_text_put(w, "profile_%s", profile_names[p]);
    for (size_t b = 0; b < profile_bins(model, p); b++)
        model_text_put(w, " %.17g", model->profiles[p][b].factor);
    snprintf(name, sizeof name, "\nseen_%s", profile_names[p]);
    model_text_put(w, "%s", name);
    for (size_t b = 0; b < profile_bins(model, p); b++)
        model_text_put(w, " %zu", model->profiles[p][b].seen);
    model_text_put(w, "\n");
}

static long long calendar_model_save(void *opaque, char *buffer, size_t size)
{
    const calendar_model *model = opaque;
    const calendar_config *c = &model->config;
    if (isnan(model->last_value)) {
        c->host->set_error(c->host, "calendar: the model has observed no sample yet");
        return -1;
    }
    model_text_writer w = {buffer, size, 0};
    model_text_put(&w, "calendar %d\nbin_minutes %lld\nweekly %d\n", SAVE_FORMAT, c->bin_minutes, c->weekly);
    model_text_put_double(&w, "start", model->start);
    model_text_put_double(&w, "step", model->step);
    model_text_put(&w, "count %zu\nhas_level %d\nhas_fallback %d\n", model->count, model->has_level,
                   model->has_fallback);
    model_text_put_double(&w, "current_level", model->current_level);
    model_text_put_double(&w, "fallback_level", model->fallback_level);
    model_text_put_double(&w, "last_value", model->last_value);
    model_text_put(&w, "levels");
    for (size_t p = 0; p < PART_COUNT; p++)
        model_text_put(&w, " %.17g %zu", model->levels[p].value, model->levels[p].seen);
    model_text_put(&w, "\nresidual_count %zu\nresidual_next %zu\n", model->residual_count, model->residual_next);
    model_text_put_doubles(&w, "residuals", model->residuals, RESIDUAL_WINDOW);
    for (size_t p = 0; p < PROFILE_COUNT; p++)
        save_profile(&w, model, p);
    return (long long)w.length;
}

/* Numbers read into a scratch array, then checked and copied: a count must be whole and not negative. */
static bool load_counts(const hydra_host *host, const char *text, const char *name, double *scratch, size_t count)
{
    if (!model_text_doubles(host, text, name, scratch, count))
        return false;
    for (size_t i = 0; i < count; i++) {
        if (!(scratch[i] >= 0) || scratch[i] != floor(scratch[i])) {
            host->set_error(host, "saved model: field '%s' value %zu is not a count: %g", name, i + 1, scratch[i]);
            return false;
        }
    }
    return true;
}

static bool load_profiles(calendar_model *model, const char *text, double *scratch)
{
    const hydra_host *host = model->config.host;
    for (size_t p = 0; p < PROFILE_COUNT; p++) {
        char name[32];
        size_t bins = profile_bins(model, p);
        snprintf(name, sizeof name, "profile_%s", profile_names[p]);
        if (!model_text_doubles(host, text, name, scratch, bins))
            return false;
        for (size_t b = 0; b < bins; b++)
            model->profiles[p][b].factor = scratch[b];
        snprintf(name, sizeof name, "seen_%s", profile_names[p]);
        if (!load_counts(host, text, name, scratch, bins))
            return false;
        for (size_t b = 0; b < bins; b++)
            model->profiles[p][b].seen = (size_t)scratch[b];
    }
    return true;
}

static bool load_state(calendar_model *model, const char *text, double *scratch)
{
    const hydra_host *host = model->config.host;
    size_t has_level = 0, has_fallback = 0;
    double levels[2 * PART_COUNT];
    if (!model_text_size(host, text, "count", (size_t)1 << 52, &model->count) ||
        !model_text_size(host, text, "has_level", 1, &has_level) ||
        !model_text_size(host, text, "has_fallback", 1, &has_fallback) ||
        !model_text_double(host, text, "current_level", &model->current_level) ||
        !model_text_double(host, text, "fallback_level", &model->fallback_level) ||
        !model_text_double(host, text, "last_value", &model->last_value) ||
        !model_text_doubles(host, text, "levels", levels, 2 * PART_COUNT) ||
        !model_text_size(host, text, "residual_count", RESIDUAL_WINDOW, &model->residual_count) ||
        !model_text_size(host, text, "residual_next", RESIDUAL_WINDOW - 1, &model->residual_next) ||
        !model_text_doubles(host, text, "residuals", model->residuals, RESIDUAL_WINDOW))
        return false;
    model->has_level = has_level;
    model->has_fallback = has_fallback;
    for (size_t p = 0; p < PART_COUNT; p++)
        model->levels[p] = (level_state){levels[2 * p], levels[2 * p + 1] >= 0 ? (size_t)levels[2 * p + 1] : 0};
    if (isnan(model->last_value)) {
        host->set_error(host, "saved model: last_value is missing (NAN): it had observed nothing");
        return false;
    }
    sort_residuals(model);
    return load_profiles(model, text, scratch);
}

static void *calendar_model_load(void *opaque, const char *text)
{
    const calendar_config *config = opaque;
    const hydra_host *host = config->host;
    double start, step, bin_minutes, weekly;
    if (!text || !model_text_header(host, text, "calendar", SAVE_FORMAT) ||
        !model_text_double(host, text, "bin_minutes", &bin_minutes) ||
        !model_text_double(host, text, "weekly", &weekly) || !model_text_double(host, text, "start", &start) ||
        !model_text_double(host, text, "step", &step))
        return NULL;
    if (bin_minutes != (double)config->bin_minutes || weekly != (double)config->weekly) {
        host->set_error(host, "saved model has bin_minutes %g and weekly %g, the config %lld and %d", bin_minutes,
                        weekly, config->bin_minutes, config->weekly);
        return NULL;
    }
    if (!isfinite(start) || !(step > 0)) {
        host->set_error(host, "saved model: start %g and step %g do not place samples on the calendar", start, step);
        return NULL;
    }
    calendar_model *model = model_new(config, start, step);
    double *scratch = model ? host->alloc(host, MINUTES_PER_WEEK * sizeof(double)) : NULL;
    bool loaded = scratch && load_state(model, text, scratch);
    if (model && !scratch)
        host->set_error(host, "out of memory");
    host->free(host, scratch);
    if (!loaded) {
        calendar_model_close(model);
        return NULL;
    }
    return model;
}

/* ## Descriptor ---------------------------------------------------------------------------------------------- */

static const hydra_forecaster_ops calendar_ops = {
    .size = sizeof(hydra_forecaster_ops),
    .predict = calendar_predict,
    .model_open = calendar_model_open,
    .model_observe = calendar_model_observe,
    .model_forecast = calendar_model_forecast,
    .model_close = calendar_model_close,
    .model_explain = calendar_model_explain,
    .model_save = calendar_model_save,
    .model_load = calendar_model_load,
};

static const hydra_plugin_descriptor calendar_descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_FORECASTER,
    .name = "calendar",
    .version = "1.0.0",
    .description = "Seasonality anchored to prayer times and the Hijri calendar (Ramadan, Eid), daily otherwise",
    .create = calendar_create,
    .destroy = calendar_destroy,
    .ops = &calendar_ops,
};

HYDRA_PLUGIN(calendar_descriptor)
