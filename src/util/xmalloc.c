/* Allocation wrappers: out-of-memory is a broken invariant here, not an error code. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

static void
xmalloc_die(size_t size)
{
    fprintf(stderr, "beat: out of memory allocating %zu bytes\n", size);
    abort();
}

/* Allocates size bytes or aborts. */
void *
xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL) {
        xmalloc_die(size);
    }
    return p;
}

/* Allocates n zeroed elements or aborts. */
void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) {
        xmalloc_die(n * size);
    }
    return p;
}

/* Resizes p or aborts. */
void *
xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (q == NULL) {
        xmalloc_die(size);
    }
    return q;
}

/* Duplicates s or aborts. */
char *
xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

/* Duplicates at most n bytes of s, always NUL-terminated. */
char *
xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* Formats into a new string. */
char *
xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        xmalloc_die(0);
    }
    return s;
}
