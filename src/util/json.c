/* JSON helpers over jansson. */
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/str.h"

/* Borrowed string member or NULL. */
const char *
json_get_str(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Integer member or def. */
int64_t
json_get_int(const json_t *obj, const char *key, int64_t def)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

/* Boolean member or def. */
bool
json_get_bool(const json_t *obj, const char *key, bool def)
{
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

/* Sets or removes a string member. */
void
json_set_str(json_t *obj, const char *key, const char *s)
{
    if (s == NULL) {
        json_object_del(obj, key);
    } else {
        json_object_set_new(obj, key, json_string_bytes(s, strlen(s)));
    }
}

/* Sets an integer member. */
void
json_set_int(json_t *obj, const char *key, int64_t v)
{
    json_object_set_new(obj, key, json_integer((json_int_t)v));
}

/* Parses one JSON text. */
json_t *
json_parse(const char *text, size_t len, struct err *e)
{
    json_error_t je;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (v == NULL) {
        err_set(e, ERR_INVALID, "invalid JSON at line %d column %d: %s", je.line, je.column,
                je.text);
    }
    return v;
}

/* Compact encoding. */
char *
json_dump_compact(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL) {
        abort(); /* only on OOM: every json_t we build is encodable */
    }
    return s;
}

/* Indented encoding. */
char *
json_dump_pretty(const json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (s == NULL) {
        abort();
    }
    return s;
}

/* A JSON string from arbitrary bytes. */
json_t *
json_string_bytes(const char *s, size_t n)
{
    if (str_is_utf8(s, n)) {
        return json_stringn(s, n);
    }
    char *clean = str_utf8_sanitize(s, n);
    json_t *v = json_string(clean);
    free(clean);
    return v;
}

extern char **environ;

/* The process environment as an object. */
json_t *
json_environ(void)
{
    json_t *env = json_object();
    size_t total = 0, count = 0;
    for (char **p = environ; p && *p && count < 1000; p++) {
        const char *eq = strchr(*p, '=');
        size_t len = strlen(*p);
        if (eq == NULL || eq == *p || total + len > 256 * 1024) {
            continue;
        }
        char *name = strndup(*p, (size_t)(eq - *p));
        json_object_set_new(env, name, json_string_bytes(eq + 1, strlen(eq + 1)));
        free(name);
        total += len;
        count++;
    }
    return env;
}

/* The kind of a JSON value in words. */
const char *
json_kind_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}
