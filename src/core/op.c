/* The operation table machinery: one validator, the JSON Schemas, CLI parsing and help, all
 * derived from the argument descriptions in each `struct op`. It knows nothing of transports
 * or of what the operations do. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/op.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"
#include "util/uuid.h"
#include "util/xmalloc.h"

/* Strings without an explicit max still have one: every external input is bounded. */
#define OP_STRING_CAP (1024 * 1024)
#define OP_ARRAY_CAP  1000

/* Finds an op by its MCP name. */
const struct op *
op_find(const char *name)
{
    for (const struct op *const *p = op_table; *p; p++) {
        if (strcmp((*p)->name, name) == 0) {
            return *p;
        }
    }
    return NULL;
}

/* Accepts "task-<uuid>". */
bool
op_format_task_id(const char *s, const char **why)
{
    if (uuid_is_prefixed(s, "task-")) {
        return true;
    }
    *why = "must be a task id like task-123e4567-e89b-42d3-a456-426614174000";
    return false;
}

/* Accepts "schedule-<uuid>". */
bool
op_format_schedule_id(const char *s, const char **why)
{
    if (uuid_is_prefixed(s, "schedule-")) {
        return true;
    }
    *why = "must be a schedule id like schedule-123e4567-e89b-42d3-a456-426614174000";
    return false;
}

static int64_t
op_arg_max(const struct op_arg *a)
{
    if (a->max > 0) {
        return a->max;
    }
    if (a->type == ARG_STRING_ARRAY || a->type == ARG_OBJECT_ARRAY) {
        return OP_ARRAY_CAP;
    }
    return a->type == ARG_INTEGER ? INT64_MAX : OP_STRING_CAP;
}

static void
op_choices_join(const struct op_arg *a, struct buf *b)
{
    for (const char *const *c = a->choices; *c; c++) {
        buf_printf(b, "%s%s", c == a->choices ? "" : ", ", *c);
    }
}

