/* Cron expressions: parses the 5-field Vixie dialect (names, ranges, steps, lists, @aliases)
 * into bit sets, and computes the next fire time in a time zone by jumping from field to field
 * rather than stepping through minutes. It never reads the clock and knows zones only through
 * tz_span(); storing, arming timers and missed-fire policies belong to the layers above.
 */
#include "cron/cron.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"

#define CRON_FIELDS   5
#define CRON_HOPS_MAX 10000 /* zone transitions crossed in one cron_next() before giving up */

struct cron_expr {
    uint64_t minutes; /* bits 0-59 */
    uint64_t hours;   /* bits 0-23 */
    uint64_t doms;    /* bits 1-31 */
    uint64_t months;  /* bits 1-12 */
    uint64_t dows;    /* bits 0-6, Sunday = 0 (7 is folded into 0) */
    /* Vixie's rule: a day field is "restricted" unless its text starts with '*'. When both are
     * restricted a day matches if either matches, otherwise both must. */
    bool dom_star, dow_star;
    /* dow_days[w]: the days 1-31 of a month starting on weekday w that match dows. */
    uint64_t dow_days[7];
    char text[CRON_TEXT_MAX + 1];
};

struct cron_field_def {
    const char *name;
    int lo, hi;               /* accepted values */
    const char *const *names; /* three-letter names for values names_base.., or NULL */
    int names_base;
    const char *names_hint; /* "JAN-DEC" */
};

static const char *const cron_month_names[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL",
                                                "AUG", "SEP", "OCT", "NOV", "DEC", NULL };
static const char *const cron_dow_names[] = {
    "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL
};

static const struct cron_field_def cron_fields[CRON_FIELDS] = {
    { "minute", 0, 59, NULL, 0, NULL },
    { "hour", 0, 23, NULL, 0, NULL },
    { "day-of-month", 1, 31, NULL, 0, NULL },
    { "month", 1, 12, cron_month_names, 1, "JAN-DEC" },
    { "day-of-week", 0, 7, cron_dow_names, 0, "SUN-SAT" },
};

struct cron_alias {
    const char *name;
    const char *fields;
};

static const struct cron_alias cron_aliases[] = {
    { "@yearly", "0 0 1 1 *" }, { "@annually", "0 0 1 1 *" }, { "@monthly", "0 0 1 * *" },
    { "@weekly", "0 0 * * 0" }, { "@daily", "0 0 * * *" },    { "@midnight", "0 0 * * *" },
    { "@hourly", "0 * * * *" },
};

/* Where the parser is, for error messages. */
struct cron_ctx {
    int field; /* 0-based */
    const char *text;
    size_t len;
    struct err *e;
};

/* Quotes bytes for an error message. */
void
cron_quote(const char *s, size_t n, char *out, size_t size)
{
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char piece[8];
        if (c == '"' || c == '\\') {
            snprintf(piece, sizeof piece, "\\%c", c);
        } else if (c < 0x20 || c >= 0x7f) {
            snprintf(piece, sizeof piece, "\\x%02x", c);
        } else {
            snprintf(piece, sizeof piece, "%c", c);
        }
        size_t plen = strlen(piece);
        /* Keep room for the closing quote, "..." and the NUL. */
        if (o + plen + 5 > size) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(out + o, piece, plen);
        o += plen;
    }
    out[o++] = '"';
    out[o] = '\0';
}

static int cron_fail(const struct cron_ctx *ctx, const char *fmt, ...) PRINTFLIKE(2, 3);

