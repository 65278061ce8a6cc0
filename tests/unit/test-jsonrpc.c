/* JSON-RPC parsing, table-driven: every message kind, every error path, ids of every type
 * (echoed exactly, even beyond int64), the builders, and the line framer under any chunking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka needs the headers above first. */
#include <cmocka.h>

#include "mcp/jsonrpc.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/xmalloc.h"

struct parse_case {
    const char *line;
    enum jsonrpc_kind kind;
    const char *id;     /* expected id text, NULL for none */
    const char *method; /* expected method, NULL for none */
    int code;           /* JSONRPC_INVALID: expected code */
    const char *msg;    /* JSONRPC_INVALID: a substring of the message */
};

static const struct parse_case parse_cases[] = {
    /* Requests and ids of every accepted type. */
    { "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", JSONRPC_REQUEST, "1", "ping", 0, NULL },
    { "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{}}", JSONRPC_REQUEST,
      "0", "initialize", 0, NULL },
    { "{\"jsonrpc\":\"2.0\",\"id\":\"0\",\"method\":\"ping\"}", JSONRPC_REQUEST, "\"0\"", "ping", 0,
      NULL },
    { "{\"jsonrpc\":\"2.0\",\"id\":-1,\"method\":\"ping\"}", JSONRPC_REQUEST, "-1", "ping", 0,
      NULL },
    { "{\"jsonrpc\":\"2.0\",\"id\":9223372036854775807,\"method\":\"ping\"}", JSONRPC_REQUEST,
      "9223372036854775807", "ping", 0, NULL },
    { "{\"jsonrpc\":\"2.0\",\"id\":-9223372036854775808,\"method\":\"ping\"}", JSONRPC_REQUEST,
      "-9223372036854775808", "ping", 0, NULL },
    /* Beyond int64: jansson cannot hold them; the digits are kept as text. */
    { "{\"jsonrpc\":\"2.0\",\"id\":9223372036854775808,\"method\":\"ping\"}", JSONRPC_REQUEST,
      "9223372036854775808", "ping", 0, NULL },
    { "{\"jsonrpc\":\"2.0\",\"id\":12345678901234567890,\"method\":\"ping\"}", JSONRPC_REQUEST,
      "12345678901234567890", "ping", 0, NULL },
    { "{\"method\":\"ping\",\"id\":-123456789012345678901234567890,\"jsonrpc\":\"2.0\"}",
      JSONRPC_REQUEST, "-123456789012345678901234567890", "ping", 0, NULL },
    /* A huge number elsewhere does not stop the message; "id" inside params is not the id. */
    { "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"x\",\"params\":{\"id\":99999999999999999999}}",
      JSONRPC_REQUEST, "7", "x", 0, NULL },
    { "{\"jsonrpc\":\"2.0\",\"id\":\"server-discover-probe-1\",\"method\":\"server/discover\"}",
      JSONRPC_REQUEST, "\"server-discover-probe-1\"", "server/discover", 0, NULL },
    { "{\"jsonrpc\":\"2.0\",\"id\":\"a\\\"b\\u00e9\",\"method\":\"ping\"}", JSONRPC_REQUEST,
      "\"a\\\"b\xc3\xa9\"", "ping", 0, NULL },
    { "{\"jsonrpc\":\"2.0\",\"id\":\"\",\"method\":\"ping\"}", JSONRPC_REQUEST, "\"\"", "ping", 0,
      NULL },
    { "  {\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"m\",\"params\":[1,2]}  ", JSONRPC_REQUEST, "3",
      "m", 0, NULL },
    /* Notifications. */
    { "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", JSONRPC_NOTIFICATION, NULL,
      "notifications/initialized", 0, NULL },
    { "{\"jsonrpc\":\"2.0\",\"method\":\"n\",\"params\":{\"a\":1}}", JSONRPC_NOTIFICATION, NULL,
      "n", 0, NULL },
    /* Responses. */
    { "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}", JSONRPC_RESPONSE, "5", NULL, 0, NULL },
    { "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"x\"}}",
      JSONRPC_RESPONSE, "null", NULL, 0, NULL },
    { "{\"jsonrpc\":\"2.0\",\"id\":\"r\",\"result\":null}", JSONRPC_RESPONSE, "\"r\"", NULL, 0,
      NULL },
    /* Parse errors: id unknown, so null. */
    { "", JSONRPC_INVALID, "null", NULL, JSONRPC_PARSE_ERROR, "parse error" },
    { "{", JSONRPC_INVALID, "null", NULL, JSONRPC_PARSE_ERROR, "parse error" },
    { "not json", JSONRPC_INVALID, "null", NULL, JSONRPC_PARSE_ERROR, "parse error" },
    { "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"} trailing", JSONRPC_INVALID, "null", NULL,
      JSONRPC_PARSE_ERROR, "parse error" },
    { "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"ping\"}", JSONRPC_INVALID, "null", NULL,
      JSONRPC_PARSE_ERROR, "duplicate" },
    { "{\"jsonrpc\":\"2.0\",\"id\":01,\"method\":\"ping\"}", JSONRPC_INVALID, "null", NULL,
      JSONRPC_PARSE_ERROR, "parse error" },
    /* \u0000 is valid JSON: the request is answered, with its id. */
    { "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\\u0000b\"}", JSONRPC_INVALID, "1", NULL,
      JSONRPC_INVALID_REQUEST, "method must not contain NUL" },
    { "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"arguments\":"
      "{\"prompt\":\"a\\u0000b\"}}}",
      JSONRPC_REQUEST, "9", "tools/call", 0, NULL },
    { "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"x\":1e999}}", JSONRPC_INVALID,
      "null", NULL, JSONRPC_PARSE_ERROR, "parse error" },
    { "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}", JSONRPC_INVALID, "null", NULL,
      JSONRPC_PARSE_ERROR, "parse error" },
    /* Invalid requests. */
    { "[]", JSONRPC_INVALID, "null", NULL, JSONRPC_INVALID_REQUEST, "batches are not supported" },
    { "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", JSONRPC_INVALID, "null", NULL,
      JSONRPC_INVALID_REQUEST, "batches are not supported" },
    { "42", JSONRPC_INVALID, "null", NULL, JSONRPC_INVALID_REQUEST, "must be a JSON object" },
    { "\"str\"", JSONRPC_INVALID, "null", NULL, JSONRPC_INVALID_REQUEST, "JSON object" },
    { "null", JSONRPC_INVALID, "null", NULL, JSONRPC_INVALID_REQUEST, "JSON object" },
    { "{\"id\":1,\"method\":\"ping\"}", JSONRPC_INVALID, "1", NULL, JSONRPC_INVALID_REQUEST,
      "jsonrpc must be \"2.0\"" },
    { "{\"jsonrpc\":\"1.0\",\"id\":\"x\",\"method\":\"ping\"}", JSONRPC_INVALID, "\"x\"", NULL,
      JSONRPC_INVALID_REQUEST, "jsonrpc must be" },
    { "{\"jsonrpc\":2.0,\"id\":1,\"method\":\"ping\"}", JSONRPC_INVALID, "1", NULL,
      JSONRPC_INVALID_REQUEST, "jsonrpc must be" },
    /* Ids: MCP allows strings and integers only. Floats are refused, even 1.0. */
    { "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", JSONRPC_INVALID, "null", NULL,
      JSONRPC_INVALID_REQUEST, "id must be a string or an integer" },
    { "{\"jsonrpc\":\"2.0\",\"id\":1.0,\"method\":\"ping\"}", JSONRPC_INVALID, "null", NULL,
      JSONRPC_INVALID_REQUEST, "id must be" },
    { "{\"jsonrpc\":\"2.0\",\"id\":1e3,\"method\":\"ping\"}", JSONRPC_INVALID, "null", NULL,
      JSONRPC_INVALID_REQUEST, "id must be" },
    { "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}", JSONRPC_INVALID, "null", NULL,
      JSONRPC_INVALID_REQUEST, "id must be" },
    { "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", JSONRPC_INVALID, "null", NULL,
      JSONRPC_INVALID_REQUEST, "id must be" },
    { "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"ping\"}", JSONRPC_INVALID, "null", NULL,
      JSONRPC_INVALID_REQUEST, "id must be" },
    { "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", JSONRPC_INVALID, "null", NULL,
      JSONRPC_INVALID_REQUEST, "must not be null" },
    { "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":5}", JSONRPC_INVALID, "4", NULL,
      JSONRPC_INVALID_REQUEST, "method must be a string" },
    { "{\"jsonrpc\":\"2.0\",\"method\":null}", JSONRPC_INVALID, "null", NULL,
      JSONRPC_INVALID_REQUEST, "method must be a string" },
    { "{\"jsonrpc\":\"2.0\",\"id\":4}", JSONRPC_INVALID, "4", NULL, JSONRPC_INVALID_REQUEST,
      "missing method" },
    { "{\"jsonrpc\":\"2.0\"}", JSONRPC_INVALID, "null", NULL, JSONRPC_INVALID_REQUEST,
      "missing method" },
    { "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"m\",\"params\":\"x\"}", JSONRPC_INVALID, "6",
      NULL, JSONRPC_INVALID_REQUEST, "params must be an object or an array" },
    { "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"m\",\"params\":null}", JSONRPC_INVALID, "6", NULL,
      JSONRPC_INVALID_REQUEST, "params must be" },
    { "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":3}", JSONRPC_INVALID, "null", NULL,
      JSONRPC_INVALID_REQUEST, "params must be" },
    { "{\"jsonrpc\":\"2.0\",\"result\":{}}", JSONRPC_INVALID, "null", NULL, JSONRPC_INVALID_REQUEST,
      "needs an id" },
    { "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{}}", JSONRPC_INVALID, "1", NULL,
      JSONRPC_INVALID_REQUEST, "exactly one of result and error" },
    { "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":5}", JSONRPC_INVALID, "1", NULL,
      JSONRPC_INVALID_REQUEST, "error must be an object" },
};

