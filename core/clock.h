/* The controller's clock: real (wall time) or virtual (the simulator moves it). Everything that needs the time,
 * plugins and scripts included, asks this clock, so a simulated month runs in seconds. */
#ifndef HYDRA_CLOCK_H
#define HYDRA_CLOCK_H

#include <stdbool.h>

typedef enum clock_mode { CLOCK_REAL, CLOCK_VIRTUAL } clock_mode;

typedef struct hydra_clock {
    clock_mode mode;
    _Atomic double virtual_now; /* Unix seconds, used when mode is CLOCK_VIRTUAL; a live demo moves it while the
                                 * HTTP threads read it */
} hydra_clock;

void clock_init_real(hydra_clock *clock);
void clock_init_virtual(hydra_clock *clock, double start);
double clock_now(const hydra_clock *clock);
/* Seconds on a clock that never jumps (not the wall clock): for measuring durations and pacing requests. */
double clock_monotonic(void);
/* Moves a virtual clock forward; returns -1 for a real clock or a step backwards. */
int clock_advance(hydra_clock *clock, double seconds);
/* Parses "2027-02-08T00:00:00Z" (UTC, optional fractional seconds) or plain Unix seconds. */
bool clock_parse_time(const char *text, double *out);
/* "90", "90s", "15m", "2h", "1d" -> seconds; false when malformed or negative. */
bool clock_parse_duration(const char *text, double *out);
/* Formats Unix seconds as ISO 8601 UTC into buffer (at least 32 bytes). */
void clock_format_time(double seconds, char *buffer, unsigned size);

#endif
