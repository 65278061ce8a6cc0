/* IANA time zones without the C library's TZ machinery: reads a TZif file (RFC 8536) into an
 * immutable struct of transitions plus the POSIX TZ footer rule for instants past the last
 * transition, and answers "which offset is in force at instant u". glibc's tzset() is process-
 * global and silently maps unknown names to UTC; this module does neither. It does not know
 * about cron expressions (cron.c maps wall times to instants with tz_span()).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cron/cron.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define TZ_TRANS_MAX   4096 /* transitions per file; real zones have at most a few hundred */
#define TZ_TYPES_MAX   256  /* local time types per file (the format's own limit) */
#define TZ_CHARS_MAX   4096 /* bytes of abbreviations per file */
#define TZ_FOOTER_MAX  128  /* bytes of POSIX TZ footer */
#define TZ_TRANS_LIMIT (INT64_C(1) << 61) /* |transition time| limit, keeps arithmetic safe */

/* A transition date of a POSIX TZ rule: "Jn" (1-365, 29 February never counted), "n" (0-365)
 * or "Mm.w.d" (weekday d of week w of month m, week 5 = last), plus the local time of day. */
enum tz_date_kind { TZ_DATE_JULIAN1, TZ_DATE_JULIAN0, TZ_DATE_MONTH };

struct tz_rule_date {
    enum tz_date_kind kind;
    int day; /* TZ_DATE_JULIAN1 / TZ_DATE_JULIAN0 */
    int month, week, weekday;
    int32_t time; /* seconds after local midnight, may be negative or past 24 h */
};

/* The footer: a standard offset, and optionally a daylight offset with its start and end. */
struct tz_rule {
    int32_t std_offset, dst_offset; /* seconds east of UTC */
    bool has_dst;
    struct tz_rule_date start, end;
};

struct tz_zone {
    char name[TZ_NAME_MAX + 1];
    size_t ntrans;
    int64_t *trans;        /* UTC seconds, strictly ascending, each changing the offset */
    int32_t *trans_offset; /* offset in force from trans[i] on */
    int32_t first_offset;  /* offset before trans[0] (time type 0) */
    bool has_rule;         /* a non-empty footer, in force from rule_from on */
    int64_t rule_from;     /* the file's last transition (even one we dropped), or TZ_TIME_MIN */
    struct tz_rule rule;
};

/* ---- POSIX TZ rules (the TZif footer) ---- */

/* The local seconds (since 1970, wall clock) at which a rule date falls in a year. */
static int64_t
tz_rule_local(const struct tz_rule_date *d, int64_t year)
{
    int64_t days = 0;
    switch (d->kind) {
    case TZ_DATE_JULIAN1:
        days = civil_days_from_date(year, 1, 1) + d->day - 1;
        if (civil_is_leap(year) && d->day >= 60) {
            days++;
        }
        break;
    case TZ_DATE_JULIAN0:
        days = civil_days_from_date(year, 1, 1) + d->day;
        break;
    case TZ_DATE_MONTH: {
        int64_t first = civil_days_from_date(year, d->month, 1);
        int mday = 1 + (d->weekday - civil_weekday(first) + 7) % 7 + 7 * (d->week - 1);
        while (mday > civil_days_in_month(year, d->month)) {
            mday -= 7;
        }
        days = first + mday - 1;
        break;
    }
    }
    return days * CIVIL_DAY + d->time;
}

/* A year's two rule transitions as UTC instants: the start is given in standard time, the end
 * in daylight time. */
struct tz_rule_year {
    int64_t year, start, end;
};

static void
tz_rule_year_init(const struct tz_rule *r, int64_t year, struct tz_rule_year *out)
{
    out->year = year;
    out->start = tz_rule_local(&r->start, year) - r->std_offset;
    out->end = tz_rule_local(&r->end, year) - r->dst_offset;
}

static int64_t
tz_rule_year_of(const struct tz_rule *r, int64_t u)
{
    struct civil c;
    civil_from_seconds(u + r->std_offset, &c);
    return c.year;
}

/* Daylight time is in force between start and end; when end comes first in the calendar year
 * (southern hemisphere) it is in force outside [end, start). */
