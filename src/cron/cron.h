/* Cron expressions and IANA time zones: parse a 5-field cron expression, load a zone from the
 * TZif database, and compute fire times in that zone. A leaf layer: libc and util/ only, and it
 * never reads the clock (`now` is always a parameter).
 *
 * Ownership: cron_parse() and tz_load() return objects owned by the caller (free them with
 * cron_expr_free() / tz_free(), both NULL-safe). tz_get() returns a borrowed zone owned by a
 * process-wide cache; it stays valid until tz_cache_clear() (tests only) or process exit.
 *
 * Threads: parsed expressions and loaded zones are immutable, so any number of threads may use
 * them at once; tz_get() locks its cache. Nothing here touches the process-global TZ variable.
 *
 * Errors: fallible functions return 0/-1 (or NULL) and fill `e` (ERR_INVALID for bad input,
 * ERR_IO for an unreadable database). Messages name the problem but not the caller's argument,
 * so wrap them once with the argument name, e.g. err_wrap(e, "cronExpression") gives
 * `cronExpression: field 2 (hour) "24": value out of range 0-23` and err_wrap(e, "timezone")
 * gives `timezone: unknown IANA time zone "Mars/Base"`.
 *
 * cron/ has this one public header: it also declares tz_* (tz.c) and civil_* (civil.c).
 * The dialect and the DST rules are described in docs/scheduling.md. */
#ifndef CRON_CRON_H
#define CRON_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* ---- Cron expressions (cron.c) ---- */

#define CRON_TEXT_MAX      256  /* longest accepted expression, in bytes */
#define CRON_LIST_MAX      64   /* most comma-separated items in one field */
#define CRON_HORIZON_YEARS 30   /* cron_next() gives up after this many years without a fire */
#define CRON_NEXT_N_MAX    1000 /* most fire times one cron_next_n() call returns */

struct cron_expr;
struct tz_zone;

/* Parses a 5-field expression or an @alias; NULL (ERR_INVALID, naming the field and the rule)
 * on anything else. The result is owned by the caller. */
struct cron_expr *cron_parse(const char *text, struct err *e);
/* Frees an expression; NULL is a no-op. */
void cron_expr_free(struct cron_expr *c);
/* The expression as given, without surrounding blanks; borrowed, lives as long as c. */
const char *cron_expr_text(const struct cron_expr *c);
/* Sets *next_ms to the first fire time strictly after now_ms (UTC epoch ms), evaluated in zone
 * z: a wall time skipped by a forward jump fires at the shifted instant (02:30 on a spring
 * change day fires at 03:30 of the new offset), a repeated wall time fires once, at its first
 * occurrence. Fails (ERR_INVALID) when now is outside years 1-9999 or nothing fires within
 * CRON_HORIZON_YEARS. */
int cron_next(const struct cron_expr *c, const struct tz_zone *z, int64_t now_ms, int64_t *next_ms,
              struct err *e);
/* Fills out[0..n) with the next n fire times after now_ms, each strictly after the one before;
 * n must be 1..CRON_NEXT_N_MAX. */
int cron_next_n(const struct cron_expr *c, const struct tz_zone *z, int64_t now_ms, int64_t *out,
                size_t n, struct err *e);
/* Writes s[0..n) in double quotes for an error message: '"', '\\' and bytes outside printable
 * ASCII are escaped (\xNN), and the text is cut with "..." to fit `size` (at least 16). */
void cron_quote(const char *s, size_t n, char *out, size_t size);

/* ---- Time zones (tz.c) ---- */

#define TZ_NAME_MAX    64           /* longest accepted zone name, in bytes */
#define TZ_FILE_MAX    (256 * 1024) /* largest TZif file read */
#define TZ_CACHE_MAX   4096         /* most distinct zones tz_get() keeps */
#define TZ_ISO_SIZE    40           /* buffer size for tz_format_iso() */
#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"

/* Loads the zone `name` from $TZDIR (default TZ_DEFAULT_DIR). "UTC" and "Etc/UTC" are built in
 * and need no database. Names must match [A-Za-z0-9/_+-], not start with '/' nor contain "..";
 * an unknown name is an error (ERR_INVALID), never a silent UTC. Owned by the caller. */
