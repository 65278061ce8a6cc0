/* Times cron_next() (src/cron) for a few typical expressions and zones and prints the mean cost
 * per call against the 5 us budget. Zones come from $TZDIR (default: the system database; the
 * test fixtures work too: TZDIR=tests/fixtures/zones/compiled). Not a test: it never fails on
 * a slow machine, it reports. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cron/cron.h"

#define BENCH_OPS 1000000

static double
bench_now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(void)
{
    static const struct {
        const char *expr, *zone;
    } cases[] = {
        { "*/5 * * * *", "UTC" },
        { "0 9 * * 1-5", "America/New_York" },
        { "30 2 * * *", "America/New_York" },
        { "0 0 13 * 5", "Australia/Lord_Howe" },
        { "15 10 1 */3 *", "Asia/Kathmandu" },
        { "0 0 29 2 *", "UTC" },
        { "@hourly", "Pacific/Apia" },
    };
    const size_t ncases = sizeof cases / sizeof cases[0];
    struct cron_expr *exprs[sizeof cases / sizeof cases[0]];
    const struct tz_zone *zones[sizeof cases / sizeof cases[0]];
    struct err e = { 0 };
    for (size_t i = 0; i < ncases; i++) {
        exprs[i] = cron_parse(cases[i].expr, &e);
        zones[i] = exprs[i] != NULL ? tz_get(cases[i].zone, &e) : NULL;
        if (exprs[i] == NULL || zones[i] == NULL) {
            fprintf(stderr, "bench-cron: %s in %s: %s\n", cases[i].expr, cases[i].zone, e.msg);
            return 1;
        }
    }
    /* "now" walks through 2024-2031 in uneven steps, so DST changes and month ends are hit. */
    int64_t now = INT64_C(1704067200000), sink = 0;
    double start = bench_now_sec();
    for (int i = 0; i < BENCH_OPS; i++) {
        int64_t next = 0;
        size_t k = (size_t)i % ncases;
        if (cron_next(exprs[k], zones[k], now, &next, &e) != 0) {
            fprintf(stderr, "bench-cron: %s: %s\n", cases[k].expr, e.msg);
            return 1;
        }
        sink ^= next;
        now += 251 * INT64_C(1000) + 7;
        if (now > INT64_C(1956528000000)) {
            now = INT64_C(1704067200000);
        }
    }
    double us = (bench_now_sec() - start) * 1e6 / BENCH_OPS;
    printf("cron next-fire: %.2f us/op (budget 5 us)\n", us);
    for (size_t i = 0; i < ncases; i++) {
        cron_expr_free(exprs[i]);
    }
    tz_cache_clear();
    return sink == 42 ? 2 : 0; /* keeps the loop from being optimised away */
}
