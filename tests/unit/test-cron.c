/* Unit tests for src/cron: the golden next-fire table (tests/golden/cron-next.tsv), the
 * accept/reject table of the dialect, the TZif loader (fixture zones, hand-built and corrupt
 * files), POSIX footer rules checked against glibc, and a brute-force cross-check of
 * cron_next() on random expressions around DST changes. Zones come from
 * $BEAT_FIXTURES/zones/compiled through TZDIR, so the machine's tzdata does not matter. */
#include <sys/stat.h>

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* cmocka.h needs the headers above first. */
#include <cmocka.h>

#include "cron/cron.h"
#include "util/xmalloc.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MIN_MS       INT64_C(60000)
#define HOUR_MS      (60 * MIN_MS)
#define DAY_MS       (24 * HOUR_MS)

static char fixture_zones[4096];

/* ---- helpers ---- */

/* Parses "YYYY-MM-DDTHH:MM:SS[.mmm]Z" (years before 1970 too) into epoch ms. */
static int64_t
iso_ms(const char *s)
{
    int y, mo, d, h, mi, sec, ms = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6) {
        fail_msg("bad ISO time in test data: %s", s);
    }
    if (s[n] == '.') {
        int m = 0;
        if (sscanf(s + n, ".%3d%n", &ms, &m) != 1) {
            fail_msg("bad ISO time in test data: %s", s);
        }
        n += m;
    }
    if (strcmp(s + n, "Z") != 0) {
        fail_msg("bad ISO time in test data: %s", s);
    }
    struct civil c = { y, mo, d, h, mi, sec };
    return civil_to_seconds(&c) * 1000 + ms;
}

/* Formats epoch ms as "YYYY-MM-DDTHH:MM:SSZ" (fire times are whole minutes). */
static void
utc_iso(int64_t ms, char out[64])
{
    struct civil c;
    civil_from_seconds(civil_floor_div(ms, 1000), &c);
    snprintf(out, 64, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)c.year, c.month, c.day, c.hour,
             c.minute, c.second);
}

static void
use_fixture_zones(void)
{
    setenv("TZDIR", fixture_zones, 1);
    tz_cache_clear();
}

static int
setup(void **state)
{
    (void)state;
    use_fixture_zones();
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    tz_cache_clear();
    return 0;
}

static const struct tz_zone *
zone(const char *name)
{
    struct err e = { 0 };
    const struct tz_zone *z = tz_get(name, &e);
    if (z == NULL) {
        fail_msg("zone %s: %s", name, e.msg);
    }
    return z;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* A fresh temporary directory, removed by rm_tree(). */
static char *
temp_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = xasprintf("%s/test-cron-XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void
rm_tree(char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

static void
write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char *path = xasprintf("%s/%s", dir, name);
    char *slash = strrchr(path, '/');
    if (slash > path + strlen(dir)) {
        *slash = '\0';
        mkdir(path, 0700);
        *slash = '/';
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    free(path);
}

static uint8_t *
read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fail_msg("open %s: %s", path, strerror(errno));
    }
    uint8_t *data = xmalloc(TZ_FILE_MAX);
    *len = fread(data, 1, TZ_FILE_MAX, f);
    fclose(f);
    return data;
}

/* ---- A TZif writer for hand-built zones ---- */

struct tzif_spec {
    int version; /* 1 or 2 */
    int ntrans;
    const int64_t *times;
    const uint8_t *idx;
    int ntypes;
    const int32_t *offsets;
    const char *footer; /* v2 only */
    int leapcnt;        /* writes bogus leap records */
};

static void
put32(uint8_t **p, uint32_t v)
{
    (*p)[0] = (uint8_t)(v >> 24), (*p)[1] = (uint8_t)(v >> 16), (*p)[2] = (uint8_t)(v >> 8);
    (*p)[3] = (uint8_t)v;
    *p += 4;
}

static void
put_header(uint8_t **p, int version, uint32_t timecnt, uint32_t typecnt, uint32_t leapcnt)
{
    memcpy(*p, "TZif", 4);
    (*p)[4] = version == 1 ? 0 : (uint8_t)('0' + version);
    memset(*p + 5, 0, 15);
    *p += 20;
    put32(p, 0);       /* isutcnt */
    put32(p, 0);       /* isstdcnt */
    put32(p, leapcnt); /* leapcnt */
    put32(p, timecnt);
    put32(p, typecnt);
    put32(p, 4); /* charcnt: "ABC\0" */
}

static void
put_block(uint8_t **p, const struct tzif_spec *s, int tsize)
{
    for (int i = 0; i < s->ntrans; i++) {
        if (tsize == 8) {
            put32(p, (uint32_t)((uint64_t)s->times[i] >> 32));
        }
        put32(p, (uint32_t)s->times[i]);
    }
    for (int i = 0; i < s->ntrans; i++) {
        *(*p)++ = s->idx[i];
    }
    for (int i = 0; i < s->ntypes; i++) {
        put32(p, (uint32_t)s->offsets[i]);
        *(*p)++ = 0;
        *(*p)++ = 0;
    }
    memcpy(*p, "ABC", 4);
    *p += 4;
    for (int i = 0; i < s->leapcnt; i++) {
        memset(*p, 0, (size_t)tsize + 4);
        *p += tsize + 4;
    }
}

static size_t
tzif_build(const struct tzif_spec *s, uint8_t *buf)
{
    uint8_t *p = buf;
    if (s->version == 1) {
        put_header(&p, 1, (uint32_t)s->ntrans, (uint32_t)s->ntypes, (uint32_t)s->leapcnt);
        put_block(&p, s, 4);
        return (size_t)(p - buf);
    }
    /* A minimal 32-bit block (one type), then the real 64-bit data and the footer. */
    struct tzif_spec v1 = { .ntypes = 1, .offsets = s->offsets };
    put_header(&p, s->version, 0, 1, 0);
    put_block(&p, &v1, 4);
    put_header(&p, s->version, (uint32_t)s->ntrans, (uint32_t)s->ntypes, (uint32_t)s->leapcnt);
    put_block(&p, s, 8);
    p += sprintf((char *)p, "\n%s\n", s->footer != NULL ? s->footer : "");
    return (size_t)(p - buf);
}

static struct tz_zone *
zone_from_footer(const char *footer)
{
    static const int32_t off0[] = { 0 };
    struct tzif_spec s = { .version = 2, .ntypes = 1, .offsets = off0, .footer = footer };
    uint8_t buf[512];
    struct err e = { 0 };
    size_t len = tzif_build(&s, buf);
    struct tz_zone *z = tz_parse_tzif("Test/Footer", buf, len, &e);
    if (z == NULL) {
        fail_msg("footer %s: %s", footer, e.msg);
    }
    return z;
}

/* glibc's reading of a TZ value at an instant: an independent implementation for comparison. */
static long
glibc_offset(const char *tz, int64_t sec)
{
    setenv("TZ", tz, 1);
    tzset();
    time_t t = (time_t)sec;
    struct tm tm;
    localtime_r(&t, &tm);
    return tm.tm_gmtoff;
}

/* ---- civil.c ---- */

static void
test_civil_calendar(void **state)
{
    (void)state;
    /* Round trips over 1.5 million days, against glibc's gmtime_r for the same instants. */
    for (int64_t days = -800000; days < 3000000; days += 7) {
        int64_t sec = days * CIVIL_DAY + (days % 86400 + 86400) % 86400;
        struct civil c;
        civil_from_seconds(sec, &c);
        assert_int_equal(civil_to_seconds(&c), sec);
        assert_int_equal(civil_days_from_date(c.year, c.month, c.day), days);
        if (days % 1001 == 0) {
            time_t t = (time_t)sec;
            struct tm tm;
            gmtime_r(&t, &tm);
            assert_int_equal(c.year, tm.tm_year + 1900);
            assert_int_equal(c.month, tm.tm_mon + 1);
            assert_int_equal(c.day, tm.tm_mday);
            assert_int_equal(c.hour * 3600 + c.minute * 60 + c.second,
                             tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec);
            assert_int_equal(civil_weekday(days), tm.tm_wday);
        }
    }
    assert_int_equal(civil_weekday(0), 4); /* 1970-01-01 was a Thursday */
    assert_int_equal(civil_weekday(-1), 3);
    assert_int_equal(civil_days_in_month(2024, 2), 29);
    assert_int_equal(civil_days_in_month(2100, 2), 28);
    assert_int_equal(civil_days_in_month(2000, 2), 29);
    assert_int_equal(civil_days_from_date(1, 1, 1) * CIVIL_DAY, CIVIL_SEC_MIN);
    assert_int_equal(civil_days_from_date(9999, 12, 31) * CIVIL_DAY + CIVIL_DAY - 1, CIVIL_SEC_MAX);
    assert_int_equal(civil_floor_div(-1, 60), -1);
    assert_int_equal(civil_floor_div(-60, 60), -1);
    assert_int_equal(civil_floor_div(59, 60), 0);
}

/* ---- the golden table ---- */

static void
test_golden_next(void **state)
{
    (void)state;
    const char *fixtures = getenv("BEAT_FIXTURES");
    char *path = xasprintf("%s/../golden/cron-next.tsv", fixtures);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fail_msg("open %s: %s", path, strerror(errno));
    }
    char line[1024];
    int lineno = 0, rows = 0, failures = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        line[strcspn(line, "\n")] = '\0';
        char *col[6] = { 0 };
        char *save = NULL;
        int n = 0;
        for (char *tok = strtok_r(line, "\t", &save); tok != NULL && n < 6;
             tok = strtok_r(NULL, "\t", &save)) {
            col[n++] = tok;
        }
        if (n < 5) {
            fail_msg("%s:%d: expected at least 5 columns", path, lineno);
        }
        rows++;
        struct err e = { 0 };
        struct cron_expr *c = cron_parse(col[0], &e);
        const struct tz_zone *z = tz_get(col[1], &e);
        int64_t next = 0;
        char got_utc[64] = "error", got_local[TZ_ISO_SIZE] = "error";
        if (c != NULL && z != NULL && cron_next(c, z, iso_ms(col[2]), &next, &e) == 0) {
            utc_iso(next, got_utc);
            assert_int_equal(tz_format_iso(z, next, got_local, &e), 0);
        }
        if (strcmp(got_utc, col[3]) != 0 || strcmp(got_local, col[4]) != 0) {
            print_error("%s:%d: \"%s\" in %s after %s: expected %s %s, got %s %s (%s)\n", path,
                        lineno, col[0], col[1], col[2], col[3], col[4], got_utc, got_local,
                        c == NULL || z == NULL || next == 0 ? e.msg : "");
            failures++;
        }
        cron_expr_free(c);
    }
    fclose(f);
    free(path);
    assert_int_equal(failures, 0);
    assert_true(rows >= 70);
}

