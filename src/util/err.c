/* Error values and their stable names; the only place that knows the code table. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/err.h"

/* Sets e and returns -1. */
int
err_set(struct err *e, enum err_code code, const char *fmt, ...)
{
    if (e == NULL) {
        return -1;
    }
    va_list ap;
    va_start(ap, fmt);
    e->code = code;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* Sets e with strerror(errno) appended and returns -1. */
int
err_sys(struct err *e, enum err_code code, const char *fmt, ...)
{
    int saved = errno;
    if (e == NULL) {
        return -1;
    }
    va_list ap;
    va_start(ap, fmt);
    e->code = code;
    int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof e->msg) {
        snprintf(e->msg + n, sizeof e->msg - (size_t)n, ": %s", strerror(saved));
    }
    errno = saved;
    return -1;
}

/* Prefixes e's message with context. */
int
err_wrap(struct err *e, const char *fmt, ...)
{
    if (e == NULL) {
        return -1;
    }
    char prefix[256], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    snprintf(e->msg, sizeof e->msg, "%s: %s", prefix, old);
    return -1;
}

/* The code's stable name. */
const char *
err_code_name(enum err_code code)
{
    switch (code) {
#define X(name, str, exit, text) \
    case ERR_##name:             \
        return str;
        ERR_MAP(X)
#undef X
    }
    return "INTERNAL_ERROR";
}

/* Parses a code name. */
enum err_code
err_code_parse(const char *name)
{
#define X(n, str, exit, text)              \
    if (name && strcmp(name, str) == 0) { \
        return ERR_##n;                    \
    }
    ERR_MAP(X)
#undef X
    return ERR_INTERNAL;
}

/* The CLI exit status for a code. */
int
err_exit_status(enum err_code code)
{
    switch (code) {
#define X(name, str, exit, text) \
    case ERR_##name:             \
        return exit;
        ERR_MAP(X)
#undef X
    }
    return 1;
}
