/* libFuzzer target for src/cron. Input starting with "TZif" is parsed as a zone file, then
 * used for lookups and a next-fire search (hostile zones must not hang or crash cron_next);
 * any other input is byte 0: zone choice, bytes 1-6: "now", the rest: a cron expression, which
 * is parsed and, when valid, run through cron_next_n() in that zone.
 * Build: -DBEAT_FUZZ=ON with clang; see tests/fuzz/README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron/cron.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_zone_names[] = {
    "UTC",          "America/New_York",      "Australia/Lord_Howe", "Asia/Kathmandu",
    "Pacific/Apia", "Fixture/New_York_Slim",
};
static const struct tz_zone *fuzz_zones[sizeof fuzz_zone_names / sizeof fuzz_zone_names[0]];

/* Loads the fixture zones once ($BEAT_FIXTURES/zones/compiled, else $TZDIR). */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *fixtures = getenv("BEAT_FIXTURES");
    if (fixtures != NULL && fixtures[0] != '\0') {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/zones/compiled", fixtures);
        setenv("TZDIR", dir, 1);
    }
    for (size_t i = 0; i < sizeof fuzz_zones / sizeof fuzz_zones[0]; i++) {
        struct err e;
        fuzz_zones[i] = tz_get(fuzz_zone_names[i], &e);
        if (fuzz_zones[i] == NULL) {
            fuzz_zones[i] = tz_get("UTC", &e); /* built in, cannot fail */
        }
    }
    return 0;
}

static void
fuzz_zone_file(const uint8_t *data, size_t size)
{
    struct err e;
    struct tz_zone *z = tz_parse_tzif("Fuzz/Zone", data, size, &e);
    if (z == NULL) {
        return;
    }
    static const int64_t probes[] = {
        INT64_C(-62135596800), INT64_C(-2208988800),  0,
        INT64_C(1300000000),   INT64_C(1773000000),   INT64_C(2200000000),
        INT64_C(4102444800),   INT64_C(253402300799),
    };
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        struct tz_span sp;
        tz_span(z, probes[i], &sp);
        if (tz_offset_at(z, probes[i]) != sp.offset || sp.start > probes[i] ||
            sp.end <= probes[i]) {
            abort(); /* the span must contain the instant and agree with the offset */
        }
        char buf[TZ_ISO_SIZE];
        tz_format_iso(z, probes[i] * 1000, buf, &e);
    }
    static const char *const exprs[] = { "* * * * *", "30 2 * * *", "0 0 29 2 *" };
    for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
        struct cron_expr *c = cron_parse(exprs[i], &e);
        int64_t out[4];
        cron_next_n(c, z, INT64_C(1300000000000) + (int64_t)size * 3600000, out, 4, &e);
        cron_expr_free(c);
    }
    tz_free(z);
}

/* Parses and evaluates one input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 4 && memcmp(data, "TZif", 4) == 0) {
        fuzz_zone_file(data, size);
        return 0;
    }
    if (size < 7) {
        return 0;
    }
    const struct tz_zone *z = fuzz_zones[data[0] % (sizeof fuzz_zones / sizeof fuzz_zones[0])];
    uint64_t raw = 0;
    for (int i = 1; i <= 6; i++) {
        raw = raw << 8 | data[i];
    }
    /* Any instant in years 1-9999, plus a few outside to exercise the range checks. */
    int64_t now = INT64_C(-62135596800000) + (int64_t)(raw % UINT64_C(315537897600000));
    if ((data[0] & 0xf0) == 0xf0) {
        now = (int64_t)(raw << 16);
    }
    char text[CRON_TEXT_MAX + 64];
    size_t n = size - 7 < sizeof text - 1 ? size - 7 : sizeof text - 1;
    memcpy(text, data + 7, n);
    text[n] = '\0';

    struct err e;
    struct cron_expr *c = cron_parse(text, &e);
    if (c == NULL) {
        if (strlen(e.msg) >= sizeof e.msg) {
            abort();
        }
        return 0;
    }
    int64_t out[8];
    if (cron_next_n(c, z, now, out, 8, &e) == 0) {
        int64_t prev = now;
        for (int i = 0; i < 8; i++) {
            if (out[i] <= prev || out[i] % 60000 != 0) {
                abort(); /* strictly increasing whole minutes */
            }
            prev = out[i];
        }
    }
    cron_expr_free(c);
    return 0;
}