/* ---- the dialect: accepted and rejected expressions ---- */

static void
test_parse_accept(void **state)
{
    (void)state;
    static const char *const ok[] = {
        /* §12.1 of the v0.6 reference, as far as our dialect accepts it */
        "* * * * *",
        "0 9 * * 1-5",
        "*/5 * * * *",
        "0,15,30,45 * * * *",
        "0-30/10 * * * *",
        "0 9 * * MON-FRI",
        "0 9 * JAN,FEB *",
        "0 0 * * 7",
        "@hourly",
        "@daily",
        "@weekly",
        "@monthly",
        "@yearly",
        "@annually",
        "@midnight",
        /* more */
        "59 23 31 12 6",
        "0 0 1 1 0",
        "  0  0\t* * *  ",
        "0 0 29 2 *",
        "0 0 30,31 2,3 *",
        "0 0 31 * *",
        "0 0 30 2 1",
        "5/15 0/6 1/10 1/3 0/2",
        "*/59 */23 */31 */12 */7",
        "0-59 0-23 1-31 1-12 0-7",
        "0 0 * * SUN,mon,Tue,wED,thu,FRI,sat",
        "0 0 * jan-dec *",
        "0 0 * * 1-FRI",
        "00 09 01 01 *",
        "0 0 1 1,6 MON",
        "@HOURLY",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct err e = { 0 };
        struct cron_expr *c = cron_parse(ok[i], &e);
        if (c == NULL) {
            fail_msg("\"%s\" rejected: %s", ok[i], e.msg);
        }
        cron_expr_free(c);
    }
    struct err e = { 0 };
    struct cron_expr *c = cron_parse("  0  0\t* * *  ", &e);
    assert_string_equal(cron_expr_text(c), "0  0\t* * *");
    cron_expr_free(c);
    cron_expr_free(NULL);
}