/* Fails with "field N (name) "text": detail". */
static int
cron_fail(const struct cron_ctx *ctx, const char *fmt, ...)
{
    char detail[256], quoted[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    cron_quote(ctx->text, ctx->len, quoted, sizeof quoted);
    return err_set(ctx->e, ERR_INVALID, "field %d (%s) %s: %s", ctx->field + 1,
                   cron_fields[ctx->field].name, quoted, detail);
}

/* Explains a character that cannot appear where it does: the unsupported extensions of other
 * cron dialects get their own message, so users learn it is a choice, not a typo. */
static int
cron_fail_char(const struct cron_ctx *ctx, const char *p)
{
    char quoted[16];
    switch (*p) {
    case '?':
        return cron_fail(ctx, "\"?\" is not supported (use \"*\")");
    case '#':
        return cron_fail(ctx, "\"#\" (nth weekday of the month) is not supported");
    case 'L':
    case 'l':
        return cron_fail(ctx, "\"L\" (last day) is not supported");
    case 'W':
    case 'w':
        return cron_fail(ctx, "\"W\" (nearest weekday) is not supported");
    case 'H':
    case 'h':
        return cron_fail(ctx, "\"H\" (hashed value) is not supported");
    default:
        cron_quote(p, 1, quoted, sizeof quoted);
        return cron_fail(ctx, "unexpected character %s", quoted);
    }
}

static bool
cron_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool
cron_is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Parses a number or a name at *pp (before end) into *out, checking the field's range. */
static int
cron_parse_value(const struct cron_ctx *ctx, const char **pp, const char *end, int *out)
{
    const struct cron_field_def *def = &cron_fields[ctx->field];
    const char *p = *pp, *start = p;
    int v = 0;

    if (p == end) {
        return cron_fail(ctx, "missing value");
    }
    if (cron_is_digit(*p)) {
        while (p < end && cron_is_digit(*p)) {
            if (v < 10000) {
                v = v * 10 + (*p - '0');
            }
            p++;
        }
    } else if (cron_is_alpha(*p)) {
        while (p < end && cron_is_alpha(*p)) {
            p++;
        }
        size_t n = (size_t)(p - start);
        bool found = false;
        for (int i = 0; def->names != NULL && def->names[i] != NULL && !found; i++) {
            if (n == 3 && strncasecmp(start, def->names[i], 3) == 0) {
                v = def->names_base + i;
                found = true;
            }
        }
        if (!found) {
            char quoted[80];
            if (n <= 2 && strchr("LlWwHh", *start) != NULL) {
                return cron_fail_char(ctx, start); /* L, W, LW, H */
            }
            cron_quote(start, n, quoted, sizeof quoted);
            if (def->names == NULL) {
                return cron_fail(ctx, "%s is not a number", quoted);
            }
            return cron_fail(ctx, "unknown name %s (expected a number or %s)", quoted,
                             def->names_hint);
        }
        *pp = p;
        *out = v;
        return 0;
    } else {
        return cron_fail_char(ctx, p);
    }
    if (v < def->lo || v > def->hi) {
        if ((size_t)(p - start) == ctx->len) {
            return cron_fail(ctx, "value out of range %d-%d", def->lo, def->hi);
        }
        return cron_fail(ctx, "value %.*s out of range %d-%d", (int)(p - start), start, def->lo,
                         def->hi);
    }
    *pp = p;
    *out = v;
    return 0;
}

/* Parses one list item ("*", "a", "a-b", each with an optional "/step") into bits. */
static int
cron_parse_item(const struct cron_ctx *ctx, const char *p, const char *end, uint64_t *bits)
{
    const struct cron_field_def *def = &cron_fields[ctx->field];
    int lo = def->lo, hi = def->hi, step = 1;
    bool single = false;

    if (*p == '*') {
        p++;
    } else {
        if (cron_parse_value(ctx, &p, end, &lo) != 0) {
            return -1;
        }
        hi = lo;
        single = true;
        if (p < end && *p == '-') {
            p++;
            if (p == end) {
                return cron_fail(ctx, "range is missing its end");
            }
            if (cron_parse_value(ctx, &p, end, &hi) != 0) {
                return -1;
            }
            if (lo > hi) {
                return cron_fail(ctx, "range %d-%d is reversed (start after end)", lo, hi);
            }
            single = false;
        }
    }
    if (p < end && *p == '/') {
        p++;
        if (p == end || !cron_is_digit(*p)) {
            return p == end ? cron_fail(ctx, "step is missing its number") : cron_fail_char(ctx, p);
        }
        const char *s = p;
        step = 0;
        while (p < end && cron_is_digit(*p)) {
            if (step < 10000) {
                step = step * 10 + (*p - '0');
            }
            p++;
        }
        int max_step = def->hi;
        if (step < 1 || step > max_step) {
            return cron_fail(ctx, "step %.*s out of range 1-%d", (int)(p - s), s, max_step);
        }
        if (single) {
            hi = def->hi; /* "a/n" means a-max/n */
        }
    }
    if (p != end) {
        return cron_fail_char(ctx, p);
    }
    for (int v = lo; v <= hi; v += step) {
        *bits |= UINT64_C(1) << v;
    }
    return 0;
}

/* Parses a comma-separated field into bits. */
static int
cron_parse_field(struct cron_ctx *ctx, uint64_t *bits)
{
    const char *p = ctx->text, *end = ctx->text + ctx->len;
    int items = 0;
    *bits = 0;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *item_end = comma != NULL ? comma : end;
        if (item_end == p) {
            return cron_fail(ctx, "empty list item");
        }
        if (++items > CRON_LIST_MAX) {
            return cron_fail(ctx, "more than %d list items", CRON_LIST_MAX);
        }
        if (cron_parse_item(ctx, p, item_end, bits) != 0) {
            return -1;
        }
        if (comma == NULL) {
            return 0;
        }
        p = comma + 1;
    }
}