static void
test_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
        const struct parse_case *c = &parse_cases[i];
        struct jsonrpc_msg m;
        enum jsonrpc_kind kind = jsonrpc_parse(c->line, strlen(c->line), &m);
        if (kind != c->kind) {
            fail_msg("case %zu (%s): kind %d, want %d (%s)", i, c->line, kind, c->kind,
                     m.error_msg);
        }
        if (c->id == NULL) {
            assert_null(m.id);
        } else {
            assert_non_null(m.id);
            if (strcmp(m.id, c->id) != 0) {
                fail_msg("case %zu (%s): id %s, want %s", i, c->line, m.id, c->id);
            }
        }
        if (c->method != NULL) {
            assert_string_equal(m.method, c->method);
        }
        if (kind == JSONRPC_INVALID) {
            assert_int_equal(m.error_code, c->code);
            if (strstr(m.error_msg, c->msg) == NULL) {
                fail_msg("case %zu (%s): message \"%s\" lacks \"%s\"", i, c->line, m.error_msg,
                         c->msg);
            }
        }
        jsonrpc_msg_fini(&m);
    }
}

static void
test_parse_parts(void **state)
{
    (void)state;
    struct jsonrpc_msg m;
    const char *line = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{"
                       "\"name\":\"X\",\"n\":99999999999999999999}}";
    assert_int_equal(jsonrpc_parse(line, strlen(line), &m), JSONRPC_REQUEST);
    assert_string_equal(json_get_str(m.params, "name"), "X");
    /* A huge integer outside the id becomes a real rather than failing the whole line. */
    assert_true(json_is_real(json_object_get(m.params, "n")));
    jsonrpc_msg_fini(&m);

    line = "{\"jsonrpc\":\"2.0\",\"id\":9,\"error\":{\"code\":-32601,\"message\":\"no\"}}";
    assert_int_equal(jsonrpc_parse(line, strlen(line), &m), JSONRPC_RESPONSE);
    assert_null(m.result);
    assert_int_equal(json_get_int(m.error, "code", 0), -32601);
    jsonrpc_msg_fini(&m);

    /* Length is honoured: bytes after len are not part of the message. */
    line = "{\"jsonrpc\":\"2.0\",\"method\":\"n\"}GARBAGE";
    assert_int_equal(jsonrpc_parse(line, strlen(line) - 7, &m), JSONRPC_NOTIFICATION);
    jsonrpc_msg_fini(&m);

    /* Longer than the cap, even if valid. */
    size_t big = JSONRPC_MAX_MESSAGE + 1;
    char *huge = xmalloc(big);
    memset(huge, ' ', big);
    assert_int_equal(jsonrpc_parse(huge, big, &m), JSONRPC_INVALID);
    assert_int_equal(m.error_code, JSONRPC_INVALID_REQUEST);
    assert_string_equal(m.error_msg, "message exceeds 4194304 bytes");
    assert_string_equal(m.id, "null");
    jsonrpc_msg_fini(&m);
    free(huge);

    /* fini on a zeroed or already finished message is harmless. */
    jsonrpc_msg_fini(&m);
    jsonrpc_msg_fini(NULL);
}

static void
test_id_text(void **state)
{
    (void)state;
    json_t *v = json_integer(0);
    char *s = jsonrpc_id_text(v);
    assert_string_equal(s, "0");
    free(s);
    json_decref(v);
    v = json_string("a\nb");
    s = jsonrpc_id_text(v);
    assert_string_equal(s, "\"a\\nb\"");
    free(s);
    json_decref(v);
    v = json_real(1.5);
    assert_null(jsonrpc_id_text(v));
    json_decref(v);
    assert_null(jsonrpc_id_text(NULL));
}

/* Every id that parses is echoed byte for byte in a response, and that response parses back
 * to the same id. */
static void
test_id_round_trip(void **state)
{
    (void)state;
    const char *ids[] = { "0",
                          "\"0\"",
                          "-1",
                          "9223372036854775807",
                          "-9223372036854775808",
                          "12345678901234567890",
                          "\"server-discover-probe-1\"",
                          "\"\"",
                          "99999999999999999999999999999999999999999999" };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char *req = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"m\"}", ids[i]);
        struct jsonrpc_msg m;
        assert_int_equal(jsonrpc_parse(req, strlen(req), &m), JSONRPC_REQUEST);
        assert_string_equal(m.id, ids[i]);
        size_t len;
        json_t *res = json_object();
        char *line = jsonrpc_result_line(m.id, res, &len);
        char *want = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{}}", ids[i]);
        assert_string_equal(line, want);
        assert_int_equal(len, strlen(want));
        struct jsonrpc_msg back;
        assert_int_equal(jsonrpc_parse(line, len, &back), JSONRPC_RESPONSE);
        assert_string_equal(back.id, ids[i]);
        jsonrpc_msg_fini(&back);
        jsonrpc_msg_fini(&m);
        json_decref(res);
        free(want);
        free(line);
        free(req);
    }
}

