/* Log records: "2026-11-24T12:00:00.123Z INFO message key=value", one per line. */
#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "util/log.h"

enum log_level log_threshold = LOG_INFO;
static FILE *log_file;

static const char *const log_names[] = { "debug", "info", "warn", "error", "off" };

/* Directs records to f; NULL means stderr. */
void
log_set_file(FILE *f)
{
    log_file = f;
}

/* Sets the lowest level that is written. */
void
log_set_level(enum log_level level)
{
    log_threshold = level;
}

/* Parses a level name. */
int
log_level_parse(const char *s, enum log_level *out)
{
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
        if (s != NULL && strcasecmp(s, log_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

/* The level's name. */
const char *
log_level_name(enum log_level level)
{
    return level <= LOG_OFF ? log_names[level] : "?";
}

/* Writes one record. */
void
log_write(enum log_level level, const char *fmt, ...)
{
    FILE *f = log_file ? log_file : stderr;
    struct timeval tv;
    struct tm tm;
    char stamp[32];

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(f, "%s.%03ldZ %-5s ", stamp, (long)(tv.tv_usec / 1000), log_names[level]);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fflush(f);
}
