#include "clock.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void clock_init_real(hydra_clock *clock)
{
    clock->mode = CLOCK_REAL;
    clock->virtual_now = 0;
}

void clock_init_virtual(hydra_clock *clock, double start)
{
    clock->mode = CLOCK_VIRTUAL;
    clock->virtual_now = start;
}

double clock_now(const hydra_clock *clock)
{
    if (clock && clock->mode == CLOCK_VIRTUAL)
        return clock->virtual_now;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec + now.tv_nsec / 1e9;
}

double clock_monotonic(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + now.tv_nsec / 1e9;
}

int clock_advance(hydra_clock *clock, double seconds)
{
    if (clock->mode != CLOCK_VIRTUAL || !(seconds >= 0))
        return -1;
    clock->virtual_now = clock->virtual_now + seconds; /* one writer: a load and a store suffice */
    return 0;
}

bool clock_parse_time(const char *text, double *out)
{
    char *end = NULL;
    double plain = strtod(text, &end);
    if (end != text && *end == '\0' && isfinite(plain)) {
        *out = plain;
        return true;
    }
    struct tm parts = {0};
    const char *rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &parts);
    if (!rest)
        return false;
    double fraction = 0;
    if (*rest == '.') {
        fraction = strtod(rest, &end);
        rest = end;
    }
    if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0)
        return false;
    *out = (double)timegm(&parts) + fraction;
    return true;
}

void clock_format_time(double seconds, char *buffer, unsigned size)
{
    time_t whole = (time_t)floor(seconds);
    struct tm parts;
    gmtime_r(&whole, &parts);
    strftime(buffer, size, "%Y-%m-%dT%H:%M:%SZ", &parts);
}

bool clock_parse_duration(const char *text, double *out)
{
    char *end = NULL;
    double value = strtod(text, &end);
    if (end == text || !isfinite(value) || value < 0)
        return false;
    static const struct {
        const char *unit;
        double seconds;
    } units[] = {{"", 1}, {"s", 1}, {"m", 60}, {"min", 60}, {"h", 3600}, {"d", 86400}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].unit) == 0) {
            *out = value * units[i].seconds;
            return true;
        }
    }
    return false;
}