static int32_t
tz_rule_eval(const struct tz_rule *r, const struct tz_rule_year *y, int64_t u)
{
    bool dst;
    if (y->start < y->end) {
        dst = y->start <= u && u < y->end;
    } else {
        dst = !(y->end <= u && u < y->start);
    }
    return dst ? r->dst_offset : r->std_offset;
}

static int32_t
tz_rule_offset(const struct tz_rule *r, int64_t u)
{
    if (!r->has_dst) {
        return r->std_offset;
    }
    struct tz_rule_year y;
    tz_rule_year_init(r, tz_rule_year_of(r, u), &y);
    return tz_rule_eval(r, &y, u);
}

/* The span around u under the rule alone: the candidate transitions of the neighbouring years,
 * kept only where the offset really changes (an all-year daylight rule such as
 * "EST5EDT,0/0,J365/25" has transitions that cancel out). */
static void
tz_rule_span(const struct tz_rule *r, int64_t u, struct tz_span *out)
{
    out->start = TZ_TIME_MIN;
    out->end = TZ_TIME_MAX;
    out->offset = out->prev_offset = tz_rule_offset(r, u);
    if (!r->has_dst) {
        return;
    }
    int64_t year = tz_rule_year_of(r, u);
    struct tz_rule_year years[5];
    for (int i = 0; i < 5; i++) {
        tz_rule_year_init(r, year - 2 + i, &years[i]);
    }
    int64_t cand[6];
    size_t n = 0;
    for (int i = 1; i <= 3; i++) {
        cand[n++] = years[i].start;
        cand[n++] = years[i].end;
    }
    for (size_t i = 1; i < n; i++) { /* insertion sort of six values */
        for (size_t j = i; j > 0 && cand[j - 1] > cand[j]; j--) {
            int64_t t = cand[j];
            cand[j] = cand[j - 1];
            cand[j - 1] = t;
        }
    }
    for (size_t i = 0; i < n; i++) {
        int64_t c = cand[i];
        int64_t yc = tz_rule_year_of(r, c) - (year - 2);
        int64_t yb = tz_rule_year_of(r, c - 1) - (year - 2);
        if (yc < 0 || yc > 4 || yb < 0 || yb > 4) {
            continue; /* only with absurd rule times; treat as no change */
        }
        int32_t before = tz_rule_eval(r, &years[yb], c - 1);
        int32_t after = tz_rule_eval(r, &years[yc], c);
        if (before == after) {
            continue;
        }
        if (c <= u) {
            out->start = c;
            out->prev_offset = before;
        } else if (out->end == TZ_TIME_MAX) {
            out->end = c;
        }
    }
}

/* ---- POSIX TZ string parsing ---- */

struct tz_posix {
    const char *p;
    const char *end;
};

static bool
tz_posix_digits(struct tz_posix *ps, int max_digits, int max, int *out)
{
    int v = 0, n = 0;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9' && n < max_digits) {
        v = v * 10 + (*ps->p++ - '0');
        n++;
    }
    if (n == 0 || v > max) {
        return false;
    }
    *out = v;
    return true;
}

/* [+-]hh[:mm[:ss]] with hh up to max_hours, as seconds. */
static bool
tz_posix_hms(struct tz_posix *ps, int max_hours, int32_t *out)
{
    int sign = 1, h, m = 0, s = 0;
    if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) {
        sign = *ps->p++ == '-' ? -1 : 1;
    }
    if (!tz_posix_digits(ps, 3, max_hours, &h)) {
        return false;
    }
    if (ps->p < ps->end && *ps->p == ':') {
        ps->p++;
        if (!tz_posix_digits(ps, 2, 59, &m)) {
            return false;
        }
        if (ps->p < ps->end && *ps->p == ':') {
            ps->p++;
            if (!tz_posix_digits(ps, 2, 59, &s)) {
                return false;
            }
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return true;
}

/* An abbreviation: three or more letters, or <...> of letters, digits, '+' and '-'. */
static bool
tz_posix_name(struct tz_posix *ps)
{
    const char *start = ps->p;
    if (ps->p < ps->end && *ps->p == '<') {
        ps->p++;
        start = ps->p;
        while (ps->p < ps->end && *ps->p != '>') {
            char c = *ps->p;
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '-')) {
                return false;
            }
            ps->p++;
        }
        if (ps->p == ps->end || ps->p - start < 3) {
            return false;
        }
        ps->p++;
        return true;
    }
    while (ps->p < ps->end &&
           ((*ps->p >= 'A' && *ps->p <= 'Z') || (*ps->p >= 'a' && *ps->p <= 'z'))) {
        ps->p++;
    }
    return ps->p - start >= 3;
}

