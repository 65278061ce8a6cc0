/* String helpers. UTF-8 handling follows RFC 3629: no overlongs, surrogates or > U+10FFFF. */
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/str.h"
#include "util/xmalloc.h"

/* Bounded copy that always terminates. */
size_t
str_copy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);
    if (size > 0) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

/* True when s starts with prefix. */
bool
str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* True when s ends with suffix. */
bool
str_has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when invalid. */
static size_t
str_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    unsigned cp = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return len;
}

/* True when valid UTF-8 without NUL. */
bool
str_is_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] == 0) {
            return false;
        }
        size_t len = str_utf8_seq(p + i, n - i);
        if (len == 0) {
            return false;
        }
        i += len;
    }
    return true;
}

/* A copy with invalid sequences replaced by U+FFFD and NUL by U+2400. */
char *
str_utf8_sanitize(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    struct buf b;
    size_t i = 0;
    buf_init(&b);
    while (i < n) {
        size_t len = p[i] == 0 ? 0 : str_utf8_seq(p + i, n - i);
        if (p[i] == 0) {
            buf_adds(&b, "\xe2\x90\x80");
            i++;
        } else if (len == 0) {
            buf_adds(&b, "\xef\xbf\xbd");
            i++;
        } else {
            buf_add(&b, p + i, len);
            i += len;
        }
    }
    return buf_take(&b);
}

/* Longest prefix not ending inside a multi-byte sequence. */
size_t
str_utf8_boundary(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t back = 0;
    /* Walk back over at most 3 continuation bytes to the lead byte. */
    while (back < 4 && back < n && (p[n - 1 - back] & 0xc0) == 0x80) {
        back++;
    }
    if (back < n) {
        unsigned c = p[n - 1 - back];
        size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        if (need > back + 1) {
            return n - back - 1;
        }
    }
    return n;
}

/* Counts lines: newlines plus an unterminated last line. */
size_t
str_count_lines(const char *s, size_t n)
{
    size_t lines = 0;
    for (const char *p = s; (p = memchr(p, '\n', (size_t)(s + n - p))) != NULL; p++) {
        lines++;
    }
    if (n > 0 && s[n - 1] != '\n') {
        lines++;
    }
    return lines;
}

/* Frees a NULL-terminated string array. */
void
strv_free(char **v)
{
    if (v == NULL) {
        return;
    }
    for (char **p = v; *p; p++) {
        free(*p);
    }
    free(v);
}

/* Number of strings in v. */
size_t
strv_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n]) {
        n++;
    }
    return n;
}
