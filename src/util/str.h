/* String helpers: bounded copies, prefixes, UTF-8 checks and repair. */
#ifndef UTIL_STR_H
#define UTIL_STR_H

#include <stdbool.h>
#include <stddef.h>

/* Copies src into dst (size bytes), always NUL-terminates; returns strlen(src). */
size_t str_copy(char *dst, const char *src, size_t size);
bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);
/* True when the n bytes are valid UTF-8 with no NUL byte. */
bool str_is_utf8(const char *s, size_t n);
/* A new NUL-terminated copy of n bytes with invalid UTF-8 replaced by U+FFFD and NUL by "\0"
 * escaped as U+2400, so any captured output can go into JSON. */
char *str_utf8_sanitize(const char *s, size_t n);
/* Length of the longest prefix of s (n bytes) that does not end inside a UTF-8 sequence. */
size_t str_utf8_boundary(const char *s, size_t n);
/* Number of '\n' in s[0..n), plus one if the last byte is not '\n' and n > 0. */
size_t str_count_lines(const char *s, size_t n);
/* A NULL-terminated array of strings. */
void strv_free(char **v);
size_t strv_len(char *const *v);

#endif