static bool
tz_posix_date(struct tz_posix *ps, struct tz_rule_date *d)
{
    if (ps->p == ps->end) {
        return false;
    }
    if (*ps->p == 'J') {
        ps->p++;
        d->kind = TZ_DATE_JULIAN1;
        if (!tz_posix_digits(ps, 3, 365, &d->day) || d->day < 1) {
            return false;
        }
    } else if (*ps->p == 'M') {
        ps->p++;
        d->kind = TZ_DATE_MONTH;
        if (!tz_posix_digits(ps, 2, 12, &d->month) || d->month < 1 || ps->p == ps->end ||
            *ps->p++ != '.' || !tz_posix_digits(ps, 1, 5, &d->week) || d->week < 1 ||
            ps->p == ps->end || *ps->p++ != '.' || !tz_posix_digits(ps, 1, 6, &d->weekday)) {
            return false;
        }
    } else {
        d->kind = TZ_DATE_JULIAN0;
        if (!tz_posix_digits(ps, 3, 365, &d->day)) {
            return false;
        }
    }
    d->time = 2 * 3600;
    if (ps->p < ps->end && *ps->p == '/') {
        ps->p++;
        return tz_posix_hms(ps, 167, &d->time); /* RFC 8536 extends POSIX to +-167 h */
    }
    return true;
}

/* Parses "std offset [dst [offset] [,start[/time],end[/time]]]"; POSIX offsets count west,
 * ours count east, hence the negations. */
static bool
tz_posix_parse(const char *s, size_t len, struct tz_rule *r)
{
    struct tz_posix ps = { s, s + len };
    int32_t off;
    memset(r, 0, sizeof *r);
    if (!tz_posix_name(&ps) || !tz_posix_hms(&ps, 24, &off)) {
        return false;
    }
    r->std_offset = r->dst_offset = -off;
    if (ps.p == ps.end) {
        return true;
    }
    if (!tz_posix_name(&ps)) {
        return false;
    }
    r->has_dst = true;
    r->dst_offset = r->std_offset + 3600;
    if (ps.p < ps.end && *ps.p != ',') {
        if (!tz_posix_hms(&ps, 24, &off)) {
            return false;
        }
        r->dst_offset = -off;
    }
    if (ps.p == ps.end) {
        /* No rule given: POSIX leaves it to the implementation; use the US rule as glibc. */
        r->start =
            (struct tz_rule_date){ .kind = TZ_DATE_MONTH, .month = 3, .week = 2, .time = 7200 };
        r->end =
            (struct tz_rule_date){ .kind = TZ_DATE_MONTH, .month = 11, .week = 1, .time = 7200 };
        return true;
    }
    if (*ps.p++ != ',' || !tz_posix_date(&ps, &r->start) || ps.p == ps.end || *ps.p++ != ',' ||
        !tz_posix_date(&ps, &r->end)) {
        return false;
    }
    return ps.p == ps.end;
}

/* ---- TZif parsing ---- */

struct tz_reader {
    const uint8_t *p;
    size_t left;
};

struct tz_header {
    int version; /* 1, 2, 3, 4 */
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static uint32_t
tz_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t
tz_be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)tz_be32(p) << 32 | tz_be32(p + 4));
}

