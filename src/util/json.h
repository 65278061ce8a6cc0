/* JSON helpers over jansson.
 * Ownership, once for the whole project: functions receiving `json_t *` borrow it; a returned
 * `json_t *` is a new reference the caller must json_decref; `*_new` setters steal. */
#ifndef UTIL_JSON_H
#define UTIL_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "util/err.h"

/* Borrowed string member, or NULL when absent or not a string. */
const char *json_get_str(const json_t *obj, const char *key);
/* Integer member, or def when absent or not an integer. */
int64_t json_get_int(const json_t *obj, const char *key, int64_t def);
bool json_get_bool(const json_t *obj, const char *key, bool def);
/* Sets obj[key] to a string copy of s, or removes the key when s is NULL. */
void json_set_str(json_t *obj, const char *key, const char *s);
void json_set_int(json_t *obj, const char *key, int64_t v);
/* Parses one JSON text of len bytes with the project's flags (NUL allowed, no duplicates). */
json_t *json_parse(const char *text, size_t len, struct err *e);
/* Compact single-line encoding, caller frees. Non-ASCII kept as UTF-8. */
char *json_dump_compact(const json_t *v);
/* Indented encoding for humans, caller frees. */
char *json_dump_pretty(const json_t *v);
/* A JSON string from arbitrary bytes: invalid UTF-8 and NUL are replaced, never refused. */
json_t *json_string_bytes(const char *s, size_t n);



/* The process environment as a JSON object {"NAME":"value"}; new reference. Bounded: at most
 * 1000 variables and 256 KiB, the rest are left out. */
json_t *json_environ(void);
/* What kind of value v is, for "got ..." in messages: "a string", "an integer", "null", ... */
const char *json_kind_name(const json_t *v);
#endif