static void
test_builders(void **state)
{
    (void)state;
    size_t len;
    char *line =
        jsonrpc_error_line(NULL, JSONRPC_METHOD_NOT_FOUND, "Method not found: x", NULL, &len);
    assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32601,"
                              "\"message\":\"Method not found: x\"}}");
    assert_int_equal(len, strlen(line));
    free(line);

    /* Newlines inside strings are escaped: a line never contains '\n'. */
    json_t *data = json_pack("{s:s}", "why", "two\nlines");
    line = jsonrpc_error_line("\"i\"", -32000, "bad\nthing", data, NULL);
    assert_null(strchr(line, '\n'));
    assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"id\":\"i\",\"error\":{\"code\":-32000,"
                              "\"message\":\"bad\\nthing\",\"data\":{\"why\":\"two\\nlines\"}}}");
    free(line);

    /* Invalid UTF-8 in a message is repaired, never produces invalid JSON. */
    line = jsonrpc_error_line("1", -32602, "bad \xff byte", NULL, &len);
    struct jsonrpc_msg m;
    assert_int_equal(jsonrpc_parse(line, len, &m), JSONRPC_RESPONSE);
    jsonrpc_msg_fini(&m);
    free(line);

    line = jsonrpc_result_line("7", data, NULL);
    assert_string_equal(line,
                        "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"why\":\"two\\nlines\"}}");
    free(line);
    line = jsonrpc_result_line("7", NULL, NULL);
    assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}");
    free(line);

    line = jsonrpc_notification_line("notifications/progress", data, NULL);
    assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\","
                              "\"params\":{\"why\":\"two\\nlines\"}}");
    free(line);
    line = jsonrpc_notification_line("notifications/initialized", NULL, NULL);
    assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    free(line);

    line = jsonrpc_request_line("0", "initialize", data, NULL);
    assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\","
                              "\"params\":{\"why\":\"two\\nlines\"}}");
    free(line);
    line = jsonrpc_request_line("\"p\"", "ping", NULL, NULL);
    assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}");
    free(line);
    json_decref(data);
}

