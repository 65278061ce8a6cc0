/* JSON-RPC 2.0 messages and line framing: classification of one line, strict validation of the
 * envelope, ids kept as text, and the builders of response lines. MCP methods and their params
 * are the session's business, not this file's. */
#include "mcp/jsonrpc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/json.h"
#include "util/xmalloc.h"

/* Strict parsing: duplicate keys are ambiguous (which "id"?). \u0000 is valid JSON, so it is
 * loaded (a request holding it still gets its answer); string lengths then come from jansson,
 * and a NUL where a C string is used is refused: the method here, tool arguments by
 * op_validate, naming the field. */
#define JSONRPC_LOAD_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL)

static void
msg_invalid(struct jsonrpc_msg *m, int code, const char *fmt, const char *arg)
{
    m->kind = JSONRPC_INVALID;
    m->error_code = code;
    snprintf(m->error_msg, sizeof m->error_msg, fmt, arg);
}

/* True when the token [s, s+n) is a JSON integer (-?[1-9][0-9]* or 0) too large for int64. */
static bool
is_huge_integer(const char *s, size_t n)
{
    size_t i = (n > 0 && s[0] == '-') ? 1 : 0;
    if (i >= n || s[i] < '1' || s[i] > '9') {
        return false;
    }
    for (size_t j = i; j < n; j++) {
        if (s[j] < '0' || s[j] > '9') {
            return false;
        }
    }
    if (n - i < 19) {
        return false;
    }
    if (n - i > 19) {
        return true;
    }
    /* Exactly 19 digits: compare with the int64 bounds as text. */
    const char *lim = s[0] == '-' ? "9223372036854775808" : "9223372036854775807";
    return memcmp(s + i, lim, 19) > 0;
}

/* jansson refuses integers beyond int64. Rewrites the text so it parses: the top-level "id"
 * becomes 0 and its digits are returned in *id_raw; any other huge integer gets ".0" appended
 * (a real: a tool argument then fails validation by type instead of the whole line failing).
 * Returns NULL when there is nothing to rewrite. */
static char *
rewrite_huge_integers(const char *s, size_t n, char **id_raw, size_t *out_len)
{
    struct buf out;
    int depth = 0;
    bool top_object = false, expect_key = false, key_is_id = false, value_is_id = false;
    bool changed = false;

    buf_init(&out);
    *id_raw = NULL;
    for (size_t i = 0; i < n;) {
        char c = s[i];
        if (c == '"') {
            size_t j = i + 1;
            while (j < n && s[j] != '"') {
                j += (s[j] == '\\') ? 2 : 1;
            }
            j = j < n ? j + 1 : n;
            if (depth == 1 && top_object && expect_key) {
                key_is_id = (j - i == 4 && memcmp(s + i, "\"id\"", 4) == 0);
            }
            buf_add(&out, s + i, j - i);
            i = j;
            continue;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i;
            while (j < n && (s[j] == '-' || s[j] == '+' || s[j] == '.' || s[j] == 'e' ||
                             s[j] == 'E' || (s[j] >= '0' && s[j] <= '9'))) {
                j++;
            }
            if (is_huge_integer(s + i, j - i)) {
                changed = true;
                if (depth == 1 && top_object && value_is_id && *id_raw == NULL) {
                    *id_raw = xstrndup(s + i, j - i);
                    buf_addc(&out, '0');
                } else {
                    buf_add(&out, s + i, j - i);
                    buf_adds(&out, ".0");
                }
            } else {
                buf_add(&out, s + i, j - i);
            }
            i = j;
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
            if (depth == 1) {
                top_object = (c == '{');
                expect_key = top_object;
            }
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == ',' && depth == 1) {
            expect_key = top_object;
            value_is_id = false;
        } else if (c == ':' && depth == 1) {
            expect_key = false;
            value_is_id = key_is_id;
        }
        buf_addc(&out, c);
        i++;
    }
    if (!changed) {
        buf_fini(&out);
        return NULL;
    }
    *out_len = out.len;
    return buf_take(&out);
}

static json_t *
load_line(const char *line, size_t len, char **id_raw, json_error_t *je)
{
    *id_raw = NULL;
    json_t *v = json_loadb(line, len, JSONRPC_LOAD_FLAGS, je);
    if (v != NULL || json_error_code(je) != json_error_numeric_overflow) {
        return v;
    }
    size_t n = 0;
    char *fixed = rewrite_huge_integers(line, len, id_raw, &n);
    if (fixed == NULL) {
        return NULL; /* a real out of range: the first error stands */
    }
    json_error_t je2;
    v = json_loadb(fixed, n, JSONRPC_LOAD_FLAGS, &je2);
    free(fixed);
    if (v == NULL) {
        free(*id_raw);
        *id_raw = NULL;
    }
    return v;
}

