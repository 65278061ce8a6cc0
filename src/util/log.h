/* Levelled one-line logging to a file or stderr. Agent output never goes through here. */
#ifndef UTIL_LOG_H
#define UTIL_LOG_H

#include <stdio.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

extern enum log_level log_threshold;

/* Directs records to f (not owned); NULL means stderr. */
void log_set_file(FILE *f);
void log_set_level(enum log_level level);
/* Parses "debug|info|warn|error"; returns -1 when unknown. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The level is tested before the arguments are evaluated. */
#define log_at(lvl, ...)               \
    do {                               \
        if ((lvl) >= log_threshold) {  \
            log_write(lvl, __VA_ARGS__); \
        }                              \
    } while (0)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_at(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)

#endif
