/* Error values: a code and a message, filled by the function that failed, never allocated. */
#ifndef UTIL_ERR_H
#define UTIL_ERR_H

/* name, tool-error code string, CLI exit status, short text */
#define ERR_MAP(X)                                                            \
    X(OK, "OK", 0, "ok")                                                      \
    X(INVALID, "INVALID_INPUT", 2, "invalid input")                           \
    X(NOTFOUND, "NOT_FOUND", 3, "not found")                                  \
    X(STATE, "INVALID_STATE", 4, "invalid state")                             \
    X(UNAVAILABLE, "DAEMON_UNAVAILABLE", 5, "daemon unavailable")             \
    X(IO, "IO_ERROR", 6, "i/o error")                                         \
    X(STORE, "STORE_ERROR", 7, "database error")                              \
    X(AGENT, "AGENT_ERROR", 8, "agent error")                                 \
    X(VERSION, "VERSION_MISMATCH", 9, "version mismatch")                     \
    X(CANCELLED, "CANCELLED", 10, "cancelled")                                \
    X(INTERNAL, "INTERNAL_ERROR", 1, "internal error")

enum err_code {
#define X(name, code, exit, text) ERR_##name,
    ERR_MAP(X)
#undef X
};

struct err {
    enum err_code code;
    char msg[512];
};

/* Sets e (if not NULL) and returns -1. */
int err_set(struct err *e, enum err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like err_set, appending ": strerror(errno)". */
int err_sys(struct err *e, enum err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the existing message with context ("start task x: <old>"); returns -1. */
int err_wrap(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The code as a stable string ("INVALID_INPUT"). */
const char *err_code_name(enum err_code code);
/* Parses a code name back (unknown -> ERR_INTERNAL). */
enum err_code err_code_parse(const char *name);
/* The CLI exit status for a code. */
int err_exit_status(enum err_code code);

#endif
