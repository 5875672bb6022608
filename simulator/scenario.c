#include "scenario.h"

#include "clock.h"
#include "util.h"

#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ## Seeded random numbers (splitmix64) ------------------------------------------------------------------------- */

void scenario_random_seed(scenario_random *random, uint64_t seed) { random->state = seed; }

static uint64_t random_next(scenario_random *random)
{
    uint64_t z = (random->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double scenario_random_uniform(scenario_random *random) { return (double)(random_next(random) >> 11) * 0x1.0p-53; }

double scenario_random_normal(scenario_random *random)
{
    /* Box-Muller; 1 - u keeps the logarithm finite */
    double u = 1 - scenario_random_uniform(random), v = scenario_random_uniform(random);
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* ## Calendar and time helpers for scripts ---------------------------------------------------------------------- */

static scenario *scenario_of(lua_State *L) { return lua_touserdata(L, lua_upvalueindex(1)); }

static scenario *located(lua_State *L)
{
    scenario *s = scenario_of(L);
    if (!s->has_location)
        luaL_error(L, "calendar helpers need scenario.location (latitude, longitude, utc_offset, method)");
    return s;
}

int scenario_prayer_times(scenario *s, double t, calendar_day_times *out)
{
    if (!s->has_location)
        return -1;
    long day = (long)floor((t + s->location.utc_offset_hours * 3600) / 86400);
    if (day != s->cached_day) {
        time_t local = (time_t)day * 86400;
        struct tm date;
        gmtime_r(&local, &date);
        if (calendar_prayer_times(&s->location, date.tm_year + 1900, date.tm_mon + 1, date.tm_mday, &s->cached_times) != 0)
            return -1;
        s->cached_day = day;
    }
    *out = s->cached_times;
    return 0;
}

double scenario_local_hour(const scenario *s, double t)
{
    double offset = s->has_location ? s->location.utc_offset_hours * 3600 : 0;
    double seconds = fmod(t + offset, 86400);
    return (seconds < 0 ? seconds + 86400 : seconds) / 3600;
}

static int lua_random(lua_State *L)
{
    lua_pushnumber(L, scenario_random_uniform(&scenario_of(L)->random));
    return 1;
}

static int lua_normal(lua_State *L)
{
    double mean = luaL_optnumber(L, 1, 0), sd = luaL_optnumber(L, 2, 1);
    lua_pushnumber(L, mean + sd * scenario_random_normal(&scenario_of(L)->random));
    return 1;
}

static int lua_time(lua_State *L)
{
    double t;
    if (!clock_parse_time(luaL_checkstring(L, 1), &t))
        return luaL_argerror(L, 1, "expected a UTC time such as \"2027-02-08T00:00:00Z\"");
    lua_pushnumber(L, t);
    return 1;
}

static int lua_local_hour(lua_State *L)
{
    lua_pushnumber(L, scenario_local_hour(scenario_of(L), luaL_checknumber(L, 1)));
    return 1;
}

static int lua_hijri(lua_State *L)
{
    calendar_hijri date;
    if (calendar_hijri_from_unix(luaL_checknumber(L, 1), &located(L)->location, &date) != 0)
        return luaL_error(L, "no Hijri date for this time");
    lua_pushinteger(L, date.year);
    lua_pushinteger(L, date.month);
    lua_pushinteger(L, date.day);
    return 3;
}

static int lua_ramadan_day(lua_State *L)
{
    lua_pushinteger(L, calendar_ramadan_day(luaL_checknumber(L, 1), &located(L)->location));
    return 1;
}

static int lua_ramadan_night(lua_State *L)
{
    lua_pushinteger(L, calendar_ramadan_night(luaL_checknumber(L, 1), &located(L)->location));
    return 1;
}

static int lua_is_eid(lua_State *L)
{
    lua_pushboolean(L, calendar_is_eid_al_fitr(luaL_checknumber(L, 1), &located(L)->location));
    return 1;
}

static int lua_last_ten_nights(lua_State *L)
{
    lua_pushboolean(L, calendar_ramadan_night(luaL_checknumber(L, 1), &located(L)->location) >=
                           CALENDAR_LAST_TEN_NIGHTS_FIRST);
    return 1;
}

static int lua_laylat_al_qadr(lua_State *L)
{
    lua_pushboolean(L, calendar_ramadan_night(luaL_checknumber(L, 1), &located(L)->location) ==
                           CALENDAR_LAYLAT_AL_QADR);
    return 1;
}

static int lua_prayer_times(lua_State *L)
{
    calendar_day_times times;
    if (scenario_prayer_times(located(L), luaL_checknumber(L, 1), &times) != 0)
        return luaL_error(L, "no prayer times for this date at this location");
    static const char *const names[] = {"imsak", "fajr", "sunrise", "dhuhr", "asr", "maghrib", "isha"};
    lua_createtable(L, 0, 7);
    for (int event = CALENDAR_IMSAK; event <= CALENDAR_ISHA; event++) {
        lua_pushnumber(L, calendar_event_time(&times, (calendar_event)event));
        lua_setfield(L, -2, names[event]);
    }
    return 1;
}

/* Minutes from an event of the local date of t to t: negative before it. */
static int lua_minutes_from(lua_State *L)
{
    double t = luaL_checknumber(L, 1);
    calendar_event event;
    if (!calendar_event_parse(luaL_checkstring(L, 2), &event))
        return luaL_argerror(L, 2, "expected imsak, fajr, sunrise, dhuhr, asr, maghrib or isha");
    calendar_day_times times;
    if (scenario_prayer_times(located(L), t, &times) != 0)
        return luaL_error(L, "no prayer times for this date at this location");
    lua_pushnumber(L, (t - calendar_event_time(&times, event)) / 60);
    return 1;
}

static void add_helpers(lua_State *L, void *context)
{
    static const luaL_Reg helpers[] = {
        {"random", lua_random},           {"normal", lua_normal},
        {"time", lua_time},               {"local_hour", lua_local_hour},
        {"hijri", lua_hijri},             {"ramadan_day", lua_ramadan_day},
        {"ramadan_night", lua_ramadan_night}, {"is_eid", lua_is_eid},
        {"last_ten_nights", lua_last_ten_nights}, {"laylat_al_qadr", lua_laylat_al_qadr},
        {"prayer_times", lua_prayer_times}, {"minutes_from", lua_minutes_from},
        {NULL, NULL},
    };
    lua_pushlightuserdata(L, context);
    luaL_setfuncs(L, helpers, 1); /* the `hydra` table is on top */
}

/* ## Reading the scenario table ---------------------------------------------------------------------------------- */

typedef struct reader {
    lua_State *L;
    const char *path;
    char *error;
    size_t error_size;
} reader;

static int field_fail(reader *r, const char *where, const char *field, const char *what)
{
    format_into(r->error, r->error_size, "%s: %s%s%s %s", r->path, where, where[0] ? "." : "", field, what);
    return -1;
}

/* A number, a duration string ("90s", "2h") when `duration`, or the fallback when absent (NAN: required). */
static int read_number(reader *r, int table, const char *where, const char *field, double fallback, double low,
                       double high, bool duration, double *out)
{
    lua_State *L = r->L;
    int type = lua_getfield(L, table, field);
    double value = fallback;
    bool ok = true;
    if (type == LUA_TNUMBER)
        value = lua_tonumber(L, -1);
    else if (type == LUA_TSTRING && duration)
        ok = clock_parse_duration(lua_tostring(L, -1), &value);
    else if (type != LUA_TNIL)
        ok = false;
    lua_pop(L, 1);
    if (!ok)
        return field_fail(r, where, field, duration ? "must be a number of seconds or a duration such as \"90s\""
                                                    : "must be a number");
    if (isnan(value))
        return field_fail(r, where, field, "is required");
    if (value < low || value > high) {
        char range[128];
        format_into(range, sizeof range, "must be between %g and %g, found %g", low, high, value);
        return field_fail(r, where, field, range);
    }
    *out = value;
    return 0;
}

static int read_int(reader *r, int table, const char *where, const char *field, double fallback, double low,
                    double high, int *out)
{
    double value;
    if (read_number(r, table, where, field, fallback, low, high, false, &value) != 0)
        return -1;
    if (value != floor(value))
        return field_fail(r, where, field, "must be a whole number");
    *out = (int)value;
    return 0;
}

/* A time: an ISO 8601 UTC string or Unix seconds. */
static int read_time(reader *r, int table, const char *where, const char *field, double *out)
{
    lua_State *L = r->L;
    int type = lua_getfield(L, table, field);
    bool ok = (type == LUA_TNUMBER && (*out = lua_tonumber(L, -1), true)) ||
              (type == LUA_TSTRING && clock_parse_time(lua_tostring(L, -1), out));
    lua_pop(L, 1);
    return ok ? 0 : field_fail(r, where, field, "must be a UTC time such as \"2027-02-08T00:00:00Z\"");
}

static char *read_string(reader *r, int table, const char *where, const char *field, const char *fallback)
{
    lua_State *L = r->L;
    int type = lua_getfield(L, table, field);
    char *value = type == LUA_TSTRING ? xstrdup(lua_tostring(L, -1)) : fallback ? xstrdup(fallback) : NULL;
    lua_pop(L, 1);
    if (!value)
        field_fail(r, where, field, type == LUA_TNIL ? "is required" : "must be a string");
    return value;
}

static int read_location(reader *r, scenario *s, int table)
{
    if (lua_getfield(r->L, table, "location") == LUA_TNIL) {
        lua_pop(r->L, 1);
        return 0;
    }
    int at = lua_gettop(r->L);
    calendar_location *loc = &s->location;
    char *method = NULL;
    int status = read_number(r, at, "scenario.location", "latitude", NAN, -90, 90, false, &loc->latitude) ||
                 read_number(r, at, "scenario.location", "longitude", NAN, -180, 180, false, &loc->longitude) ||
                 read_number(r, at, "scenario.location", "utc_offset", 0, -14, 14, false, &loc->utc_offset_hours) ||
                 read_int(r, at, "scenario.location", "hijri_adjust", 0, -3, 3, &loc->hijri_adjust_days) ||
                 !(method = read_string(r, at, "scenario.location", "method", "egyptian"));
    if (!status && !calendar_method_parse(method, &loc->method))
        status = field_fail(r, "scenario.location", "method",
                            "must be a calculation method such as \"egyptian\", \"mwl\", \"isna\", \"umm_al_qura\"");
    free(method);
    lua_pop(r->L, 1);
    s->has_location = status == 0;
    return status ? -1 : 0;
}

static int read_service(reader *r, int table, const char *where, scenario_service *out)
{
    out->name = read_string(r, table, where, "name", NULL);
    if (!out->name)
        return -1;
    if (read_number(r, table, where, "capacity_per_replica", NAN, 1e-9, 1e12, false, &out->capacity_per_replica) ||
        read_number(r, table, where, "cold_start", 60, 0, 86400, true, &out->cold_start_seconds) ||
        read_int(r, table, where, "min_replicas", 1, 0, 100000, &out->min_replicas) ||
        read_int(r, table, where, "max_replicas", 100, 1, 100000, &out->max_replicas) ||
        read_int(r, table, where, "initial_replicas", out->min_replicas, 0, 100000, &out->initial_replicas) ||
        read_number(r, table, where, "latency_slo_ms", 500, 1e-3, 1e7, false, &out->latency_slo_ms) ||
        read_number(r, table, where, "base_latency_ms", 50, 0, 1e7, false, &out->base_latency_ms) ||
        read_number(r, table, where, "queue_limit", 30, 0, 3600, true, &out->queue_limit_seconds))
        return -1;
    if (out->min_replicas > out->max_replicas || out->initial_replicas < out->min_replicas ||
        out->initial_replicas > out->max_replicas)
        return field_fail(r, where, "initial_replicas", "must lie within min_replicas <= initial <= max_replicas");
    return 0;
}

/* Reads the array field `field` of the scenario table, calling each(element index) with the element on top. */
static int read_array(reader *r, scenario *s, int table, const char *field, size_t element_size, void **items,
                      size_t *count, int (*each)(reader *, scenario *, int, const char *, void *))
{
    lua_State *L = r->L;
    int type = lua_getfield(L, table, field);
    if (type == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    if (type != LUA_TTABLE) {
        lua_pop(L, 1);
        return field_fail(r, "scenario", field, "must be a list of tables");
    }
    *count = lua_rawlen(L, -1);
    *items = xcalloc(*count + 1, element_size);
    int status = 0;
    for (size_t i = 0; i < *count && status == 0; i++) {
        char where[64];
        format_into(where, sizeof where, "scenario.%s[%zu]", field, i + 1);
        if (lua_rawgeti(L, -1, (lua_Integer)i + 1) != LUA_TTABLE)
            status = field_fail(r, where, "", "must be a table");
        else
            status = each(r, s, lua_gettop(L), where, (char *)*items + i * element_size);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return status;
}

static int each_service(reader *r, scenario *s, int table, const char *where, void *item)
{
    (void)s;
    return read_service(r, table, where, item);
}

static long service_index(const scenario *s, const char *name)
{
    for (size_t i = 0; i < s->service_count; i++)
        if (strcmp(s->services[i].name, name) == 0)
            return (long)i;
    return -1;
}

static int each_incident(reader *r, scenario *s, int table, const char *where, void *item)
{
    scenario_incident *incident = item;
    char *kind = read_string(r, table, where, "kind", NULL);
    char *service = read_string(r, table, where, "service", "*");
    double duration = 0;
    int status = !kind || !service ? -1 : 0;
    if (status == 0 && strcmp(kind, "flash_crowd") == 0) {
        incident->kind = INCIDENT_FLASH_CROWD;
        status = read_number(r, table, where, "factor", NAN, 0, 1e6, false, &incident->amount);
    } else if (status == 0 && strcmp(kind, "capacity_loss") == 0) {
        incident->kind = INCIDENT_CAPACITY_LOSS;
        status = read_number(r, table, where, "fraction", NAN, 0, 1, false, &incident->amount);
    } else if (status == 0) {
        status = field_fail(r, where, "kind", "must be \"flash_crowd\" or \"capacity_loss\"");
    }
    incident->service = service && strcmp(service, "*") != 0 ? service_index(s, service) : -1;
    if (status == 0 && service && strcmp(service, "*") != 0 && incident->service < 0)
        status = field_fail(r, where, "service", "names no service of the scenario");
    if (status == 0)
        status = read_time(r, table, where, "at", &incident->start) ||
                 read_number(r, table, where, "duration", NAN, 0, 366 * 86400.0, true, &duration);
    incident->end = incident->start + duration;
    free(kind);
    free(service);
    return status ? -1 : 0;
}

static int read_operator(reader *r, scenario *s, int table)
{
    lua_State *L = r->L;
    if (lua_getfield(L, table, "operator") == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    int at = lua_gettop(L);
    scenario_operator *op = &s->operator;
    op->present = true;
    const char *where = "scenario.operator";
    int status = read_number(r, at, where, "median_response", 300, 0, 86400, true, &op->median_seconds) ||
                 read_number(r, at, where, "p90_response", op->median_seconds * 3, op->median_seconds, 7 * 86400.0,
                             true, &op->p90_seconds) ||
                 read_number(r, at, where, "approve_probability", 1, 0, 1, false, &op->approve_probability);
    if (status == 0 && lua_getfield(L, at, "asleep") == LUA_TTABLE) {
        int asleep = lua_gettop(L);
        status = read_number(r, asleep, "scenario.operator.asleep", "from", NAN, 0, 24, false, &op->asleep_from_hour) ||
                 read_number(r, asleep, "scenario.operator.asleep", "to", NAN, 0, 24, false, &op->asleep_to_hour);
    }
    lua_settop(L, at - 1);
    return status ? -1 : 0;
}

static int read_scenario_table(reader *r, scenario *s, const scenario_overrides *overrides)
{
    lua_State *L = r->L;
    if (lua_getglobal(L, "scenario") != LUA_TTABLE)
        return field_fail(r, "", "scenario", "must be a global table describing the scenario");
    int at = lua_gettop(L);
    double days = 0, seed = 1;
    s->name = read_string(r, at, "scenario", "name", s->path);
    if (read_time(r, at, "scenario", "start", &s->start) || read_number(r, at, "scenario", "days", NAN, 1.0 / 1440, 3660, false, &days) ||
        read_number(r, at, "scenario", "step", 60, 1, 86400, true, &s->step) ||
        read_number(r, at, "scenario", "seed", 1, 0, 9007199254740992.0, false, &seed) || read_location(r, s, at) ||
        read_array(r, s, at, "services", sizeof *s->services, (void **)&s->services, &s->service_count, each_service) ||
        read_array(r, s, at, "incidents", sizeof *s->incidents, (void **)&s->incidents, &s->incident_count,
                   each_incident) ||
        read_operator(r, s, at))
        return -1;
    if (s->service_count == 0)
        return field_fail(r, "scenario", "services", "must list at least one service");
    s->duration = (overrides && overrides->days > 0 ? overrides->days : days) * 86400;
    s->seed = overrides && overrides->has_seed ? overrides->seed : (uint64_t)seed;
    lua_pop(L, 1);
    return 0;
}

/* ## Life cycle and traffic ------------------------------------------------------------------------------------- */

/* Runs in the scenario's own state with its globals, so traffic is looked up at every step as before. The chunk has
 * a name of its own: an error in it is hydra's, not the scenario's. */
static const char demand_driver_source[] = "local names, out = ...\n"
                                           "return function(t)\n"
                                           "  local traffic = traffic\n"
                                           "  for i = 1, #names do out[i] = traffic(t, names[i]) end\n"
                                           "end\n";

static int make_demand_driver(scenario *s, char *error, size_t error_size)
{
    lua_State *L = script_state(s->script);
    if (luaL_loadbufferx(L, demand_driver_source, sizeof demand_driver_source - 1, "=hydra demand driver", "t") !=
        LUA_OK) {
        format_into(error, error_size, "%s: %s", s->path, lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    lua_createtable(L, (int)s->service_count, 0);
    for (size_t i = 0; i < s->service_count; i++) {
        lua_pushstring(L, s->services[i].name);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_createtable(L, (int)s->service_count, 0);
    lua_pushvalue(L, -1);
    s->demand_answers = luaL_ref(L, LUA_REGISTRYINDEX);
    if (script_call(s->script, 2, 1) != 0) {
        format_into(error, error_size, "%s", script_error(s->script));
        return -1;
    }
    s->demand_driver = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

int scenario_load(scenario *s, const char *path, const scenario_overrides *overrides, const script_options *options,
                  char *error, size_t error_size)
{
    memset(s, 0, sizeof *s);
    s->path = xstrdup(path);
    s->cached_day = -1;
    script_options with_helpers = options ? *options : (script_options){0};
    with_helpers.extend = add_helpers;
    with_helpers.extend_context = s;
    s->script = script_open(path, &with_helpers, error, error_size);
    if (!s->script)
        return -1;
    reader r = {script_state(s->script), path, error, error_size};
    if (read_scenario_table(&r, s, overrides) != 0)
        return -1;
    if (!script_has_function(s->script, "traffic")) {
        format_into(error, error_size, "%s: a scenario must define a global function traffic(t, service)", path);
        return -1;
    }
    scenario_random_seed(&s->random, s->seed);
    return make_demand_driver(s, error, error_size);
}

void scenario_free(scenario *s)
{
    script_close(s->script);
    for (size_t i = 0; i < s->service_count; i++)
        free(s->services[i].name);
    free(s->services);
    free(s->incidents);
    free(s->name);
    free(s->path);
    memset(s, 0, sizeof *s);
}

static double incident_factor(const scenario *s, size_t service, double t, scenario_incident_kind kind)
{
    double factor = 1;
    for (size_t i = 0; i < s->incident_count; i++) {
        const scenario_incident *incident = &s->incidents[i];
        if (incident->kind != kind || t < incident->start || t >= incident->end ||
            (incident->service >= 0 && (size_t)incident->service != service))
            continue;
        factor *= kind == INCIDENT_FLASH_CROWD ? incident->amount : 1 - incident->amount;
    }
    return factor;
}

double scenario_capacity_factor(const scenario *s, size_t service, double t)
{
    return incident_factor(s, service, t, INCIDENT_CAPACITY_LOSS);
}

int scenario_demand_all(scenario *s, double t, double *out, char *error, size_t error_size)
{
    lua_State *L = script_state(s->script);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->demand_answers);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->demand_driver);
    lua_pushnumber(L, t);
    if (script_call_covering(s->script, 1, 0, (long long)s->service_count) != 0) {
        lua_pop(L, 1);
        format_into(error, error_size, "%s", script_error(s->script));
        return -1;
    }
    for (size_t i = 0; i < s->service_count; i++) {
        int is_number = 0;
        lua_rawgeti(L, -1, (lua_Integer)i + 1);
        double demand = lua_tonumberx(L, -1, &is_number);
        lua_pop(L, 1);
        if (!is_number || !isfinite(demand) || demand < 0) {
            lua_pop(L, 1);
            format_into(error, error_size, "%s: traffic(t, \"%s\") must return a number >= 0", s->path,
                        s->services[i].name);
            return -1;
        }
        out[i] = demand * incident_factor(s, i, t, INCIDENT_FLASH_CROWD);
    }
    lua_pop(L, 1);
    return 0;
}