/* ---- framer ---- */

struct lines {
    struct buf all; /* each line followed by '|', "<TOO LONG>" for refused ones */
    int count;
    int too_long;
};

static void
lines_cb(void *arg, const char *line, size_t len, bool too_long)
{
    struct lines *l = arg;
    if (too_long) {
        assert_null(line);
        buf_adds(&l->all, "<TOO LONG>|");
        l->too_long++;
        return;
    }
    assert_non_null(line);
    assert_null(memchr(line, '\n', len));
    buf_add(&l->all, line, len);
    buf_addc(&l->all, '|');
    l->count++;
}

/* Feeds input in chunks of every size from 1 to its length; the lines never change. */
static void
check_chunked(const char *input, size_t max, const char *want)
{
    size_t n = strlen(input);
    for (size_t chunk = 1; chunk <= n; chunk++) {
        struct jsonrpc_framer f;
        struct lines l = { 0 };
        buf_init(&l.all);
        jsonrpc_framer_init(&f, max);
        for (size_t off = 0; off < n; off += chunk) {
            size_t k = n - off < chunk ? n - off : chunk;
            jsonrpc_framer_feed(&f, input + off, k, lines_cb, &l);
        }
        if (strcmp(l.all.data ? l.all.data : "", want) != 0) {
            fail_msg("chunk %zu: got \"%s\", want \"%s\"", chunk, l.all.data, want);
        }
        jsonrpc_framer_fini(&f);
        buf_fini(&l.all);
    }
}