static const uint8_t *
tz_take(struct tz_reader *r, size_t n)
{
    if (n > r->left) {
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

static const char *
tz_header_parse(struct tz_reader *r, struct tz_header *h)
{
    const uint8_t *p = tz_take(r, 44);
    if (p == NULL) {
        return "truncated header";
    }
    if (memcmp(p, "TZif", 4) != 0) {
        return "not a TZif file";
    }
    if (p[4] == 0) {
        h->version = 1;
    } else if (p[4] >= '2' && p[4] <= '9') {
        h->version = p[4] - '0';
    } else {
        return "unknown version";
    }
    h->isutcnt = tz_be32(p + 20);
    h->isstdcnt = tz_be32(p + 24);
    h->leapcnt = tz_be32(p + 28);
    h->timecnt = tz_be32(p + 32);
    h->typecnt = tz_be32(p + 36);
    h->charcnt = tz_be32(p + 40);
    if (h->typecnt == 0 || h->typecnt > TZ_TYPES_MAX) {
        return "bad type count";
    }
    if (h->timecnt > TZ_TRANS_MAX) {
        return "too many transitions";
    }
    if (h->charcnt == 0 || h->charcnt > TZ_CHARS_MAX) {
        return "bad abbreviation size";
    }
    if ((h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
        (h->isstdcnt != 0 && h->isstdcnt != h->typecnt)) {
        return "bad indicator count";
    }
    if (h->leapcnt != 0) {
        return "leap-second zones (right/...) are not supported";
    }
    return NULL;
}

/* Parses one data block whose times are tsize (4 or 8) bytes into z. */
static const char *
tz_block_parse(struct tz_reader *r, const struct tz_header *h, size_t tsize, struct tz_zone *z)
{
    size_t need = (size_t)h->timecnt * (tsize + 1) + (size_t)h->typecnt * 6 + h->charcnt +
                  (size_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
    const uint8_t *p = tz_take(r, need);
    if (p == NULL) {
        return "truncated data";
    }
    const uint8_t *times = p;
    const uint8_t *idx = times + (size_t)h->timecnt * tsize;
    const uint8_t *types = idx + h->timecnt;
    int32_t offsets[TZ_TYPES_MAX];
    for (uint32_t i = 0; i < h->typecnt; i++) {
        const uint8_t *t = types + (size_t)i * 6;
        int32_t utoff = (int32_t)tz_be32(t);
        if (utoff < -89999 || utoff > 93599) { /* RFC 8536: within about a day */
            return "UT offset out of range";
        }
        if (t[4] > 1 || t[5] >= h->charcnt) {
            return "bad local time type";
        }
        offsets[i] = utoff;
    }
    free(z->trans);
    free(z->trans_offset);
    z->trans = xmalloc((h->timecnt + 1) * sizeof *z->trans);
    z->trans_offset = xmalloc((h->timecnt + 1) * sizeof *z->trans_offset);
    z->ntrans = 0;
    z->first_offset = offsets[0];
    z->rule_from = TZ_TIME_MIN;
    int32_t cur = z->first_offset;
    int64_t prev = 0;
    for (uint32_t i = 0; i < h->timecnt; i++) {
        const uint8_t *t = times + (size_t)i * tsize;
        int64_t when = tsize == 8 ? tz_be64(t) : (int64_t)(int32_t)tz_be32(t);
        if (idx[i] >= h->typecnt) {
            return "bad type index";
        }
        if (when <= -TZ_TRANS_LIMIT || when >= TZ_TRANS_LIMIT) {
            return "transition time out of range";
        }
        if (i > 0 && when <= prev) {
            return "transitions out of order";
        }
        prev = when;
        z->rule_from = when;
        if (offsets[idx[i]] == cur) {
            continue; /* only the abbreviation or the DST flag changes: not a boundary for us */
        }
        cur = offsets[idx[i]];
        z->trans[z->ntrans] = when;
        z->trans_offset[z->ntrans] = cur;
        z->ntrans++;
    }
    return NULL;
}

static const char *
tz_tzif_parse(const uint8_t *data, size_t len, struct tz_zone *z)
{
    struct tz_reader r = { data, len };
    struct tz_header h;
    const char *why = tz_header_parse(&r, &h);
    if (why != NULL) {
        return why;
    }
    if (h.version == 1) {
        return tz_block_parse(&r, &h, 4, z);
    }
    /* Skip the 32-bit block: the 64-bit one after it is complete and authoritative. */
    size_t v1 = (size_t)h.timecnt * 5 + (size_t)h.typecnt * 6 + h.charcnt + h.isstdcnt + h.isutcnt;
    if (tz_take(&r, v1) == NULL) {
        return "truncated data";
    }
    if ((why = tz_header_parse(&r, &h)) != NULL || (why = tz_block_parse(&r, &h, 8, z)) != NULL) {
        return why;
    }
    const uint8_t *nl = tz_take(&r, 1);
    if (nl == NULL || *nl != '\n') {
        return "missing footer";
    }
    const uint8_t *footer = r.p;
    const uint8_t *end =
        memchr(footer, '\n', r.left < TZ_FOOTER_MAX + 1 ? r.left : TZ_FOOTER_MAX + 1);
    if (end == NULL) {
        return "unterminated or oversized footer";
    }
    size_t flen = (size_t)(end - footer);
    if (flen > 0) {
        if (!tz_posix_parse((const char *)footer, flen, &z->rule)) {
            return "unsupported TZ footer";
        }
        z->has_rule = true;
    }
    return NULL;
}

/* ---- Zones ---- */

static struct tz_zone *
tz_zone_new(const char *name)
{
    struct tz_zone *z = xcalloc(1, sizeof *z);
    str_copy(z->name, name, sizeof z->name);
    return z;
}

/* Parses TZif data already in memory. */
struct tz_zone *
tz_parse_tzif(const char *name, const void *data, size_t len, struct err *e)
{
    char quoted[96];
    if (name == NULL) {
        name = "";
    }
    struct tz_zone *z = tz_zone_new(name);
    const char *why = tz_tzif_parse(data, len, z);
    if (why != NULL) {
        cron_quote(name, strlen(name), quoted, sizeof quoted);
        err_set(e, ERR_INVALID, "time zone %s: invalid TZif data: %s", quoted, why);
        tz_free(z);
        return NULL;
    }
    return z;
}

/* Frees a zone. */
void
tz_free(struct tz_zone *z)
{
    if (z == NULL) {
        return;
    }
    free(z->trans);
    free(z->trans_offset);
    free(z);
}

/* Checks a zone name before it becomes part of a path. */
static int
tz_name_check(const char *name, struct err *e)
{
    char quoted[96];
    size_t len = strlen(name);
    cron_quote(name, len, quoted, sizeof quoted);
    if (len == 0) {
        return err_set(e, ERR_INVALID, "time zone name is empty");
    }
    if (len > TZ_NAME_MAX) {
        return err_set(e, ERR_INVALID, "invalid IANA time zone name %s: longer than %d bytes",
                       quoted, TZ_NAME_MAX);
    }
    if (name[0] == '/') {
        return err_set(e, ERR_INVALID, "invalid IANA time zone name %s: must not start with \"/\"",
                       quoted);
    }
    if (strstr(name, "..") != NULL) {
        return err_set(e, ERR_INVALID, "invalid IANA time zone name %s: must not contain \"..\"",
                       quoted);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '+' || c == '-')) {
            char ch[16];
            cron_quote(name + i, 1, ch, sizeof ch);
            return err_set(e, ERR_INVALID,
                           "invalid IANA time zone name %s: character %s not allowed (only "
                           "A-Z a-z 0-9 / _ + -)",
                           quoted, ch);
        }
        if (c == '/' && (name[i + 1] == '/' || name[i + 1] == '\0')) {
            return err_set(e, ERR_INVALID, "invalid IANA time zone name %s: empty path component",
                           quoted);
        }
    }
    return 0;
}

/* Loads a zone from the database. */
struct tz_zone *
tz_load(const char *name, struct err *e)
{
    char quoted[96];
    char *path = NULL;
    uint8_t *data = NULL;
    struct tz_zone *z = NULL;
    int fd = -1;

    if (name == NULL) {
        err_set(e, ERR_INVALID, "time zone name is empty");
        goto out;
    }
    if (tz_name_check(name, e) != 0) {
        goto out;
    }
    /* Built in: no transitions, offset 0. "utc" in any case as well: the old tool took it. */
    if (strcasecmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) {
        z = tz_zone_new(name);
        goto out;
    }
    cron_quote(name, strlen(name), quoted, sizeof quoted);
    const char *dir = getenv("TZDIR");
    if (dir == NULL || dir[0] == '\0') {
        dir = TZ_DEFAULT_DIR;
    }
    path = xasprintf("%s/%s", dir, name);
    /* O_NONBLOCK: a FIFO with a zone-like name must not hang us; it fails S_ISREG below. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == ENAMETOOLONG || errno == ELOOP) {
            err_set(e, ERR_INVALID, "unknown IANA time zone %s", quoted);
        } else {
            err_sys(e, ERR_IO, "time zone %s: open %s", quoted, path);
        }
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        err_sys(e, ERR_IO, "time zone %s: stat %s", quoted, path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        err_set(e, ERR_INVALID, "unknown IANA time zone %s", quoted);
        goto out;
    }
    if (st.st_size > TZ_FILE_MAX) {
        err_set(e, ERR_INVALID, "time zone %s: %s is larger than %d bytes", quoted, path,
                TZ_FILE_MAX);
        goto out;
    }
    data = xmalloc(TZ_FILE_MAX + 1);
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, data + len, TZ_FILE_MAX + 1 - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            err_sys(e, ERR_IO, "time zone %s: read %s", quoted, path);
            goto out;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
        if (len > TZ_FILE_MAX) {
            err_set(e, ERR_INVALID, "time zone %s: %s is larger than %d bytes", quoted, path,
                    TZ_FILE_MAX);
            goto out;
        }
    }
    if (len < 4 || memcmp(data, "TZif", 4) != 0) {
        /* zoneinfo also holds tables such as "leapseconds": not a zone. */
        err_set(e, ERR_INVALID, "unknown IANA time zone %s", quoted);
        goto out;
    }
    z = tz_parse_tzif(name, data, len, e);
out:
    if (fd >= 0) {
        close(fd);
    }
    free(data);
    free(path);
    return z;
}

/* The zone's name. */
const char *
tz_name(const struct tz_zone *z)
{
    return z->name;
}

/* ---- Lookups ---- */

/* The number of transitions at or before u. */
static size_t
tz_count_before(const struct tz_zone *z, int64_t u)
{
    size_t lo = 0, hi = z->ntrans;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= u) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The span around u according to the transition table alone. */
static void
tz_table_span(const struct tz_zone *z, int64_t u, struct tz_span *out)
{
    size_t k = tz_count_before(z, u);
    out->start = k > 0 ? z->trans[k - 1] : TZ_TIME_MIN;
    out->end = k < z->ntrans ? z->trans[k] : TZ_TIME_MAX;
    out->offset = k > 0 ? z->trans_offset[k - 1] : z->first_offset;
    out->prev_offset = k > 1 ? z->trans_offset[k - 2] : z->first_offset;
}

/* The offset in force at an instant. */
int32_t
tz_offset_at(const struct tz_zone *z, int64_t utc_sec)
{
    if (z->has_rule && utc_sec >= z->rule_from) {
        return tz_rule_offset(&z->rule, utc_sec);
    }
    size_t k = tz_count_before(z, utc_sec);
    return k > 0 ? z->trans_offset[k - 1] : z->first_offset;
}

/* The span of constant offset around an instant: the table before rule_from, the footer rule
 * from there on, joined where the two agree so spans stay maximal. */
void
tz_span(const struct tz_zone *z, int64_t utc_sec, struct tz_span *out)
{
    struct tz_span other;
    if (z->has_rule && utc_sec >= z->rule_from) {
        tz_rule_span(&z->rule, utc_sec, out);
        if (out->start < z->rule_from) {
            tz_table_span(z, z->rule_from - 1, &other);
            out->start = z->rule_from;
            out->prev_offset = other.offset;
            if (other.offset == out->offset) {
                out->start = other.start;
                out->prev_offset = other.prev_offset;
            }
        }
        return;
    }
    tz_table_span(z, utc_sec, out);
    if (z->has_rule && out->end >= z->rule_from) {
        tz_rule_span(&z->rule, z->rule_from, &other);
        out->end = other.offset == out->offset ? other.end : z->rule_from;
    }
}

static int
tz_check_ms(int64_t utc_ms, struct err *e)
{
    if (utc_ms < CIVIL_SEC_MIN * 1000 || utc_ms > CIVIL_SEC_MAX * 1000 + 999) {
        return err_set(e, ERR_INVALID, "instant %lld ms is outside years 1-9999",
                       (long long)utc_ms);
    }
    return 0;
}

/* The UTC offset at an instant, with a range check. */
int
tz_local_offset(const struct tz_zone *z, int64_t utc_ms, int *offset_sec, struct err *e)
{
    if (tz_check_ms(utc_ms, e) != 0) {
        return -1;
    }
    *offset_sec = tz_offset_at(z, civil_floor_div(utc_ms, 1000));
    return 0;
}

/* Formats an instant as local ISO 8601 with the offset. */
int
tz_format_iso(const struct tz_zone *z, int64_t utc_ms, char out[TZ_ISO_SIZE], struct err *e)
{
    if (tz_check_ms(utc_ms, e) != 0) {
        return -1;
    }
    int64_t sec = civil_floor_div(utc_ms, 1000);
    int ms = (int)(utc_ms - sec * 1000);
    int32_t off = tz_offset_at(z, sec);
    struct civil c;
    civil_from_seconds(sec + off, &c);
    int n = snprintf(out, TZ_ISO_SIZE, "%04lld-%02d-%02dT%02d:%02d:%02d", (long long)c.year,
                     c.month, c.day, c.hour, c.minute, c.second);
    if (ms != 0) {
        n += snprintf(out + n, TZ_ISO_SIZE - (size_t)n, ".%03d", ms);
    }
    int32_t a = off < 0 ? -off : off;
    n += snprintf(out + n, TZ_ISO_SIZE - (size_t)n, "%c%02d:%02d", off < 0 ? '-' : '+',
                  (int)(a / 3600), (int)(a / 60 % 60));
    if (a % 60 != 0) {
        snprintf(out + n, TZ_ISO_SIZE - (size_t)n, ":%02d", (int)(a % 60));
    }
    return 0;
}

/* ---- The cache ---- */

static pthread_mutex_t tz_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tz_zone **tz_cache; /* sorted by name */
static size_t tz_cache_len;

/* The cached zone, loaded on first use. */
const struct tz_zone *
tz_get(const char *name, struct err *e)
{
    struct tz_zone *z = NULL;
    if (name == NULL) {
        err_set(e, ERR_INVALID, "time zone name is empty");
        return NULL;
    }
    pthread_mutex_lock(&tz_cache_lock);
    size_t lo = 0, hi = tz_cache_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(tz_cache[mid]->name, name);
        if (cmp == 0) {
            z = tz_cache[mid];
            goto out;
        }
        if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (tz_cache_len >= TZ_CACHE_MAX) {
        err_set(e, ERR_INTERNAL, "time zone cache is full (%d zones)", TZ_CACHE_MAX);
        goto out;
    }
    z = tz_load(name, e);
    if (z == NULL) {
        goto out;
    }
    tz_cache = xrealloc(tz_cache, (tz_cache_len + 1) * sizeof *tz_cache);
    memmove(tz_cache + lo + 1, tz_cache + lo, (tz_cache_len - lo) * sizeof *tz_cache);
    tz_cache[lo] = z;
    tz_cache_len++;
out:
    pthread_mutex_unlock(&tz_cache_lock);
    return z;
}

/* Frees every cached zone (tests only). */
void
tz_cache_clear(void)
{
    pthread_mutex_lock(&tz_cache_lock);
    for (size_t i = 0; i < tz_cache_len; i++) {
        tz_free(tz_cache[i]);
    }
    free(tz_cache);
    tz_cache = NULL;
    tz_cache_len = 0;
    pthread_mutex_unlock(&tz_cache_lock);
}