/* The id text of a string or integer value, or NULL. */
char *
jsonrpc_id_text(const json_t *id)
{
    if (json_is_integer(id)) {
        return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(id));
    }
    if (json_is_string(id)) {
        return json_dump_compact(id);
    }
    return NULL;
}

/* Parses and classifies one line. */
enum jsonrpc_kind
jsonrpc_parse(const char *line, size_t len, struct jsonrpc_msg *m)
{
    json_error_t je;
    char *id_raw = NULL;

    memset(m, 0, sizeof *m);
    if (len > JSONRPC_MAX_MESSAGE) {
        m->id = xstrdup("null");
        msg_invalid(m, JSONRPC_INVALID_REQUEST, "message exceeds %s bytes", "4194304");
        return m->kind;
    }
    json_t *root = load_line(line, len, &id_raw, &je);
    if (root == NULL) {
        m->id = xstrdup("null");
        snprintf(m->error_msg, sizeof m->error_msg, "parse error at line %d column %d: %s", je.line,
                 je.column, je.text);
        m->kind = JSONRPC_INVALID;
        m->error_code = JSONRPC_PARSE_ERROR;
        return m->kind;
    }
    m->root = root;
    if (json_is_array(root)) {
        m->id = xstrdup("null");
        msg_invalid(m, JSONRPC_INVALID_REQUEST, "%s", "batches are not supported");
        goto out;
    }
    if (!json_is_object(root)) {
        m->id = xstrdup("null");
        msg_invalid(m, JSONRPC_INVALID_REQUEST, "%s", "a message must be a JSON object");
        goto out;
    }

    /* The id first, so that every later error can echo it. */
    json_t *id = json_object_get(root, "id");
    bool has_id = id != NULL;
    if (id_raw != NULL) {
        m->id = id_raw;
        id_raw = NULL;
    } else if (json_is_null(id)) {
        m->id = xstrdup("null");
    } else if (id != NULL) {
        m->id = jsonrpc_id_text(id);
        if (m->id == NULL) {
            m->id = xstrdup("null");
            msg_invalid(m, JSONRPC_INVALID_REQUEST, "%s", "id must be a string or an integer");
            goto out;
        }
    }

    const char *version = json_get_str(root, "jsonrpc");
    if (version == NULL || strcmp(version, "2.0") != 0) {
        if (m->id == NULL) {
            m->id = xstrdup("null");
        }
        msg_invalid(m, JSONRPC_INVALID_REQUEST, "%s", "jsonrpc must be \"2.0\"");
        goto out;
    }

    json_t *method = json_object_get(root, "method");
    if (method == NULL) {
        json_t *result = json_object_get(root, "result");
        json_t *error = json_object_get(root, "error");
        if (!has_id || (result == NULL) == (error == NULL)) {
            if (m->id == NULL) {
                m->id = xstrdup("null");
            }
            msg_invalid(m, JSONRPC_INVALID_REQUEST, "%s",
                        result == NULL && error == NULL ? "missing method"
                        : !has_id                       ? "a response needs an id"
                                  : "a response has exactly one of result and error");
            goto out;
        }
        if (error != NULL && !json_is_object(error)) {
            msg_invalid(m, JSONRPC_INVALID_REQUEST, "%s", "error must be an object");
            goto out;
        }
        m->kind = JSONRPC_RESPONSE;
        m->result = result;
        m->error = error;
        goto out;
    }
    if (!json_is_string(method)) {
        if (m->id == NULL) {
            m->id = xstrdup("null");
        }
        msg_invalid(m, JSONRPC_INVALID_REQUEST, "%s", "method must be a string");
        goto out;
    }
    if (strlen(json_string_value(method)) != json_string_length(method)) {
        if (m->id == NULL) {
            m->id = xstrdup("null");
        }
        msg_invalid(m, JSONRPC_INVALID_REQUEST, "%s", "method must not contain NUL characters");
        goto out;
    }
    if (has_id && json_is_null(id)) {
        msg_invalid(m, JSONRPC_INVALID_REQUEST, "%s", "a request id must not be null");
        goto out;
    }
    json_t *params = json_object_get(root, "params");
    if (params != NULL && !json_is_object(params) && !json_is_array(params)) {
        if (m->id == NULL) {
            m->id = xstrdup("null");
        }
        msg_invalid(m, JSONRPC_INVALID_REQUEST, "%s", "params must be an object or an array");
        goto out;
    }
    m->method = json_string_value(method);
    m->params = params;
    m->kind = has_id ? JSONRPC_REQUEST : JSONRPC_NOTIFICATION;
out:
    free(id_raw);
    return m->kind;
}

