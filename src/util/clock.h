/* Time: wall clock (UTC epoch ms, for stored times and schedules) and monotonic (for durations).
 * The wall clock has an injectable source so tests can pin and jump "now". */
#ifndef UTIL_CLOCK_H
#define UTIL_CLOCK_H

#include <stdint.h>

typedef int64_t (*clock_source_fn)(void);

/* Current wall time in UTC epoch milliseconds, from the installed source. */
int64_t clock_now_ms(void);
/* Installs a wall-clock source; NULL restores the system clock. */
void clock_set_source(clock_source_fn fn);
/* Monotonic milliseconds, never from the injectable source. */
int64_t clock_mono_ms(void);
/* Formats epoch ms as ISO 8601 UTC with milliseconds ("2026-03-20T10:00:00.000Z"). */
void clock_format_iso(int64_t ms, char out[32]);
/* Parses ISO 8601 with a Z or +hh:mm offset ("2026-12-01T08:00:00Z", seconds and fraction
 * optional); returns -1 when malformed or out of range. */
int clock_parse_iso(const char *s, int64_t *out_ms);

#endif
