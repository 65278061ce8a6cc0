/* Wall and monotonic clocks; ISO 8601 formatting and parsing in UTC. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"

static clock_source_fn clock_source;

static int64_t
clock_system_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Current wall time in epoch ms. */
int64_t
clock_now_ms(void)
{
    return clock_source ? clock_source() : clock_system_ms();
}

/* Installs a wall-clock source. */
void
clock_set_source(clock_source_fn fn)
{
    clock_source = fn;
}

/* Monotonic milliseconds. */
int64_t
clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Formats epoch ms as ISO 8601 UTC. */
void
clock_format_iso(int64_t ms, char out[32])
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

static int
clock_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)**p)) {
            return -1;
        }
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t
clock_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Parses ISO 8601 with an explicit zone. */
int
clock_parse_iso(const char *s, int64_t *out_ms)
{
    const char *p = s;
    int y, mo, d, h, mi, sec = 0, ms = 0;
    if (clock_digits(&p, 4, &y) || *p++ != '-' || clock_digits(&p, 2, &mo) || *p++ != '-' ||
        clock_digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' ')) {
        return -1;
    }
    p++;
    if (clock_digits(&p, 2, &h) || *p++ != ':' || clock_digits(&p, 2, &mi)) {
        return -1;
    }
    if (*p == ':') {
        p++;
        if (clock_digits(&p, 2, &sec)) {
            return -1;
        }
        if (*p == '.' || *p == ',') {
            p++;
            int digits = 0, scale = 100;
            if (!isdigit((unsigned char)*p)) {
                return -1;
            }
            while (isdigit((unsigned char)*p)) {
                if (digits < 3) {
                    ms += (*p - '0') * scale;
                    scale /= 10;
                }
                digits++;
                p++;
            }
            if (digits > 9) {
                return -1;
            }
        }
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (clock_digits(&p, 2, &oh)) {
            return -1;
        }
        if (*p == ':') {
            p++;
        }
        if (clock_digits(&p, 2, &om) || oh > 23 || om > 59) {
            return -1;
        }
        offset_min = sign * (oh * 60 + om);
    } else {
        return -1; /* a time without a zone is ambiguous: refuse it */
    }
    if (*p != '\0') {
        return -1;
    }
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || sec > 60) {
        return -1;
    }
    if (sec == 60) {
        sec = 59; /* leap second: clamp */
    }
    int64_t days = clock_days_from_civil(y, mo, d);
    *out_ms = ((days * 86400 + h * 3600 + mi * 60 + sec) - (int64_t)offset_min * 60) * 1000 + ms;
    return 0;
}