static void
test_framer(void **state)
{
    (void)state;
    check_chunked("{\"a\":1}\n", 100, "{\"a\":1}|");
    check_chunked("one\ntwo\nthree\n", 100, "one|two|three|");
    check_chunked("crlf\r\nlf\n", 100, "crlf|lf|");
    check_chunked("\n\n\r\n  \n\t\r\nx\n\n", 100, "x|");
    check_chunked("incomplete", 100, "");
    check_chunked("done\nincomplete", 100, "done|");
    /* Exactly max is fine; max + 1 is refused, once, and the next line is read again. */
    check_chunked("12345\n", 5, "12345|");
    check_chunked("12345\r\n", 5, "12345|");
    check_chunked("123456\nok\n", 5, "<TOO LONG>|ok|");
    check_chunked("      \nok\n", 5, "<TOO LONG>|ok|"); /* blank, yet too long */
    check_chunked("1234567890123\nok\n", 5, "<TOO LONG>|ok|");
    check_chunked("a\n1234567890123456789\nb\n1234567\nc\n", 5, "a|<TOO LONG>|b|<TOO LONG>|c|");
    /* A refused line that never ends is refused once and swallows what follows. */
    check_chunked("12345678901234567890", 5, "<TOO LONG>|");
}

static void
test_framer_big(void **state)
{
    (void)state;
    /* The real cap: a 4 MiB line passes, 4 MiB + 1 does not, and the stream survives. */
    size_t n = JSONRPC_MAX_MESSAGE;
    char *data = xmalloc(2 * n + 16);
    memset(data, 'x', n);
    data[n] = '\n';
    memset(data + n + 1, 'y', n + 1);
    data[2 * n + 2] = '\n';
    memcpy(data + 2 * n + 3, "next\n", 5);
    struct jsonrpc_framer f;
    struct lines l = { 0 };
    buf_init(&l.all);
    jsonrpc_framer_init(&f, JSONRPC_MAX_MESSAGE);
    for (size_t off = 0; off < 2 * n + 8; off += 65536) {
        size_t k = 2 * n + 8 - off < 65536 ? 2 * n + 8 - off : 65536;
        jsonrpc_framer_feed(&f, data + off, k, lines_cb, &l);
    }
    assert_int_equal(l.count, 2);
    assert_int_equal(l.too_long, 1);
    assert_int_equal(l.all.len, n + 1 + strlen("<TOO LONG>|next|"));
    assert_string_equal(l.all.data + n + 1, "<TOO LONG>|next|");
    /* While discarding, nothing is buffered. */
    assert_int_equal(f.partial.len, 0);
    jsonrpc_framer_fini(&f);
    buf_fini(&l.all);
    free(data);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table), cmocka_unit_test(test_parse_parts),
        cmocka_unit_test(test_id_text),     cmocka_unit_test(test_id_round_trip),
        cmocka_unit_test(test_builders),    cmocka_unit_test(test_framer),
        cmocka_unit_test(test_framer_big),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