struct tz_zone *tz_load(const char *name, struct err *e);
/* Parses TZif data (RFC 8536, v1 to v4) already in memory; `name` is only recorded. Zones with
 * leap-second records are refused. Owned by the caller. */
struct tz_zone *tz_parse_tzif(const char *name, const void *data, size_t len, struct err *e);
/* Frees a zone from tz_load() or tz_parse_tzif(); NULL is a no-op. Never pass tz_get() zones. */
void tz_free(struct tz_zone *z);
/* Returns the cached zone `name`, loading it on first use (as tz_load()). Borrowed: valid until
 * tz_cache_clear(). Failed loads are not cached. Thread-safe. */
const struct tz_zone *tz_get(const char *name, struct err *e);
/* Frees every cached zone. Only for tests: no tz_get() pointer may be in use. */
void tz_cache_clear(void);
/* The zone's name as loaded; borrowed, lives as long as z. */
const char *tz_name(const struct tz_zone *z);
/* Sets *offset_sec to the zone's UTC offset (seconds east of UTC) at the instant utc_ms. */
int tz_local_offset(const struct tz_zone *z, int64_t utc_ms, int *offset_sec, struct err *e);
/* Formats utc_ms as local ISO 8601 with the zone's offset, e.g. "2026-03-08T03:30:00-04:00"
 * (".mmm" only when the milliseconds are not zero; ":ss" in the offset only for LMT-style
 * offsets). */
int tz_format_iso(const struct tz_zone *z, int64_t utc_ms, char out[TZ_ISO_SIZE], struct err *e);

/* A maximal run of instants [start, end) with one UTC offset, as seen by tz_span(); start is
 * TZ_TIME_MIN and end TZ_TIME_MAX when there is no transition on that side. prev_offset is the
 * offset just before start (equal to offset when there is none). Used by cron_next(). */
#define TZ_TIME_MIN (-(INT64_C(1) << 62))
#define TZ_TIME_MAX (INT64_C(1) << 62)
struct tz_span {
    int64_t start, end; /* UTC epoch seconds */
    int32_t offset, prev_offset;
};

/* The UTC offset (seconds east) at utc_sec; utc_sec must lie in years 1-9999 (give or take a
 * few days). */
int32_t tz_offset_at(const struct tz_zone *z, int64_t utc_sec);
/* The span of constant offset that contains utc_sec (same range rule as tz_offset_at()). */
void tz_span(const struct tz_zone *z, int64_t utc_sec, struct tz_span *out);

/* ---- Proleptic Gregorian calendar arithmetic (civil.c), shared by cron.c and tz.c ---- */

/* Seconds in a day; wall times are counted as "local seconds since 1970-01-01T00:00". */
#define CIVIL_DAY 86400
/* The first and last instants (UTC epoch seconds) of years 1 and 9999. */
#define CIVIL_SEC_MIN INT64_C(-62135596800)
#define CIVIL_SEC_MAX INT64_C(253402300799)

struct civil {
    int64_t year;
    int month, day;           /* 1-12, 1-31 */
    int hour, minute, second; /* 0-23, 0-59, 0-59 */
};

bool civil_is_leap(int64_t year);
/* Days in the month (1-12) of the year. */
int civil_days_in_month(int64_t year, int month);
/* Days since 1970-01-01 of a date (day may run past the month's end; it carries over). */
int64_t civil_days_from_date(int64_t year, int month, int day);
/* The weekday of a day count: 0 Sunday .. 6 Saturday. */
int civil_weekday(int64_t days);
/* Splits seconds since 1970-01-01T00:00 into a date and time. */
void civil_from_seconds(int64_t sec, struct civil *out);
/* Joins a date and time back into seconds since 1970-01-01T00:00. */
int64_t civil_to_seconds(const struct civil *c);
/* Floor division for the negative instants before 1970. */
int64_t civil_floor_div(int64_t a, int64_t b);

#endif