/* Releases a parsed message. */
void
jsonrpc_msg_fini(struct jsonrpc_msg *m)
{
    if (m == NULL) {
        return;
    }
    json_decref(m->root);
    free(m->id);
    memset(m, 0, sizeof *m);
}

static void
add_json(struct buf *b, const json_t *v)
{
    char *s = json_dump_compact(v);
    buf_adds(b, s);
    free(s);
}

static char *
finish_line(struct buf *b, size_t *len_out)
{
    if (len_out != NULL) {
        *len_out = b->len;
    }
    return buf_take(b);
}

/* Builds a result response line. */
char *
jsonrpc_result_line(const char *id, const json_t *result, size_t *len_out)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":", id ? id : "null");
    if (result != NULL) {
        add_json(&b, result);
    } else {
        buf_adds(&b, "{}");
    }
    buf_addc(&b, '}');
    return finish_line(&b, len_out);
}

/* Builds an error response line. */
char *
jsonrpc_error_line(const char *id, int code, const char *message, const json_t *data,
                   size_t *len_out)
{
    json_t *err = json_object();
    json_object_set_new(err, "code", json_integer(code));
    json_object_set_new(err, "message", json_string_bytes(message, strlen(message)));
    if (data != NULL) {
        json_object_set(err, "data", (json_t *)data);
    }
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":", id ? id : "null");
    add_json(&b, err);
    buf_addc(&b, '}');
    json_decref(err);
    return finish_line(&b, len_out);
}

/* Builds a request line. */
char *
jsonrpc_request_line(const char *id, const char *method, const json_t *params, size_t *len_out)
{
    struct buf b;
    json_t *m = json_string(method);
    buf_init(&b);
    buf_printf(&b, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":", id ? id : "null");
    add_json(&b, m);
    if (params != NULL) {
        buf_adds(&b, ",\"params\":");
        add_json(&b, params);
    }
    buf_addc(&b, '}');
    json_decref(m);
    return finish_line(&b, len_out);
}

/* Builds a notification line. */
char *
jsonrpc_notification_line(const char *method, const json_t *params, size_t *len_out)
{
    struct buf b;
    json_t *m = json_string(method);
    buf_init(&b);
    buf_adds(&b, "{\"jsonrpc\":\"2.0\",\"method\":");
    add_json(&b, m);
    if (params != NULL) {
        buf_adds(&b, ",\"params\":");
        add_json(&b, params);
    }
    buf_addc(&b, '}');
    json_decref(m);
    return finish_line(&b, len_out);
}

/* Initialises a framer that accepts lines of at most max bytes. */
void
jsonrpc_framer_init(struct jsonrpc_framer *f, size_t max)
{
    buf_init(&f->partial);
    f->max = max;
    f->discarding = false;
}

/* Releases the framer's buffer. */
void
jsonrpc_framer_fini(struct jsonrpc_framer *f)
{
    buf_fini(&f->partial);
    f->discarding = false;
}

static bool
is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') {
            return false;
        }
    }
    return true;
}

static void
emit_line(struct jsonrpc_framer *f, const char *line, size_t len, jsonrpc_line_fn fn, void *arg)
{
    if (len > 0 && line[len - 1] == '\r') {
        len--;
    }
    if (len > f->max) {
        fn(arg, NULL, len, true);
        return;
    }
    if (!is_blank(line, len)) {
        fn(arg, line, len, false);
    }
}

/* Feeds bytes and emits the lines they complete. */
void
jsonrpc_framer_feed(struct jsonrpc_framer *f, const char *data, size_t len, jsonrpc_line_fn fn,
                    void *arg)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t seg = nl ? (size_t)(nl - data) : len;
        if (f->discarding) {
            if (nl == NULL) {
                return;
            }
            f->discarding = false;
        } else if (nl == NULL) {
            buf_add(&f->partial, data, seg);
            /* +1 leaves room for a '\r' that a following '\n' would strip. */
            if (f->partial.len > f->max + 1) {
                buf_fini(&f->partial);
                f->discarding = true;
                fn(arg, NULL, f->max + 1, true);
            }
            return;
        } else if (f->partial.len > 0) {
            buf_add(&f->partial, data, seg);
            /* Move the line out first: the callback may feed nothing, but keep it simple. */
            struct buf line = f->partial;
            buf_init(&f->partial);
            emit_line(f, line.data, line.len, fn, arg);
            buf_fini(&line);
        } else {
            emit_line(f, data, seg, fn, arg);
        }
        data += seg + 1;
        len -= seg + 1;
    }
}