static bool
cron_is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Parses the five fields of text (already trimmed and bounded) into c. */
static int
cron_parse_fields(struct cron_expr *c, const char *text, struct err *e)
{
    const char *start[CRON_FIELDS + 2];
    size_t len[CRON_FIELDS + 2];
    int n = 0;
    const char *p = text;
    while (*p != '\0') {
        while (cron_is_blank(*p)) {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        const char *s = p;
        while (*p != '\0' && !cron_is_blank(*p)) {
            p++;
        }
        if (n < CRON_FIELDS + 2) {
            start[n] = s;
            len[n] = (size_t)(p - s);
        }
        n++;
    }
    if (n != CRON_FIELDS) {
        return err_set(e, ERR_INVALID,
                       "expected 5 fields (minute hour day-of-month month day-of-week), found "
                       "%d%s",
                       n, n > CRON_FIELDS ? "; seconds and year fields are not supported" : "");
    }
    uint64_t *bits[CRON_FIELDS] = { &c->minutes, &c->hours, &c->doms, &c->months, &c->dows };
    for (int i = 0; i < CRON_FIELDS; i++) {
        struct cron_ctx ctx = { i, start[i], len[i], e };
        if (cron_parse_field(&ctx, bits[i]) != 0) {
            return -1;
        }
    }
    c->dom_star = start[2][0] == '*';
    c->dow_star = start[4][0] == '*';
    if (c->dows & (UINT64_C(1) << 7)) { /* 7 is Sunday too */
        c->dows = (c->dows & 0x7f) | 1;
    }
    /* With day-of-week unrestricted, a day-of-month that no selected month has (30 February)
     * would never fire; say so now rather than at the first cron_next(). */
    if (!c->dom_star && c->dow_star) {
        bool possible = false;
        for (int m = 1; m <= 12 && !possible; m++) {
            int dim = civil_days_in_month(2000, m); /* a leap year: 29 February exists */
            uint64_t days = (UINT64_C(1) << (dim + 1)) - 2;
            possible = (c->months & (UINT64_C(1) << m)) && (c->doms & days);
        }
        if (!possible) {
            char dom[96], month[96];
            cron_quote(start[2], len[2], dom, sizeof dom);
            cron_quote(start[3], len[3], month, sizeof month);
            return err_set(e, ERR_INVALID,
                           "fields 3-4 (day-of-month, month) %s %s: no such date in any "
                           "selected month, the schedule would never fire",
                           dom, month);
        }
    }
    return 0;
}

/* Parses an expression. */
struct cron_expr *
cron_parse(const char *text, struct err *e)
{
    struct cron_expr *c = NULL, *result = NULL;
    if (text == NULL) {
        err_set(e, ERR_INVALID, "expression is empty");
        return NULL;
    }
    size_t len = strnlen(text, CRON_TEXT_MAX + 1);
    if (len > CRON_TEXT_MAX) {
        err_set(e, ERR_INVALID, "expression is longer than %d bytes", CRON_TEXT_MAX);
        return NULL;
    }
    while (len > 0 && cron_is_blank(text[len - 1])) {
        len--;
    }
    while (len > 0 && cron_is_blank(*text)) {
        text++;
        len--;
    }
    if (len == 0) {
        err_set(e, ERR_INVALID, "expression is empty");
        return NULL;
    }
    c = xcalloc(1, sizeof *c);
    memcpy(c->text, text, len);
    c->text[len] = '\0';

    const char *fields = c->text;
    if (c->text[0] == '@') {
        char quoted[96];
        size_t wlen = strcspn(c->text, " \t");
        cron_quote(c->text, wlen, quoted, sizeof quoted);
        if (wlen != len) {
            err_set(e, ERR_INVALID, "alias %s takes no fields", quoted);
            goto out;
        }
        fields = NULL;
        for (size_t i = 0; i < ARRAY_SIZE(cron_aliases) && fields == NULL; i++) {
            if (strcasecmp(c->text, cron_aliases[i].name) == 0) {
                fields = cron_aliases[i].fields;
            }
        }
        if (fields == NULL) {
            if (strcasecmp(c->text, "@reboot") == 0) {
                err_set(e, ERR_INVALID,
                        "\"@reboot\" is not supported (schedules follow the clock, not daemon "
                        "starts)");
            } else {
                err_set(e, ERR_INVALID,
                        "unknown alias %s (expected @yearly, @annually, @monthly, @weekly, "
                        "@daily, @midnight or @hourly)",
                        quoted);
            }
            goto out;
        }
    }
    if (cron_parse_fields(c, fields, e) != 0) {
        goto out;
    }
    for (int w = 0; w < 7; w++) {
        for (int d = 1; d <= 31; d++) {
            if (c->dows & (UINT64_C(1) << ((w + d - 1) % 7))) {
                c->dow_days[w] |= UINT64_C(1) << d;
            }
        }
    }
    result = c;
    c = NULL;
out:
    cron_expr_free(c);
    return result;
}

/* Frees an expression. */
void
cron_expr_free(struct cron_expr *c)
{
    free(c);
}

/* The expression text. */
const char *
cron_expr_text(const struct cron_expr *c)
{
    return c->text;
}

/* ---- Next fire time ----
 *
 * Two steps. cron_find_wall() finds the first wall-clock minute >= a start that matches the
 * fields, skipping whole months, days and hours whose bits are clear (a few dozen operations
 * even for "0 0 29 2 *"). cron_next() then maps wall times to instants one span of constant UTC
 * offset at a time (tz_span()):
 *
 *   - In a span with offset o, wall time w is the instant w - o. If that lies inside the span,
 *     it is the answer.
 *   - Otherwise w belongs after the span's end T, where the offset becomes o2. If o2 > o (a
 *     forward jump: walls [T+o, T+o2) never happen) and w falls in that gap, w fires at the
 *     shifted instant w - o ("02:30 EST", i.e. 03:30 EDT); a wall of the next span may map to an
 *     earlier instant still (with "30 2,3 * * *", 03:00 EDT comes before 02:30 shifted), so the
 *     first match there is compared too. If o2 < o (a backward jump), the walls [T+o2, T+o)
 *     repeat; w >= T+o already, so searching on from w skips the second pass.
 *   - Starting from `now`: if now lies just after a forward jump, skipped walls whose shifted
 *     instants are still ahead are considered by starting in the span before it; if now is in
 *     the second pass of a repeated hour, the repeated walls are skipped.
 */

static int
cron_next_bit(uint64_t mask, int from)
{
    if (from >= 64) {
        return -1;
    }
    uint64_t m = mask & (~UINT64_C(0) << from);
    return m ? __builtin_ctzll(m) : -1;
}

/* The days of a month that match the day-of-month and day-of-week fields. */
static uint64_t
cron_month_days(const struct cron_expr *c, int64_t year, int month)
{
    int dim = civil_days_in_month(year, month);
    uint64_t dows = c->dow_days[civil_weekday(civil_days_from_date(year, month, 1))];
    uint64_t days = (c->dom_star || c->dow_star) ? (c->doms & dows) : (c->doms | dows);
    return days & ((UINT64_C(1) << (dim + 1)) - 2);
}

/* Moves *t (a whole minute) to the first matching wall time at or after it; false when that
 * would be after the end of year_limit. */
static bool
cron_find_wall(const struct cron_expr *c, struct civil *t, int64_t year_limit)
{
    int64_t y = t->year;
    int mo = t->month, d = t->day, h = t->hour, mi = t->minute;
    for (;;) {
        if (y > year_limit) {
            return false;
        }
        int next = cron_next_bit(c->months, mo);
        if (next < 0) {
            y++, mo = 1, d = 1, h = 0, mi = 0;
            continue;
        }
        if (next != mo) {
            mo = next, d = 1, h = 0, mi = 0;
        }
        next = cron_next_bit(cron_month_days(c, y, mo), d);
        if (next < 0) {
            mo++, d = 1, h = 0, mi = 0; /* mo may become 13: the months step wraps the year */
            continue;
        }
        if (next != d) {
            d = next, h = 0, mi = 0;
        }
        next = cron_next_bit(c->hours, h);
        if (next < 0) {
            d++, h = 0, mi = 0; /* d may pass the month's end: the days step moves on */
            continue;
        }
        if (next != h) {
            h = next, mi = 0;
        }
        next = cron_next_bit(c->minutes, mi);
        if (next < 0) {
            h++, mi = 0;
            continue;
        }
        *t = (struct civil){ y, mo, d, h, next, 0 };
        return true;
    }
}

/* The first whole wall minute whose instant under offset o is strictly after now_ms. */
static int64_t
cron_wall_after(int64_t now_ms, int32_t o)
{
    return (civil_floor_div(now_ms + (int64_t)o * 1000, 60000) + 1) * 60;
}

static int64_t
cron_ceil_minute(int64_t sec)
{
    return civil_floor_div(sec + 59, 60) * 60;
}

static int64_t
cron_max(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* The next fire time strictly after now. */
int
cron_next(const struct cron_expr *c, const struct tz_zone *z, int64_t now_ms, int64_t *next_ms,
          struct err *e)
{
    if (now_ms < CIVIL_SEC_MIN * 1000 || now_ms > CIVIL_SEC_MAX * 1000 + 999) {
        return err_set(e, ERR_INVALID, "now (%lld ms) is outside years 1-9999", (long long)now_ms);
    }
    char quoted[96];
    int64_t now_s = civil_floor_div(now_ms, 1000);
    struct tz_span sp;
    tz_span(z, now_s, &sp);

    int32_t o = sp.offset;
    int64_t seg_end = sp.end;
    int64_t lo_wall;
    if (sp.start != TZ_TIME_MIN && sp.prev_offset < sp.offset &&
        now_s < sp.start + (sp.offset - sp.prev_offset)) {
        o = sp.prev_offset; /* just after a forward jump: skipped walls may still be due */
        seg_end = sp.start;
        lo_wall = cron_wall_after(now_ms, o);
    } else {
        lo_wall = cron_wall_after(now_ms, o);
        if (sp.start != TZ_TIME_MIN && sp.prev_offset > sp.offset) {
            /* In the second pass of a repeated hour, its walls fired the first time. */
            lo_wall = cron_max(lo_wall, cron_ceil_minute(sp.start + sp.prev_offset));
        }
    }
    struct civil t;
    civil_from_seconds(lo_wall, &t);
    int64_t year_limit = t.year + CRON_HORIZON_YEARS;
    if (year_limit > 9999) {
        year_limit = 9999;
    }

    for (int hop = 0; hop < CRON_HOPS_MAX; hop++) {
        civil_from_seconds(lo_wall, &t);
        if (!cron_find_wall(c, &t, year_limit)) {
            cron_quote(c->text, strlen(c->text), quoted, sizeof quoted);
            return err_set(e, ERR_INVALID, "%s does not fire within %d years", quoted,
                           CRON_HORIZON_YEARS);
        }
        int64_t w = civil_to_seconds(&t);
        int64_t inst = w - o;
        if (inst < seg_end) {
            *next_ms = inst * 1000;
            return 0;
        }
        struct tz_span nx;
        tz_span(z, seg_end, &nx);
        if (nx.offset > o && w < seg_end + nx.offset) {
            /* w was skipped by the jump at seg_end: it fires at the shifted instant, unless a
             * wall of the next span maps to an earlier one. */
            int64_t lo2 =
                cron_max(cron_ceil_minute(seg_end + nx.offset), cron_wall_after(now_ms, nx.offset));
            civil_from_seconds(lo2, &t);
            if (cron_find_wall(c, &t, year_limit)) {
                int64_t inst2 = civil_to_seconds(&t) - nx.offset;
                if (inst2 < inst && inst2 < nx.end) {
                    inst = inst2;
                }
            }
            *next_ms = inst * 1000;
            return 0;
        }
        o = nx.offset;
        seg_end = nx.end;
        lo_wall = cron_max(w, cron_wall_after(now_ms, o));
    }
    cron_quote(c->text, strlen(c->text), quoted, sizeof quoted);
    return err_set(e, ERR_INTERNAL, "%s: more than %d time zone transitions crossed", quoted,
                   CRON_HOPS_MAX);
}

/* The next n fire times. */
int
cron_next_n(const struct cron_expr *c, const struct tz_zone *z, int64_t now_ms, int64_t *out,
            size_t n, struct err *e)
{
    if (n < 1 || n > CRON_NEXT_N_MAX) {
        return err_set(e, ERR_INVALID, "count %zu out of range 1-%d", n, CRON_NEXT_N_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        if (cron_next(c, z, i == 0 ? now_ms : out[i - 1], &out[i], e) != 0) {
            return -1;
        }
    }
    return 0;
}