/* A short rendering of a bad value for error messages. */
static void
op_value_preview(const json_t *v, char out[64])
{
    if (json_is_string(v)) {
        snprintf(out, 64, "\"%.40s%s\"", json_string_value(v),
                 strlen(json_string_value(v)) > 40 ? "..." : "");
    } else if (json_is_integer(v)) {
        snprintf(out, 64, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        snprintf(out, 64, "%g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        snprintf(out, 64, "%s", json_is_true(v) ? "true" : "false");
    } else if (json_is_null(v)) {
        snprintf(out, 64, "null");
    } else if (json_is_array(v)) {
        snprintf(out, 64, "an array");
    } else {
        snprintf(out, 64, "an object");
    }
}

static int op_validate_object(const struct op_arg *args, const json_t *obj, const char *path,
                              struct err *e);

static int
op_validate_string(const struct op_arg *a, const char *field, const json_t *v, struct err *e)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    const char *why = NULL;
    if (memchr(s, '\0', len) != NULL) {
        return err_set(e, ERR_INVALID, "%s: must not contain NUL characters", field);
    }
    /* Characters as JSON Schema's maxLength counts them: code points, i.e. the bytes that do
     * not continue a UTF-8 sequence. */
    size_t size = len;
    const char *unit = "bytes";
    if (a->flags & ARG_CHARS) {
        size = 0;
        for (size_t i = 0; i < len; i++) {
            size += ((unsigned char)s[i] & 0xC0) != 0x80;
        }
        unit = "characters";
    }
    if ((int64_t)size < a->min) {
        return err_set(e, ERR_INVALID, "%s: must be at least %lld %s (got %zu)", field,
                       (long long)a->min, unit, size);
    }
    if ((int64_t)size > op_arg_max(a)) {
        return err_set(e, ERR_INVALID, "%s: must be at most %lld %s (got %zu)", field,
                       (long long)op_arg_max(a), unit, size);
    }
    if (a->flags & ARG_NONEMPTY) {
        const char *p = s;
        while (*p && isspace((unsigned char)*p)) {
            p++;
        }
        if (*p == '\0') {
            return err_set(e, ERR_INVALID, "%s: must not be empty or only white space", field);
        }
    }
    if (a->format && !a->format(s, &why)) {
        char pv[64];
        op_value_preview(v, pv);
        return err_set(e, ERR_INVALID, "%s: %s (got %s)", field, why, pv);
    }
    return 0;
}

static int
op_validate_value(const struct op_arg *a, const char *field, const json_t *v, struct err *e)
{
    char pv[64];
    op_value_preview(v, pv);
    switch (a->type) {
    case ARG_STRING:
        if (!json_is_string(v)) {
            return err_set(e, ERR_INVALID, "%s: must be a string (got %s)", field, pv);
        }
        return op_validate_string(a, field, v, e);
    case ARG_INTEGER:
        if (!json_is_integer(v)) {
            return err_set(e, ERR_INVALID, "%s: must be an integer (got %s)", field, pv);
        }
        if (json_integer_value(v) < a->min || json_integer_value(v) > op_arg_max(a)) {
            if (a->max > 0) {
                return err_set(e, ERR_INVALID, "%s: must be between %lld and %lld (got %s)",
                               field, (long long)a->min, (long long)a->max, pv);
            }
            return err_set(e, ERR_INVALID, "%s: must be at least %lld (got %s)", field,
                           (long long)a->min, pv);
        }
        return 0;
    case ARG_BOOLEAN:
        if (!json_is_boolean(v)) {
            return err_set(e, ERR_INVALID, "%s: must be true or false (got %s)", field, pv);
        }
        return 0;
    case ARG_ENUM:
        if (json_is_string(v)) {
            for (const char *const *c = a->choices; *c; c++) {
                if (strcmp(*c, json_string_value(v)) == 0) {
                    return 0;
                }
            }
        }
        {
            struct buf b;
            buf_init(&b);
            op_choices_join(a, &b);
            err_set(e, ERR_INVALID, "%s: must be one of %s (got %s)", field, b.data, pv);
            buf_fini(&b);
        }
        return -1;
    case ARG_STRING_ARRAY:
    case ARG_OBJECT_ARRAY: {
        if (!json_is_array(v)) {
            return err_set(e, ERR_INVALID, "%s: must be an array (got %s)", field, pv);
        }
        size_t n = json_array_size(v);
        if ((int64_t)n < a->min || (int64_t)n > op_arg_max(a)) {
            return err_set(e, ERR_INVALID, "%s: must have %lld to %lld items (got %zu)", field,
                           (long long)a->min, (long long)op_arg_max(a), n);
        }
        for (size_t i = 0; i < n; i++) {
            const json_t *item = json_array_get(v, i);
            char sub[160];
            snprintf(sub, sizeof sub, "%s[%zu]", field, i);
            if (a->type == ARG_OBJECT_ARRAY) {
                if (!json_is_object(item)) {
                    op_value_preview(item, pv);
                    return err_set(e, ERR_INVALID, "%s: must be an object (got %s)", sub, pv);
                }
                if (op_validate_object(a->items, item, sub, e) != 0) {
                    return -1;
                }
            } else {
                if (!json_is_string(item)) {
                    op_value_preview(item, pv);
                    return err_set(e, ERR_INVALID, "%s: must be a string (got %s)", sub, pv);
                }
                /* Items share the format and length rule; the count bound is the array's. */
                struct op_arg item_rule = { .name = a->name, .format = a->format,
                                            .min = 1, .max = OP_STRING_CAP };
                if (op_validate_string(&item_rule, sub, item, e) != 0) {
                    return -1;
                }
            }
        }
        return 0;
    }
    }
    return err_set(e, ERR_INTERNAL, "%s: unknown argument type", field);
}

static const struct op_arg *
op_arg_find(const struct op_arg *args, const char *name)
{
    for (const struct op_arg *a = args; a && a->name; a++) {
        if (!(a->flags & ARG_CLI_ONLY) && strcmp(a->name, name) == 0) {
            return a;
        }
    }
    return NULL;
}

static int
op_validate_object(const struct op_arg *args, const json_t *obj, const char *path,
                   struct err *e)
{
    const char *key;
    const json_t *v;
    char field[200];

    json_object_foreach((json_t *)obj, key, v) {
        if (op_arg_find(args, key) == NULL) {
            struct buf b;
            buf_init(&b);
            for (const struct op_arg *a = args; a && a->name; a++) {
                if (!(a->flags & ARG_CLI_ONLY)) {
                    buf_printf(&b, "%s%s", b.len ? ", " : "", a->name);
                }
            }
            err_set(e, ERR_INVALID, "%s%s%.60s: unknown field; expected one of: %s", path,
                    *path ? "." : "", key, b.len ? b.data : "(none)");
            buf_fini(&b);
            return -1;
        }
    }
    for (const struct op_arg *a = args; a && a->name; a++) {
        if (a->flags & ARG_CLI_ONLY) {
            continue;
        }
        snprintf(field, sizeof field, "%s%s%s", path, *path ? "." : "", a->name);
        v = json_object_get(obj, a->name);
        if (v == NULL) {
            if (a->flags & ARG_REQUIRED) {
                return err_set(e, ERR_INVALID, "%s: is required", field);
            }
            continue;
        }
        if (op_validate_value(a, field, v, e) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Validates arguments against op. */
int
op_validate(const struct op *op, const json_t *args, struct err *e)
{
    json_t *empty = NULL;
    int rc;
    if (args == NULL || json_is_null(args)) {
        args = empty = json_object();
    }
    if (!json_is_object(args)) {
        return err_set(e, ERR_INVALID, "arguments: must be an object");
    }
    rc = op_validate_object(op->args, args, "", e);
    if (rc == 0 && op->check) {
        rc = op->check(args, e);
    }
    json_decref(empty);
    return rc;
}

static json_t *
op_schema_object(const struct op_arg *args)
{
    json_t *schema = json_object(), *props = json_object(), *required = json_array();
    for (const struct op_arg *a = args; a && a->name; a++) {
        if (a->flags & ARG_CLI_ONLY) {
            continue;
        }
        json_t *p = json_object();
        switch (a->type) {
        case ARG_STRING:
            json_object_set_new(p, "type", json_string("string"));
            json_object_set_new(p, "minLength", json_integer(a->min));
            json_object_set_new(p, "maxLength", json_integer(op_arg_max(a)));
            if (a->pattern) {
                json_object_set_new(p, "pattern", json_string(a->pattern));
            }
            break;
        case ARG_INTEGER:
            json_object_set_new(p, "type", json_string("integer"));
            json_object_set_new(p, "minimum", json_integer(a->min));
            if (a->max > 0) {
                json_object_set_new(p, "maximum", json_integer(a->max));
            }
            break;
        case ARG_BOOLEAN:
            json_object_set_new(p, "type", json_string("boolean"));
            break;
        case ARG_ENUM: {
            json_t *choices = json_array();
            for (const char *const *c = a->choices; *c; c++) {
                json_array_append_new(choices, json_string(*c));
            }
            json_object_set_new(p, "type", json_string("string"));
            json_object_set_new(p, "enum", choices);
            break;
        }
        case ARG_STRING_ARRAY: {
            json_t *items = json_pack("{s:s, s:i}", "type", "string", "minLength", 1);
            if (a->pattern) {
                json_object_set_new(items, "pattern", json_string(a->pattern));
            }
            json_object_set_new(p, "type", json_string("array"));
            json_object_set_new(p, "items", items);
            json_object_set_new(p, "minItems", json_integer(a->min));
            json_object_set_new(p, "maxItems", json_integer(op_arg_max(a)));
            break;
        }
        case ARG_OBJECT_ARRAY:
            json_object_set_new(p, "type", json_string("array"));
            json_object_set_new(p, "items", op_schema_object(a->items));
            json_object_set_new(p, "minItems", json_integer(a->min));
            json_object_set_new(p, "maxItems", json_integer(op_arg_max(a)));
            break;
        }
        json_object_set_new(p, "description", json_string(a->help));
        json_object_set_new(props, a->name, p);
        if (a->flags & ARG_REQUIRED) {
            json_array_append_new(required, json_string(a->name));
        }
    }
    json_object_set_new(schema, "type", json_string("object"));
    json_object_set_new(schema, "properties", props);
    if (json_array_size(required) > 0) {
        json_object_set_new(schema, "required", required);
    } else {
        json_decref(required);
    }
    json_object_set_new(schema, "additionalProperties", json_false());
    return schema;
}

/* The input JSON Schema of op. */
json_t *
op_input_schema(const struct op *op)
{
    return op_schema_object(op->args);
}

/* Gives every property of a schema (recursively) a description from op_field_docs. */
static void
op_describe_fields(json_t *schema)
{
    if (!json_is_object(schema)) {
        return;
    }
    const char *key;
    json_t *p;
    json_object_foreach(json_object_get(schema, "properties"), key, p) {
        if (json_is_object(p) && json_object_get(p, "description") == NULL) {
            for (const struct op_field_doc *d = op_field_docs; d->name; d++) {
                if (strcmp(d->name, key) == 0) {
                    json_object_set_new(p, "description", json_string(d->description));
                    break;
                }
            }
        }
        op_describe_fields(p);
    }
    op_describe_fields(json_object_get(schema, "items"));
    size_t i;
    json_t *alt;
    json_array_foreach(json_object_get(schema, "anyOf"), i, alt) {
        op_describe_fields(alt);
    }
}

/* Widens an operation's success schema so its error results validate too: clients such as
 * the TypeScript SDK and gemini check structuredContent against outputSchema even when
 * isError is set. Success keeps its required fields; an error needs error and code. Takes
 * the reference to success. */
static json_t *
op_output_schema(json_t *success)
{
    json_t *props = json_object_get(success, "properties");
    json_t *required = json_object_get(success, "required");
    if (!json_is_object(props)) {
        props = json_object();
        json_object_set_new(success, "properties", props);
    }
    json_object_set_new(props, "error",
                        json_pack("{s:s, s:s}", "type", "string", "description",
                                  "When success is false: what went wrong and why, naming the "
                                  "field and the rule."));
    json_object_set_new(props, "code",
                        json_pack("{s:s, s:s}", "type", "string", "description",
                                  "When success is false: INVALID_INPUT, NOT_FOUND, "
                                  "INVALID_STATE, AGENT_ERROR, STORE_ERROR, ..."));
    json_t *ok = json_pack("{s:{s:{s:b}}, s:O}", "properties", "success", "const", 1,
                           "required", required ? required : json_pack("[s]", "success"));
    json_t *failed = json_pack("{s:{s:{s:b}}, s:[s, s, s]}", "properties", "success", "const",
                               0, "required", "success", "error", "code");
    json_object_set_new(success, "required", json_pack("[s]", "success"));
    json_object_set_new(success, "anyOf", json_pack("[o, o]", ok, failed));
    op_describe_fields(success);
    return success;
}

/* One tools/list entry. */
json_t *
op_tool_json(const struct op *op)
{
    json_t *tool = json_object();
    json_object_set_new(tool, "name", json_string(op->name));
    json_object_set_new(tool, "title", json_string(op->title));
    json_object_set_new(tool, "description", json_string(op->description ? op->description
                                                                          : op->summary));
    json_object_set_new(tool, "inputSchema", op_input_schema(op));
    if (op->output_schema) {
        struct err e;
        json_t *out = json_parse(op->output_schema, strlen(op->output_schema), &e);
        if (out == NULL) {
            log_error("op: outputSchema of %s does not parse: %s", op->name, e.msg);
            abort(); /* a broken table is a build defect; the golden test catches it first */
        }
        json_object_set_new(tool, "outputSchema", op_output_schema(out));
    }
    json_object_set_new(tool, "annotations",
                        json_pack("{s:s, s:b, s:b, s:b, s:b}", "title", op->title,
                                  "readOnlyHint", (op->flags & OP_READONLY) != 0,
                                  "destructiveHint", (op->flags & OP_DESTRUCTIVE) != 0,
                                  "idempotentHint", (op->flags & OP_IDEMPOTENT) != 0,
                                  "openWorldHint", (op->flags & OP_OPENWORLD) != 0));
    return tool;
}

/* The tools/list result. */
json_t *
op_tools_list(void)
{
    json_t *tools = json_array();
    for (const struct op *const *p = op_table; *p; p++) {
        if (!((*p)->flags & OP_NO_MCP)) {
            json_array_append_new(tools, op_tool_json(*p));
        }
    }
    return json_pack("{s:o}", "tools", tools);
}

/* ---- CLI ---- */

/* Parses 500ms, 30s, 5m, 2h, 1d or a plain number of ms. */
static int
op_parse_duration(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0) {
        return -1;
    }
    int64_t mult = 1;
    if (strcmp(end, "") == 0 || strcmp(end, "ms") == 0) {
        mult = 1;
    } else if (strcmp(end, "s") == 0) {
        mult = 1000;
    } else if (strcmp(end, "m") == 0) {
        mult = 60000;
    } else if (strcmp(end, "h") == 0) {
        mult = 3600000;
    } else if (strcmp(end, "d") == 0) {
        mult = 86400000;
    } else {
        return -1;
    }
    if (v > INT64_MAX / mult) {
        return -1;
    }
    *out = v * mult;
    return 0;
}

static int
op_parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

/* Converts one CLI value into JSON for arg a and stores it in obj. */
static int
op_cli_store(const struct op_arg *a, const char *opt, const char *value, json_t *obj,
             struct err *e)
{
    int64_t n;
    switch (a->type) {
    case ARG_STRING:
    case ARG_ENUM:
        json_object_set_new(obj, a->name, json_string_bytes(value, strlen(value)));
        return 0;
    case ARG_INTEGER:
        if ((a->flags & ARG_DURATION) ? op_parse_duration(value, &n) : op_parse_int(value, &n)) {
            return err_set(e, ERR_INVALID, "%s: must be %s (got \"%.40s\")", opt,
                           (a->flags & ARG_DURATION)
                               ? "a duration like 30000, 500ms, 30s, 5m or 2h"
                               : "an integer",
                           value);
        }
        json_object_set_new(obj, a->name, json_integer(n));
        return 0;
    case ARG_BOOLEAN:
        json_object_set_new(obj, a->name, json_true());
        return 0;
    case ARG_STRING_ARRAY: {
        json_t *arr = json_object_get(obj, a->name);
        if (arr == NULL) {
            arr = json_array();
            json_object_set_new(obj, a->name, arr);
        }
        if (a->flags & ARG_COMMA_LIST) {
            char *copy = xstrdup(value), *save = NULL;
            for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                while (isspace((unsigned char)*tok)) {
                    tok++;
                }
                size_t len = strlen(tok);
                while (len > 0 && isspace((unsigned char)tok[len - 1])) {
                    tok[--len] = '\0';
                }
                if (len > 0) {
                    json_array_append_new(arr, json_string_bytes(tok, len));
                }
            }
            free(copy);
        } else {
            json_array_append_new(arr, json_string_bytes(value, strlen(value)));
        }
        return 0;
    }
    case ARG_OBJECT_ARRAY:
        break;
    }
    return err_set(e, ERR_INVALID, "%s: cannot be given on the command line", opt);
}

static const struct op_arg *
op_cli_find_long(const struct op *op, const char *name)
{
    for (const struct op_arg *a = op->args; a && a->name; a++) {
        if (a->flags & ARG_MCP_ONLY) {
            continue;
        }
        if ((a->cli && strcmp(a->cli, name) == 0) ||
            (a->cli_alias && strcmp(a->cli_alias, name) == 0)) {
            return a;
        }
    }
    return NULL;
}

static const struct op_arg *
op_cli_find_short(const struct op *op, char c)
{
    for (const struct op_arg *a = op->args; a && a->name; a++) {
        if (!(a->flags & ARG_MCP_ONLY) && a->cli_short == c) {
            return a;
        }
    }
    return NULL;
}

/* Parses CLI words into an args object. */
int
op_cli_parse(const struct op *op, int argc, char **argv, json_t **out, struct err *e)
{
    json_t *obj = json_object();
    struct buf rest;
    bool options_done = false;
    const struct op_arg *rest_arg = NULL;
    int rc = -1;

    buf_init(&rest);
    for (const struct op_arg *a = op->args; a && a->name; a++) {
        if ((a->flags & ARG_REST) && !(a->flags & ARG_MCP_ONLY)) {
            rest_arg = a;
        }
    }
    for (int i = 0; i < argc; i++) {
        const char *w = argv[i];
        const struct op_arg *a = NULL;
        const char *value = NULL;
        char opt[80];

        if (!options_done && strcmp(w, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!options_done && w[0] == '-' && w[1] != '\0' && !isdigit((unsigned char)w[1])) {
            if (w[1] == '-') {
                const char *eq = strchr(w + 2, '=');
                char name[64];
                size_t n = eq ? (size_t)(eq - (w + 2)) : strlen(w + 2);
                if (n >= sizeof name) {
                    n = sizeof name - 1;
                }
                memcpy(name, w + 2, n);
                name[n] = '\0';
                a = op_cli_find_long(op, name);
                snprintf(opt, sizeof opt, "--%s", name);
                if (eq) {
                    value = eq + 1;
                }
            } else {
                a = op_cli_find_short(op, w[1]);
                snprintf(opt, sizeof opt, "-%c", w[1]);
                if (w[2] != '\0') {
                    value = w + 2;
                }
            }
            if (a == NULL) {
                err_set(e, ERR_INVALID, "unknown option %.60s for 'beat %s' (see 'beat %s --help')",
                        w, op->cli, op->cli);
                goto out;
            }
            if (a->type == ARG_BOOLEAN) {
                if (value != NULL) {
                    err_set(e, ERR_INVALID, "%s: takes no value", opt);
                    goto out;
                }
                json_object_set_new(obj, a->name, json_true());
                continue;
            }
            if (value == NULL) {
                if (i + 1 >= argc) {
                    err_set(e, ERR_INVALID, "%s: needs a value", opt);
                    goto out;
                }
                value = argv[++i];
            }
            if (op_cli_store(a, opt, value, obj, e) != 0) {
                goto out;
            }
            continue;
        }
        /* A positional word: the next unfilled positional argument, else the rest. */
        for (const struct op_arg *p = op->args; p && p->name; p++) {
            if ((p->flags & ARG_POSITIONAL) && !(p->flags & ARG_REST) &&
                json_object_get(obj, p->name) == NULL) {
                a = p;
                break;
            }
        }
        if (a != NULL) {
            snprintf(opt, sizeof opt, "%s", a->name);
            if (op_cli_store(a, opt, w, obj, e) != 0) {
                goto out;
            }
        } else if (rest_arg != NULL) {
            if (rest.len) {
                buf_addc(&rest, ' ');
            }
            buf_adds(&rest, w);
        } else {
            err_set(e, ERR_INVALID, "unexpected argument \"%.60s\" for 'beat %s'", w, op->cli);
            goto out;
        }
    }
    if (rest_arg != NULL && rest.len > 0) {
        json_object_set_new(obj, rest_arg->name, json_string_bytes(rest.data, rest.len));
    }
    rc = 0;
out:
    buf_fini(&rest);
    if (rc == 0) {
        *out = obj;
    } else {
        json_decref(obj);
    }
    return rc;
}

static const char *
op_cli_metavar(const struct op_arg *a)
{
    if (a->value_name) {
        return a->value_name;
    }
    switch (a->type) {
    case ARG_INTEGER:
        return "N";
    case ARG_ENUM:
        return "CHOICE";
    case ARG_STRING_ARRAY:
        return "LIST";
    default:
        return "TEXT";
    }
}

/* Prints usage and options of op. */
void
op_cli_help(const struct op *op, FILE *out)
{
    fprintf(out, "usage: beat %s", op->cli);
    for (const struct op_arg *a = op->args; a && a->name; a++) {
        if (a->flags & ARG_MCP_ONLY) {
            continue;
        }
        if (a->flags & (ARG_POSITIONAL | ARG_REST)) {
            const char *fmt = (a->flags & ARG_REQUIRED) ? " <%s>%s" : " [%s]%s";
            fprintf(out, fmt, a->value_name ? a->value_name : a->name,
                    (a->flags & ARG_REST) ? "..." : "");
        }
    }
    fprintf(out, " [options]\n\n%s\n", op->summary);
    bool header = false;
    for (const struct op_arg *a = op->args; a && a->name; a++) {
        if ((a->flags & ARG_MCP_ONLY) || (a->cli == NULL && a->cli_short == 0)) {
            continue;
        }
        if (!header) {
            fprintf(out, "\noptions:\n");
            header = true;
        }
        char left[96];
        int n = 0;
        if (a->cli_short) {
            n = snprintf(left, sizeof left, "-%c, ", a->cli_short);
        } else {
            n = snprintf(left, sizeof left, "    ");
        }
        if (a->cli) {
            n += snprintf(left + n, sizeof left - (size_t)n, "--%s", a->cli);
        }
        if (a->cli_alias) {
            n += snprintf(left + n, sizeof left - (size_t)n, ", --%s", a->cli_alias);
        }
        if (a->type != ARG_BOOLEAN) {
            snprintf(left + n, sizeof left - (size_t)n, " %s", op_cli_metavar(a));
        }
        fprintf(out, "  %-34s %s", left, a->help);
        if (a->type == ARG_ENUM) {
            fprintf(out, " (");
            for (const char *const *c = a->choices; *c; c++) {
                fprintf(out, "%s%s", c == a->choices ? "" : "|", *c);
            }
            fprintf(out, ")");
        } else if (a->type == ARG_INTEGER && a->max > 0) {
            fprintf(out, " (%lld..%lld)", (long long)a->min, (long long)a->max);
        }
        fputc('\n', out);
    }
}