static void
test_parse_reject(void **state)
{
    (void)state;
    static const struct {
        const char *text, *msg;
    } bad[] = {
        /* §12.1 of the v0.6 reference, with our rules */
        { "*/15 * * * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found "
                            "6; seconds and year fields are not supported" },
        { "* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 4" },
        { "@reboot",
          "\"@reboot\" is not supported (schedules follow the clock, not daemon starts)" },
        { "0 0 L * *", "field 3 (day-of-month) \"L\": \"L\" (last day) is not supported" },
        { "0 0 * * 5L", "field 5 (day-of-week) \"5L\": \"L\" (last day) is not supported" },
        { "0 0 * * 1#2",
          "field 5 (day-of-week) \"1#2\": \"#\" (nth weekday of the month) is not supported" },
        { "0 0 ? * *", "field 3 (day-of-month) \"?\": \"?\" is not supported (use \"*\")" },
        { "0 0 * * ?", "field 5 (day-of-week) \"?\": \"?\" is not supported (use \"*\")" },
        { "0 0 1W * *", "field 3 (day-of-month) \"1W\": \"W\" (nearest weekday) is not supported" },
        { "0 0 LW * *", "field 3 (day-of-month) \"LW\": \"L\" (last day) is not supported" },
        { "0 0 * * * 2026", "expected 5 fields (minute hour day-of-month month day-of-week), found "
                            "6; seconds and year fields are not supported" },
        { "0 0 0 * * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found "
                           "7; seconds and year fields are not supported" },
        { "H * * * *", "field 1 (minute) \"H\": \"H\" (hashed value) is not supported" },
        { "60 * * * *", "field 1 (minute) \"60\": value out of range 0-59" },
        { "* 24 * * *", "field 2 (hour) \"24\": value out of range 0-23" },
        { "* * 32 * *", "field 3 (day-of-month) \"32\": value out of range 1-31" },
        { "* * * 13 *", "field 4 (month) \"13\": value out of range 1-12" },
        { "* * * * 8", "field 5 (day-of-week) \"8\": value out of range 0-7" },
        { "not-a-cron", "expected 5 fields (minute hour day-of-month month day-of-week), found 1" },
        /* more */
        { "", "expression is empty" },
        { " \t ", "expression is empty" },
        { "* * 0 * *", "field 3 (day-of-month) \"0\": value out of range 1-31" },
        { "* * * 0 *", "field 4 (month) \"0\": value out of range 1-12" },
        { "1,2,99 * * * *", "field 1 (minute) \"1,2,99\": value 99 out of range 0-59" },
        { "99999999999 * * * *", "field 1 (minute) \"99999999999\": value out of range 0-59" },
        { "*/0 * * * *", "field 1 (minute) \"*/0\": step 0 out of range 1-59" },
        { "*/60 * * * *", "field 1 (minute) \"*/60\": step 60 out of range 1-59" },
        { "* */24 * * *", "field 2 (hour) \"*/24\": step 24 out of range 1-23" },
        { "*/ * * * *", "field 1 (minute) \"*/\": step is missing its number" },
        { "*/x * * * *", "field 1 (minute) \"*/x\": unexpected character \"x\"" },
        { "5-1 * * * *", "field 1 (minute) \"5-1\": range 5-1 is reversed (start after end)" },
        { "* * * * FRI-MON", "field 5 (day-of-week) \"FRI-MON\": range 5-1 is reversed (start "
                             "after end)" },
        { "1- * * * *", "field 1 (minute) \"1-\": range is missing its end" },
        { "-1 * * * *", "field 1 (minute) \"-1\": unexpected character \"-\"" },
        { "1,,2 * * * *", "field 1 (minute) \"1,,2\": empty list item" },
        { "1, * * * *", "field 1 (minute) \"1,\": empty list item" },
        { ",1 * * * *", "field 1 (minute) \",1\": empty list item" },
        { "* * * * MONDAY", "field 5 (day-of-week) \"MONDAY\": unknown name \"MONDAY\" (expected "
                            "a number or SUN-SAT)" },
        { "* * * FOO *", "field 4 (month) \"FOO\": unknown name \"FOO\" (expected a number or "
                         "JAN-DEC)" },
        { "MON * * * *", "field 1 (minute) \"MON\": \"MON\" is not a number" },
        { "* * * * 1-5/0", "field 5 (day-of-week) \"1-5/0\": step 0 out of range 1-7" },
        { "*5 * * * *", "field 1 (minute) \"*5\": unexpected character \"5\"" },
        { "1-2-3 * * * *", "field 1 (minute) \"1-2-3\": unexpected character \"-\"" },
        { "* * * * *\n", "field 5 (day-of-week) \"*\\x0a\": unexpected character \"\\x0a\"" },
        { "0 0 30 2 *", "fields 3-4 (day-of-month, month) \"30\" \"2\": no such date in any "
                        "selected month, the schedule would never fire" },
        { "0 0 31 4,6,9,11 */2", "fields 3-4 (day-of-month, month) \"31\" \"4,6,9,11\": no such "
                                 "date in any selected month, the schedule would never fire" },
        { "@daily 1", "alias \"@daily\" takes no fields" },
        { "@every 5m", "alias \"@every\" takes no fields" },
        { "@fortnightly", "unknown alias \"@fortnightly\" (expected @yearly, @annually, @monthly, "
                          "@weekly, @daily, @midnight or @hourly)" },
        { "\xff * * * *", "field 1 (minute) \"\\xff\": unexpected character \"\\xff\"" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct err e = { 0 };
        struct cron_expr *c = cron_parse(bad[i].text, &e);
        if (c != NULL) {
            fail_msg("\"%s\" accepted", bad[i].text);
        }
        assert_int_equal(e.code, ERR_INVALID);
        if (strcmp(e.msg, bad[i].msg) != 0) {
            fail_msg("\"%s\":\n  expected: %s\n  got:      %s", bad[i].text, bad[i].msg, e.msg);
        }
    }
    struct err e = { 0 };
    assert_null(cron_parse(NULL, &e));
    assert_string_equal(e.msg, "expression is empty");
    /* The caller adds the argument name. */
    assert_null(cron_parse("* 24 * * *", &e));
    err_wrap(&e, "cronExpression");
    assert_string_equal(e.msg, "cronExpression: field 2 (hour) \"24\": value out of range 0-23");
}

static void
test_parse_bounds(void **state)
{
    (void)state;
    struct err e = { 0 };
    char text[CRON_TEXT_MAX + 2];
    /* Exactly CRON_TEXT_MAX bytes is fine (blank padding), one more is not. */
    memset(text, ' ', sizeof text);
    memcpy(text, "* * * * *", 9);
    text[CRON_TEXT_MAX] = '\0';
    struct cron_expr *c = cron_parse(text, &e);
    assert_non_null(c);
    cron_expr_free(c);
    text[CRON_TEXT_MAX] = ' ';
    text[CRON_TEXT_MAX + 1] = '\0';
    assert_null(cron_parse(text, &e));
    assert_string_equal(e.msg, "expression is longer than 256 bytes");

    /* CRON_LIST_MAX items are fine, one more is not. */
    char list[CRON_TEXT_MAX];
    size_t n = 0;
    for (int i = 0; i < CRON_LIST_MAX; i++) {
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%d", i ? "," : "", i % 24);
    }
    char *expr = xasprintf("0 %s * * *", list);
    c = cron_parse(expr, &e);
    assert_non_null(c);
    cron_expr_free(c);
    free(expr);
    expr = xasprintf("0 %s,1 * * *", list);
    assert_null(cron_parse(expr, &e));
    assert_non_null(strstr(e.msg, "more than 64 list items"));
    free(expr);

    /* A long field is cut in the message, which stays well inside struct err. */
    memcpy(text, "* * * * ", 8);
    memset(text + 8, '9', CRON_TEXT_MAX - 8);
    text[CRON_TEXT_MAX] = '\0';
    assert_null(cron_parse(text, &e));
    assert_true(strlen(e.msg) < 200);
    assert_non_null(strstr(e.msg, "...\""));
}

/* ---- next fire: behaviour outside the golden table ---- */

static void
test_next_n_preview(void **state)
{
    (void)state;
    struct err e = { 0 };
    struct cron_expr *c = cron_parse("*/30 * * * *", &e);
    const struct tz_zone *ny = zone("America/New_York");
    int64_t out[6];
    assert_int_equal(cron_next_n(c, ny, iso_ms("2026-11-01T04:10:00Z"), out, 6, &e), 0);
    static const char *const want[] = {
        "2026-11-01T00:30:00-04:00", "2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00",
        "2026-11-01T02:00:00-05:00", "2026-11-01T02:30:00-05:00", "2026-11-01T03:00:00-05:00",
    };
    for (int i = 0; i < 6; i++) {
        char buf[TZ_ISO_SIZE];
        assert_int_equal(tz_format_iso(ny, out[i], buf, &e), 0);
        assert_string_equal(buf, want[i]);
    }
    assert_int_equal(cron_next_n(c, ny, 0, out, 0, &e), -1);
    assert_string_equal(e.msg, "count 0 out of range 1-1000");
    int64_t *many = xmalloc(CRON_NEXT_N_MAX * sizeof *many);
    assert_int_equal(cron_next_n(c, ny, 0, many, CRON_NEXT_N_MAX, &e), 0);
    for (int i = 1; i < CRON_NEXT_N_MAX; i++) {
        assert_true(many[i] > many[i - 1]);
    }
    assert_int_equal(cron_next_n(c, ny, 0, many, CRON_NEXT_N_MAX + 1, &e), -1);
    free(many);
    cron_expr_free(c);
}

static void
test_next_limits(void **state)
{
    (void)state;
    struct err e = { 0 };
    const struct tz_zone *utc = zone("UTC");
    struct cron_expr *c = cron_parse("0 0 1 1 *", &e);
    int64_t next = 0;
    /* Year 9999 is the end of the calendar. */
    assert_int_equal(cron_next(c, utc, iso_ms("9999-06-01T00:00:00Z"), &next, &e), -1);
    assert_string_equal(e.msg, "\"0 0 1 1 *\" does not fire within 30 years");
    assert_int_equal(cron_next(c, utc, CIVIL_SEC_MAX * 1000 + 1000, &next, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    assert_non_null(strstr(e.msg, "outside years 1-9999"));
    assert_int_equal(cron_next(c, utc, CIVIL_SEC_MIN * 1000 - 1, &next, &e), -1);
    assert_int_equal(cron_next(c, utc, INT64_MIN, &next, &e), -1);
    assert_int_equal(cron_next(c, utc, INT64_MAX, &next, &e), -1);
    assert_int_equal(cron_next(c, utc, CIVIL_SEC_MIN * 1000, &next, &e), 0);
    assert_int_equal(next, iso_ms("0002-01-01T00:00:00Z"));
    cron_expr_free(c);

    /* 29 February on a Sunday only (AND: day-of-week starts with '*'): 28 years apart, so found
     * inside the horizon from 2005 but not from 2033 onwards beyond 2060. */
    c = cron_parse("0 0 29 2 */7", &e);
    assert_int_equal(cron_next(c, utc, iso_ms("2005-01-01T00:00:00Z"), &next, &e), 0);
    assert_int_equal(next, iso_ms("2032-02-29T00:00:00Z"));
    cron_expr_free(c);

    /* Every minute of 2026 in Lord Howe: each UTC minute fires once, except the 30 minutes of
     * the second pass through 01:30-01:59 on 5 April, and the wall clock never goes back. */
    c = cron_parse("* * * * *", &e);
    const struct tz_zone *lh = zone("Australia/Lord_Howe");
    int64_t t = iso_ms("2026-01-01T00:00:30Z"), end = iso_ms("2027-01-01T00:00:00Z");
    int64_t prev_local = INT64_MIN;
    int fires = 0;
    for (;;) {
        assert_int_equal(cron_next(c, lh, t, &next, &e), 0);
        if (next >= end) {
            break;
        }
        assert_true(next > t && next - t <= 31 * MIN_MS);
        int off = 0;
        assert_int_equal(tz_local_offset(lh, next, &off, &e), 0);
        int64_t local = next + off * INT64_C(1000);
        assert_true(local > prev_local);
        prev_local = local;
        t = next;
        fires++;
    }
    assert_int_equal(fires, 365 * 24 * 60 - 1 - 30);
    cron_expr_free(c);
}

/* ---- time zones ---- */

static void
test_tz_builtin_utc(void **state)
{
    (void)state;
    char *dir = temp_dir(); /* an empty database */
    setenv("TZDIR", dir, 1);
    tz_cache_clear();
    struct err e = { 0 };
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "Etc/UTC" : "UTC";
        struct tz_zone *z = tz_load(name, &e);
        assert_non_null(z);
        assert_string_equal(tz_name(z), name);
        int off = -1;
        assert_int_equal(tz_local_offset(z, iso_ms("2026-07-01T00:00:00Z"), &off, &e), 0);
        assert_int_equal(off, 0);
        tz_free(z);
    }
    assert_null(tz_load("America/New_York", &e));
    assert_string_equal(e.msg, "unknown IANA time zone \"America/New_York\"");
    tz_free(NULL);
    rm_tree(dir);
    use_fixture_zones();
}

static void
test_tz_names(void **state)
{
    (void)state;
    static const struct {
        const char *name, *msg;
    } bad[] = {
        { "Mars/Base", "unknown IANA time zone \"Mars/Base\"" },
        { "America", "unknown IANA time zone \"America\"" }, /* a directory */
        { "", "time zone name is empty" },
        { "/etc/passwd", "invalid IANA time zone name \"/etc/passwd\": must not start with \"/\"" },
        { "../../etc/passwd",
          "invalid IANA time zone name \"../../etc/passwd\": must not contain \"..\"" },
        { "America/../UTC", "invalid IANA time zone name \"America/../UTC\": must not contain "
                            "\"..\"" },
        { "America/New York", "invalid IANA time zone name \"America/New York\": character \" \" "
                              "not allowed (only A-Z a-z 0-9 / _ + -)" },
        { "Europe/Zürich", "invalid IANA time zone name \"Europe/Z\\xc3\\xbcrich\": character "
                           "\"\\xc3\" not allowed (only A-Z a-z 0-9 / _ + -)" },
        { "UTC\n", "invalid IANA time zone name \"UTC\\x0a\": character \"\\x0a\" not allowed "
                   "(only A-Z a-z 0-9 / _ + -)" },
        { ".hidden", "invalid IANA time zone name \".hidden\": character \".\" not allowed (only "
                     "A-Z a-z 0-9 / _ + -)" },
        { "America//New_York", "invalid IANA time zone name \"America//New_York\": empty path "
                               "component" },
        { "America/", "invalid IANA time zone name \"America/\": empty path component" },
        { "utc/x", "unknown IANA time zone \"utc/x\"" },
        { "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
          "invalid IANA time zone name "
          "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\": longer than 64 "
          "bytes" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct err e = { 0 };
        assert_null(tz_get(bad[i].name, &e));
        assert_int_equal(e.code, ERR_INVALID);
        if (strcmp(e.msg, bad[i].msg) != 0) {
            fail_msg("\"%s\":\n  expected: %s\n  got:      %s", bad[i].name, bad[i].msg, e.msg);
        }
    }
    struct err e = { 0 };
    /* UTC in any case, as the old tool took it; no other name is folded. */
    assert_non_null(tz_get("utc", &e));
    assert_non_null(tz_get("Utc", &e));
    assert_null(tz_get("america/new_york", &e));
    assert_null(tz_get(NULL, &e));
    assert_null(tz_load(NULL, &e));
    assert_null(tz_get("Mars/Base", &e));
    err_wrap(&e, "timezone");
    assert_string_equal(e.msg, "timezone: unknown IANA time zone \"Mars/Base\"");
}

static void
test_tz_bad_files(void **state)
{
    (void)state;
    char *dir = temp_dir();
    size_t len = 0;
    char *ny_path = xasprintf("%s/America/New_York", fixture_zones);
    uint8_t *ny = read_file(ny_path, &len);
    free(ny_path);
    write_file(dir, "Bad/NotTzif", "# zone.tab\n", 11);
    write_file(dir, "Bad/Empty", "", 0);
    uint8_t *big = xcalloc(1, TZ_FILE_MAX + 1);
    memcpy(big, ny, len);
    write_file(dir, "Bad/Big", big, TZ_FILE_MAX + 1);
    free(big);
    char *fifo = xasprintf("%s/Bad/Fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    free(fifo);
    setenv("TZDIR", dir, 1);
    tz_cache_clear();

    struct err e = { 0 };
    assert_null(tz_get("Bad/NotTzif", &e));
    assert_string_equal(e.msg, "unknown IANA time zone \"Bad/NotTzif\"");
    assert_null(tz_get("Bad/Empty", &e));
    assert_string_equal(e.msg, "unknown IANA time zone \"Bad/Empty\"");
    assert_null(tz_get("Bad/Fifo", &e));
    assert_string_equal(e.msg, "unknown IANA time zone \"Bad/Fifo\"");
    assert_null(tz_get("Bad/Big", &e));
    assert_non_null(strstr(e.msg, "is larger than 262144 bytes"));

    /* Every truncation of a real file is refused cleanly; the whole file loads. */
    for (size_t n = 0; n < len; n++) {
        struct tz_zone *z = tz_parse_tzif("Cut", ny, n, &e);
        if (z != NULL) {
            fail_msg("a TZif file cut to %zu of %zu bytes was accepted", n, len);
        }
        assert_int_equal(e.code, ERR_INVALID);
        assert_non_null(strstr(e.msg, "time zone \"Cut\": invalid TZif data: "));
    }
    struct tz_zone *z = tz_parse_tzif("Whole", ny, len, &e);
    assert_non_null(z);
    tz_free(z);

    /* Flipping single bytes never crashes (the results may or may not load). */
    for (size_t i = 0; i < len; i++) {
        uint8_t saved = ny[i];
        ny[i] ^= 0xa5;
        tz_free(tz_parse_tzif("Flip", ny, len, &e));
        ny[i] = saved;
    }
    free(ny);
    rm_tree(dir);
    use_fixture_zones();
}

static void
test_tz_handmade(void **state)
{
    (void)state;
    uint8_t buf[1024];
    struct err e = { 0 };
    static const int64_t times[] = { 1000000000, 1100000000 };
    static const uint8_t idx[] = { 1, 0 };
    static const int32_t offs[] = { 3600, 7200 };

    /* Version 1 files (32-bit times, no footer) still load. */
    struct tzif_spec s = {
        .version = 1, .ntrans = 2, .times = times, .idx = idx, .ntypes = 2, .offsets = offs
    };
    struct tz_zone *z = tz_parse_tzif("Test/V1", buf, tzif_build(&s, buf), &e);
    assert_non_null(z);
    assert_int_equal(tz_offset_at(z, 999999999), 3600); /* before the first: type 0 */
    assert_int_equal(tz_offset_at(z, 1000000000), 7200);
    assert_int_equal(tz_offset_at(z, 1099999999), 7200);
    assert_int_equal(tz_offset_at(z, 1100000000), 3600);
    assert_int_equal(tz_offset_at(z, INT64_C(4000000000)), 3600);
    struct tz_span sp;
    tz_span(z, 1050000000, &sp);
    assert_int_equal(sp.start, 1000000000);
    assert_int_equal(sp.end, 1100000000);
    assert_int_equal(sp.offset, 7200);
    assert_int_equal(sp.prev_offset, 3600);
    tz_span(z, 0, &sp);
    assert_int_equal(sp.start, TZ_TIME_MIN);
    assert_int_equal(sp.end, 1000000000);
    tz_span(z, 2000000000, &sp);
    assert_int_equal(sp.start, 1100000000);
    assert_int_equal(sp.end, TZ_TIME_MAX);
    tz_free(z);

    /* Version 2 with an empty footer: the last type holds forever. */
    s.version = 2;
    s.footer = "";
    z = tz_parse_tzif("Test/V2", buf, tzif_build(&s, buf), &e);
    assert_non_null(z);
    assert_int_equal(tz_offset_at(z, INT64_C(40000000000)), 3600);
    tz_free(z);

    /* Refusals. */
    const struct {
        const char *why;
        struct tzif_spec spec;
    } bad[] = {
        { .why = "leap-second zones (right/...) are not supported",
          .spec = { .version = 2, .ntypes = 1, .offsets = offs, .footer = "", .leapcnt = 1 } },
        { .why = "transitions out of order",
          .spec = { .version = 2,
                    .ntrans = 2,
                    .times = (const int64_t[]){ 5, 5 },
                    .idx = idx,
                    .ntypes = 2,
                    .offsets = offs,
                    .footer = "" } },
        { .why = "bad type index",
          .spec = { .version = 2,
                    .ntrans = 1,
                    .times = times,
                    .idx = (const uint8_t[]){ 2 },
                    .ntypes = 2,
                    .offsets = offs,
                    .footer = "" } },
        { .why = "UT offset out of range",
          .spec = { .version = 2,
                    .ntypes = 1,
                    .offsets = (const int32_t[]){ 100000 },
                    .footer = "" } },
        { .why = "transition time out of range",
          .spec = { .version = 2,
                    .ntrans = 1,
                    .times = (const int64_t[]){ INT64_MIN },
                    .idx = idx,
                    .ntypes = 2,
                    .offsets = offs,
                    .footer = "" } },
        { .why = "unsupported TZ footer",
          .spec = { .version = 2, .ntypes = 1, .offsets = offs, .footer = "EST" } },
        { .why = "unsupported TZ footer",
          .spec = { .version = 2,
                    .ntypes = 1,
                    .offsets = offs,
                    .footer = "EST5EDT,M13.1.0,M11.1.0" } },
        { .why = "unsupported TZ footer",
          .spec = { .version = 2, .ntypes = 1, .offsets = offs, .footer = "EST5EDT,M3.2.0" } },
        { .why = "unsupported TZ footer",
          .spec = { .version = 2, .ntypes = 1, .offsets = offs, .footer = "<AB>5" } },
        { .why = "unsupported TZ footer",
          .spec = { .version = 2, .ntypes = 1, .offsets = offs, .footer = "EST5EDT,J0,J365" } },
        { .why = "unsupported TZ footer",
          .spec = { .version = 2,
                    .ntypes = 1,
                    .offsets = offs,
                    .footer = "EST5EDT,M3.2.0/168,M11.1.0" } },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = tzif_build(&bad[i].spec, buf);
        z = tz_parse_tzif("Test/Bad", buf, n, &e);
        if (z != NULL) {
            fail_msg("case %zu (%s) was accepted", i, bad[i].why);
        }
        char *want = xasprintf("time zone \"Test/Bad\": invalid TZif data: %s", bad[i].why);
        if (strcmp(e.msg, want) != 0) {
            fail_msg("case %zu:\n  expected: %s\n  got:      %s", i, want, e.msg);
        }
        free(want);
    }
    buf[4] = '1';
    assert_null(tz_parse_tzif("Test/Bad", buf, 60, &e));
    assert_string_equal(e.msg, "time zone \"Test/Bad\": invalid TZif data: unknown version");
}

/* The footer rules agree with glibc's own POSIX TZ implementation at a few thousand instants
 * between 1970 and 2100, transitions included. */
static void
test_tz_footer_vs_glibc(void **state)
{
    (void)state;
    static const char *const footers[] = {
        "EST5EDT,M3.2.0,M11.1.0",
        "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
        "<+0545>-5:45",
        "<+13>-13",
        "AEST-10AEDT,M10.1.0,M4.1.0/3",
        "GMT0BST,M3.5.0/1,M10.5.0",
        "CET-1CEST,M3.5.0,M10.5.0/3",
        "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", /* negative rule times (America/Nuuk) */
        "IST-2IDT,M3.4.4/26,M10.5.0",       /* past 24 h (Asia/Jerusalem) */
        "EST5EDT",                          /* no rule: the US default */
        "AAA3BBB,J60/2,J300/2",
        "AAA3BBB,59/2,299/2",
        "AAA-3BBB-4:30:15,J2/0,J364/23",
        "XXX-14YYY-15,M9.5.0/3,M4.1.0/4",
    };
    const char *saved_tz = getenv("TZ");
    char *saved = saved_tz != NULL ? xstrdup(saved_tz) : NULL;
    for (size_t f = 0; f < sizeof footers / sizeof footers[0]; f++) {
        struct tz_zone *z = zone_from_footer(footers[f]);
        uint64_t seed = 12345 + f;
        for (int i = 0; i < 4000; i++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            int64_t t = (int64_t)((seed >> 16) % INT64_C(4102444800)); /* 1970..2100 */
            for (int64_t d = -1; d <= 1; d++) {
                long want = glibc_offset(footers[f], t + d);
                if (tz_offset_at(z, t + d) != want) {
                    fail_msg("%s at %lld: glibc %ld, ours %d", footers[f], (long long)(t + d), want,
                             tz_offset_at(z, t + d));
                }
            }
        }
        /* Walk every span from 1971 to 2099: each ends where the offset changes. */
        struct tz_span sp;
        int64_t t = 31536000;
        int spans = 0;
        while (t < INT64_C(4070908800)) {
            tz_span(z, t, &sp);
            assert_true(sp.start <= t && t < sp.end);
            assert_int_equal(sp.offset, tz_offset_at(z, t));
            if (sp.start != TZ_TIME_MIN) {
                assert_int_equal(sp.prev_offset, tz_offset_at(z, sp.start - 1));
                assert_int_not_equal(sp.prev_offset, sp.offset);
                assert_int_equal(glibc_offset(footers[f], sp.start), sp.offset);
                assert_int_equal(glibc_offset(footers[f], sp.start - 1), sp.prev_offset);
            }
            if (sp.end == TZ_TIME_MAX) {
                break;
            }
            assert_int_equal(tz_offset_at(z, sp.end - 1), sp.offset);
            assert_int_not_equal(tz_offset_at(z, sp.end), sp.offset);
            t = sp.end;
            spans++;
        }
        tz_free(z);
    }
    if (saved != NULL) {
        setenv("TZ", saved, 1);
    } else {
        unsetenv("TZ");
    }
    free(saved);
    tzset();

    /* Daylight time all year (RFC 8536's example; glibc 2.36 gets it wrong, so no comparison):
     * the end transition and the next start coincide, so the offset never changes. */
    struct tz_zone *z = zone_from_footer("EST5EDT,0/0,J365/25");
    for (int64_t t = 0; t < INT64_C(4102444800); t += 86400 * 7 + 3599) {
        assert_int_equal(tz_offset_at(z, t), -4 * 3600);
    }
    struct tz_span sp;
    tz_span(z, iso_ms("2026-01-01T04:00:00Z") / 1000, &sp);
    assert_int_equal(sp.start, TZ_TIME_MIN);
    assert_int_equal(sp.end, TZ_TIME_MAX);
    assert_int_equal(sp.offset, -4 * 3600);
    tz_free(z);
}

/* The fixture zones read the same through glibc's TZif reader, and the fat New York file's
 * table agrees with the slim file's footer. */
static void
test_tz_fixtures_vs_glibc(void **state)
{
    (void)state;
    static const char *const names[] = { "America/New_York", "Australia/Lord_Howe",
                                         "Asia/Kathmandu", "Pacific/Apia",
                                         "Fixture/New_York_Slim" };
    const char *saved_tz = getenv("TZ");
    char *saved = saved_tz != NULL ? xstrdup(saved_tz) : NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const struct tz_zone *z = zone(names[i]);
        char *tz = xasprintf("%s/%s", fixture_zones, names[i]);
        for (int64_t t = 0; t < INT64_C(2524608000); t += 3 * 3600 + 17) { /* 1970..2050 */
            long want = glibc_offset(tz, t);
            if (tz_offset_at(z, t) != want) {
                fail_msg("%s at %lld: glibc %ld, ours %d", names[i], (long long)t, want,
                         tz_offset_at(z, t));
            }
        }
        free(tz);
    }
    const struct tz_zone *fat = zone("America/New_York");
    const struct tz_zone *slim = zone("Fixture/New_York_Slim");
    /* (Before its first transition the slim file says EDT: zic -b slim leaves out what the
     * fixture's rules never defined.) */
    for (int64_t t = iso_ms("2007-03-11T07:00:00Z") / 1000; t < INT64_C(2500000000); t += 1800) {
        assert_int_equal(tz_offset_at(fat, t), tz_offset_at(slim, t));
    }
    if (saved != NULL) {
        setenv("TZ", saved, 1);
    } else {
        unsetenv("TZ");
    }
    free(saved);
    tzset();
}

static void
test_tz_format_and_offset(void **state)
{
    (void)state;
    struct err e = { 0 };
    char buf[TZ_ISO_SIZE];
    const struct tz_zone *ktm = zone("Asia/Kathmandu");
    int off = 0;
    assert_int_equal(tz_local_offset(ktm, iso_ms("2026-03-20T00:00:00Z"), &off, &e), 0);
    assert_int_equal(off, 5 * 3600 + 45 * 60);
    assert_int_equal(tz_format_iso(ktm, iso_ms("2026-03-20T03:15:00.042Z"), buf, &e), 0);
    assert_string_equal(buf, "2026-03-20T09:00:00.042+05:45");
    const struct tz_zone *ny = zone("America/New_York");
    assert_int_equal(tz_format_iso(ny, iso_ms("2026-01-01T04:59:59Z"), buf, &e), 0);
    assert_string_equal(buf, "2025-12-31T23:59:59-05:00");
    assert_int_equal(tz_format_iso(ny, -1, buf, &e), 0);
    assert_string_equal(buf, "1969-12-31T18:59:59.999-05:00");
    assert_string_equal(tz_name(ny), "America/New_York");
    assert_int_equal(tz_format_iso(ny, INT64_MAX, buf, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    assert_int_equal(tz_local_offset(ny, INT64_MIN, &off, &e), -1);
    assert_int_equal(tz_format_iso(ny, CIVIL_SEC_MAX * 1000 + 999, buf, &e), 0);
    assert_string_equal(buf, "9999-12-31T18:59:59.999-05:00");

    /* An offset with seconds (local mean time) prints them. */
    struct tz_zone *lmt = zone_from_footer("<+054116>-5:41:16");
    assert_int_equal(tz_format_iso(lmt, 0, buf, &e), 0);
    assert_string_equal(buf, "1970-01-01T05:41:16+05:41:16");
    tz_free(lmt);
    struct tz_zone *west = zone_from_footer("<-0930>9:30");
    assert_int_equal(tz_format_iso(west, 0, buf, &e), 0);
    assert_string_equal(buf, "1969-12-31T14:30:00-09:30");
    tz_free(west);
}

static void
test_tz_cache(void **state)
{
    (void)state;
    struct err e = { 0 };
    const struct tz_zone *a = tz_get("America/New_York", &e);
    const struct tz_zone *b = tz_get("America/New_York", &e);
    const struct tz_zone *c = tz_get("Asia/Kathmandu", &e);
    const struct tz_zone *u = tz_get("UTC", &e);
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, c);
    assert_ptr_equal(c, tz_get("Asia/Kathmandu", &e));
    assert_ptr_equal(u, tz_get("UTC", &e));
    assert_ptr_equal(a, tz_get("America/New_York", &e));
    assert_null(tz_get("Mars/Base", &e));
    tz_cache_clear();
    a = tz_get("America/New_York", &e);
    assert_non_null(a);
}

/* ---- brute force ---- */

/* A field choice: its text and the values it stands for (up to two ranges). */
struct choice {
    const char *text;
    int lo1, hi1, step1, lo2, hi2, step2;
};

static const struct choice minutes[] = {
    { "*", 0, 59, 1, -1, 0, 0 },          { "*/7", 0, 59, 7, -1, 0, 0 },
    { "0", 0, 0, 1, -1, 0, 0 },           { "30", 30, 30, 1, -1, 0, 0 },
    { "0,30", 0, 0, 1, 30, 30, 1 },       { "15-45/15", 15, 45, 15, -1, 0, 0 },
    { "59", 59, 59, 1, -1, 0, 0 },        { "5/20", 5, 59, 20, -1, 0, 0 },
    { "10,40-45", 10, 10, 1, 40, 45, 1 }, { "20,40", 20, 20, 1, 40, 40, 1 },
};
static const struct choice hours[] = {
    { "*", 0, 23, 1, -1, 0, 0 },   { "2", 2, 2, 1, -1, 0, 0 },     { "1-3", 1, 3, 1, -1, 0, 0 },
    { "*/5", 0, 23, 5, -1, 0, 0 }, { "0,23", 0, 0, 1, 23, 23, 1 }, { "1,2", 1, 2, 1, -1, 0, 0 },
    { "12", 12, 12, 1, -1, 0, 0 },
};
static const struct choice doms[] = {
    { "*", 1, 31, 1, -1, 0, 0 },      { "*", 1, 31, 1, -1, 0, 0 },
    { "1", 1, 1, 1, -1, 0, 0 },       { "13", 13, 13, 1, -1, 0, 0 },
    { "29-31", 29, 31, 1, -1, 0, 0 }, { "*/10", 1, 31, 10, -1, 0, 0 },
    { "1-7,30", 1, 7, 1, 30, 30, 1 },
};
static const struct choice months[] = {
    { "*", 1, 12, 1, -1, 0, 0 },
    { "*", 1, 12, 1, -1, 0, 0 },
    { "3-4,10-12", 3, 4, 1, 10, 12, 1 },
    { "*/2", 1, 12, 2, -1, 0, 0 },
};
static const struct choice dows[] = {
    { "*", 0, 7, 1, -1, 0, 0 },     { "*", 0, 7, 1, -1, 0, 0 },   { "0", 0, 0, 1, -1, 0, 0 },
    { "5", 5, 5, 1, -1, 0, 0 },     { "1-5", 1, 5, 1, -1, 0, 0 }, { "*/3", 0, 7, 3, -1, 0, 0 },
    { "SAT,7", 6, 7, 1, -1, 0, 0 },
};

static uint64_t
choice_bits(const struct choice *c)
{
    uint64_t bits = 0;
    for (int v = c->lo1; v <= c->hi1; v += c->step1) {
        bits |= UINT64_C(1) << v;
    }
    for (int v = c->lo2; c->lo2 >= 0 && v <= c->hi2; v += c->step2) {
        bits |= UINT64_C(1) << v;
    }
    return bits;
}

struct brute {
    uint64_t bits[5];
    bool dom_star, dow_star;
};

static bool
brute_matches(const struct brute *b, int64_t wall)
{
    struct civil c;
    civil_from_seconds(wall, &c);
    int wd = civil_weekday(civil_floor_div(wall, CIVIL_DAY));
    bool dom = b->bits[2] >> c.day & 1;
    bool dow = (b->bits[4] >> wd & 1) || (wd == 0 && (b->bits[4] >> 7 & 1));
    bool day = (b->dom_star || b->dow_star) ? dom && dow : dom || dow;
    return (b->bits[0] >> c.minute & 1) && (b->bits[1] >> c.hour & 1) &&
           (b->bits[3] >> c.month & 1) && day;
}

/* The instant a wall time fires at, found without tz_span(): the earliest instant showing that
 * wall time, or for a wall time nobody saw, the wall time read with the offset before the jump.
 * Assumes at most one transition within 30 hours, as in the fixtures. */
static int64_t
brute_resolve(const struct tz_zone *z, int64_t w)
{
    int32_t o1 = tz_offset_at(z, w - 30 * 3600), o2 = tz_offset_at(z, w + 30 * 3600);
    bool v1 = tz_offset_at(z, w - o1) == o1, v2 = tz_offset_at(z, w - o2) == o2;
    if (v1 && v2) {
        return w - o1 < w - o2 ? w - o1 : w - o2;
    }
    if (v1 || v2) {
        return v1 ? w - o1 : w - o2;
    }
    /* A gap: find the jump by bisection (wall time is increasing around a forward jump). */
    int64_t lo = w - 30 * 3600, hi = w + 30 * 3600; /* lo + off(lo) <= w < hi + off(hi) */
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (mid + tz_offset_at(z, mid) <= w) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return w - tz_offset_at(z, hi - 1);
}

static void
test_brute_force(void **state)
{
    (void)state;
    static const struct {
        const char *zone, *around;
    } spots[] = {
        { "America/New_York", "2026-03-08T07:00:00Z" },
        { "America/New_York", "2026-11-01T06:00:00Z" },
        { "America/New_York", "2041-03-10T07:00:00Z" },
        { "Australia/Lord_Howe", "2026-10-03T15:30:00Z" },
        { "Australia/Lord_Howe", "2026-04-04T15:00:00Z" },
        { "Asia/Kathmandu", "1985-12-31T18:30:00Z" },
        { "Pacific/Apia", "2011-12-30T10:00:00Z" },
        { "Pacific/Apia", "2011-09-24T14:00:00Z" },
        { "Fixture/New_York_Slim", "2030-11-03T06:00:00Z" },
        { "UTC", "2028-02-28T12:00:00Z" },
    };
    uint64_t seed = 42;
    int compared = 0;
    for (int i = 0; i < 6000; i++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        uint64_t r = seed >> 11;
        /* Mixed-radix digits of r pick one choice per field, then a spot. */
        const struct choice *ch[5];
        uint64_t digits = r;
        ch[0] = &minutes[digits % ARRAY_LEN(minutes)], digits /= ARRAY_LEN(minutes);
        ch[1] = &hours[digits % ARRAY_LEN(hours)], digits /= ARRAY_LEN(hours);
        ch[2] = &doms[digits % ARRAY_LEN(doms)], digits /= ARRAY_LEN(doms);
        ch[3] = &months[digits % ARRAY_LEN(months)], digits /= ARRAY_LEN(months);
        ch[4] = &dows[digits % ARRAY_LEN(dows)], digits /= ARRAY_LEN(dows);
        char *text = xasprintf("%s %s %s %s %s", ch[0]->text, ch[1]->text, ch[2]->text, ch[3]->text,
                               ch[4]->text);
        struct brute b = { .dom_star = ch[2]->text[0] == '*', .dow_star = ch[4]->text[0] == '*' };
        for (int f = 0; f < 5; f++) {
            b.bits[f] = choice_bits(ch[f]);
        }
        struct err e = { 0 };
        struct cron_expr *c = cron_parse(text, &e);
        if (c == NULL) {
            fail_msg("%s: %s", text, e.msg);
        }
        size_t s = digits % ARRAY_LEN(spots);
        const struct tz_zone *z = zone(spots[s].zone);
        int64_t now = iso_ms(spots[s].around) + (int64_t)((seed >> 40) % (4 * DAY_MS)) - 2 * DAY_MS;
        if (i % 3 == 0) {
            now -= now % MIN_MS; /* on a whole minute, often on a match */
        }
        int64_t next = 0;
        assert_int_equal(cron_next(c, z, now, &next, &e), 0);

        /* Every wall minute that could map into (now, now + 36 h]. */
        int64_t now_s = civil_floor_div(now, 1000);
        int64_t best = INT64_MAX;
        for (int64_t w = (now_s / 60 - 26 * 60) * 60; w < now_s + 62 * 3600; w += 60) {
            if (brute_matches(&b, w)) {
                int64_t inst = brute_resolve(z, w) * 1000;
                if (inst > now && inst < best) {
                    best = inst;
                }
            }
        }
        if (best <= now + 36 * HOUR_MS) {
            if (next != best) {
                char a[64], bb[64], n[64];
                utc_iso(now, n), utc_iso(best, a), utc_iso(next, bb);
                fail_msg("\"%s\" in %s after %s: brute force %s, cron_next %s", text, spots[s].zone,
                         n, a, bb);
            }
            compared++;
        } else {
            assert_true(next > now + 36 * HOUR_MS);
        }
        cron_expr_free(c);
        free(text);
    }
    assert_true(compared > 2000);
}

int
main(void)
{
    const char *fixtures = getenv("BEAT_FIXTURES");
    if (fixtures == NULL || fixtures[0] == '\0') {
        fprintf(stderr, "test-cron: BEAT_FIXTURES is not set (ctest sets it)\n");
        return 1;
    }
    snprintf(fixture_zones, sizeof fixture_zones, "%s/zones/compiled", fixtures);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_civil_calendar),
        cmocka_unit_test_setup_teardown(test_golden_next, setup, teardown),
        cmocka_unit_test(test_parse_accept),
        cmocka_unit_test(test_parse_reject),
        cmocka_unit_test(test_parse_bounds),
        cmocka_unit_test_setup_teardown(test_next_n_preview, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tz_builtin_utc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tz_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tz_bad_files, setup, teardown),
        cmocka_unit_test(test_tz_handmade),
        cmocka_unit_test(test_tz_footer_vs_glibc),
        cmocka_unit_test_setup_teardown(test_tz_fixtures_vs_glibc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tz_format_and_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tz_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_brute_force, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
