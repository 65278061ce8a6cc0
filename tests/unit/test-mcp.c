/* The MCP layer: a session driven line by line (lifecycle, errors, tools dispatch without an
 * engine), the socket server and the blocking client against a real daemon-like process (this
 * binary run as `test-mcp daemon`, which the client's autostart starts), and the stdio relay
 * against a scripted daemon (handshake injection, restart handling, oversize lines, signals). */
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka needs the headers above first. */
#include <cmocka.h>

#include <uv.h>

#include "core/op.h"
#include "mcp/client.h"
#include "mcp/jsonrpc.h"
#include "mcp/relay.h"
#include "mcp/server.h"
#include "mcp/session.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/xmalloc.h"

#define DEADLINE_MS 10000

/* ---- a session with a capturing send ---- */

struct capture {
    char *lines[64];
    int n;
};

static void
capture_send(void *arg, const char *line, size_t len)
{
    struct capture *c = arg;
    assert_null(memchr(line, '\n', len));
    assert_int_equal(strlen(line), len);
    assert_true(c->n < 64);
    c->lines[c->n++] = xstrndup(line, len);
}

static void
capture_clear(struct capture *c)
{
    for (int i = 0; i < c->n; i++) {
        free(c->lines[i]);
    }
    c->n = 0;
}

/* Feeds one line and returns the single message it produced (parsed), or NULL for none. */
static json_t *
feed(struct mcp_session *s, struct capture *c, const char *line)
{
    capture_clear(c);
    mcp_session_handle_line(s, line, strlen(line));
    if (c->n == 0) {
        return NULL;
    }
    assert_int_equal(c->n, 1);
    json_error_t je;
    json_t *v = json_loads(c->lines[0], 0, &je);
    assert_non_null(v);
    assert_string_equal(json_get_str(v, "jsonrpc"), "2.0");
    return v;
}

/* Asserts that v is an error response with code, the id text and a message containing msg. */
static void
assert_error(json_t *v, const char *id, int code, const char *msg)
{
    assert_non_null(v);
    char *got_id = json_dump_compact(json_object_get(v, "id"));
    assert_string_equal(got_id, id);
    free(got_id);
    json_t *err = json_object_get(v, "error");
    assert_non_null(err);
    assert_int_equal(json_get_int(err, "code", 0), code);
    const char *m = json_get_str(err, "message");
    assert_non_null(m);
    if (strstr(m, msg) == NULL) {
        fail_msg("error message \"%s\" lacks \"%s\"", m, msg);
    }
    json_decref(v);
}

static json_t *
assert_result(json_t *v, const char *id)
{
    assert_non_null(v);
    char *got_id = json_dump_compact(json_object_get(v, "id"));
    assert_string_equal(got_id, id);
    free(got_id);
    if (json_object_get(v, "error")) {
        char *s = json_dump_compact(v);
        fail_msg("unexpected error: %s", s);
    }
    json_t *r = json_incref(json_object_get(v, "result"));
    assert_non_null(r);
    json_decref(v);
    return r;
}

#define INIT_LINE(id, version)                                    \
    "{\"jsonrpc\":\"2.0\",\"id\":" id                             \
    ",\"method\":\"initialize\",\"params\":{\"protocolVersion\":" \
    "\"" version "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}"

static struct mcp_session *
session_ready(struct capture *c)
{
    struct mcp_session *s = mcp_session_new(NULL, capture_send, c);
    json_decref(assert_result(feed(s, c, INIT_LINE("0", "2025-06-18")), "0"));
    assert_null(feed(s, c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"));
    return s;
}

static void
test_session_initialize(void **state)
{
    (void)state;
    struct capture c = { 0 };
    const char *versions[][2] = {
        { "2025-11-25", "2025-11-25" }, { "2025-06-18", "2025-06-18" },
        { "2025-03-26", "2025-03-26" }, { "2024-11-05", "2024-11-05" },
        { "1999-01-01", "2025-11-25" }, { "2026-07-28", "2025-11-25" },
    };
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        struct mcp_session *s = mcp_session_new(NULL, capture_send, &c);
        char *line = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\","
                               "\"params\":{\"protocolVersion\":\"%s\",\"capabilities\":{},"
                               "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}",
                               versions[i][0]);
        json_t *r = assert_result(feed(s, &c, line), "0");
        assert_string_equal(json_get_str(r, "protocolVersion"), versions[i][1]);
        json_t *info = json_object_get(r, "serverInfo");
        assert_string_equal(json_get_str(info, "name"), "backbeat");
        assert_string_equal(json_get_str(info, "version"), BEAT_VERSION);
        assert_string_equal(json_get_str(info, "title"), "Backbeat");
        json_t *caps = json_object_get(r, "capabilities");
        assert_true(json_is_false(json_object_get(json_object_get(caps, "tools"), "listChanged")));
        assert_true(json_is_object(json_object_get(caps, "logging")));
        const char *instr = json_get_str(r, "instructions");
        assert_non_null(instr);
        assert_non_null(strstr(instr, "DelegateTask"));
        assert_non_null(strstr(instr, "WaitForTask"));
        assert_non_null(strstr(instr, "TaskLogs"));
        json_decref(r);
        /* A second initialize on the same session is refused. */
        assert_error(feed(s, &c, line), "0", JSONRPC_INVALID_REQUEST, "already initialized");
        free(line);
        mcp_session_free(s);
    }

    struct mcp_session *s = mcp_session_new(NULL, capture_send, &c);
    assert_error(feed(s, &c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}"), "1",
                 JSONRPC_INVALID_PARAMS, "protocolVersion must be a string");
    assert_error(feed(s, &c,
                      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
                      "\"protocolVersion\":7}}"),
                 "1", JSONRPC_INVALID_PARAMS, "protocolVersion");
    assert_error(
        feed(s, &c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":[]}"), "1",
        JSONRPC_INVALID_PARAMS, "params must be an object");
    capture_clear(&c);
    mcp_session_free(s);
    mcp_session_free(NULL);
}

static void
test_session_client_context(void **state)
{
    (void)state;
    struct capture c = { 0 };
    struct {
        const char *meta;
        const char *error; /* NULL: accepted */
    } cases[] = {
        { "{\"cwd\":\"/tmp\",\"env\":{\"PATH\":\"/bin\"},\"version\":\"0.1.0\"}", NULL },
        { "{}", NULL },
        { "{\"cwd\":\"relative\"}", "cwd: must be an absolute path" },
        { "{\"cwd\":5}", "cwd: must be an absolute path" },
        { "{\"env\":[]}", "env: must be an object" },
        { "{\"env\":{\"A\":1}}", "env.A: must be a string" },
        { "7", "must be an object" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mcp_session *s = mcp_session_new(NULL, capture_send, &c);
        char *line = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":"
                               "{\"protocolVersion\":\"2025-11-25\",\"_meta\":{\"other\":1,"
                               "\"backbeat/client\":%s}}}",
                               cases[i].meta);
        if (cases[i].error == NULL) {
            json_decref(assert_result(feed(s, &c, line), "0"));
        } else {
            assert_error(feed(s, &c, line), "0", JSONRPC_INVALID_PARAMS, cases[i].error);
        }
        free(line);
        mcp_session_free(s);
    }

    /* Bounds: more than 1000 variables, more than 256 KiB, a cwd over 4096 bytes. */
    for (int which = 0; which < 3; which++) {
        json_t *client = json_object();
        if (which == 0) {
            json_t *env = json_object();
            for (int i = 0; i <= MCP_CLIENT_ENV_MAX; i++) {
                char k[16];
                snprintf(k, sizeof k, "V%d", i);
                json_object_set_new(env, k, json_string("x"));
            }
            json_object_set_new(client, "env", env);
        } else if (which == 1) {
            char *big = xmalloc(MCP_CLIENT_ENV_BYTES + 1);
            memset(big, 'x', MCP_CLIENT_ENV_BYTES);
            big[MCP_CLIENT_ENV_BYTES] = '\0';
            json_object_set_new(client, "env", json_pack("{s:s}", "BIG", big));
            free(big);
        } else {
            char *cwd = xmalloc(MCP_CLIENT_CWD_MAX + 2);
            memset(cwd, 'd', MCP_CLIENT_CWD_MAX + 1);
            cwd[0] = '/';
            cwd[MCP_CLIENT_CWD_MAX + 1] = '\0';
            json_object_set_new(client, "cwd", json_string(cwd));
            free(cwd);
        }
        json_t *params = json_pack("{s:s,s:{s:o}}", "protocolVersion", "2025-11-25", "_meta",
                                   "backbeat/client", client);
        char *line = jsonrpc_request_line("3", "initialize", params, NULL);
        struct mcp_session *s = mcp_session_new(NULL, capture_send, &c);
        assert_error(feed(s, &c, line), "3", JSONRPC_INVALID_PARAMS,
                     which == 0   ? "at most 1000 variables"
                     : which == 1 ? "at most 262144 bytes"
                                  : "at most 4096 bytes");
        mcp_session_free(s);
        free(line);
        json_decref(params);
    }
    capture_clear(&c);
}

static void
test_session_methods(void **state)
{
    (void)state;
    struct capture c = { 0 };
    struct mcp_session *s = mcp_session_new(NULL, capture_send, &c);

    /* claude's first message, before initialize: -32601 with its string id. */
    assert_error(feed(s, &c,
                      "{\"jsonrpc\":\"2.0\",\"id\":\"server-discover-probe-1\",\"method\":"
                      "\"server/discover\",\"params\":{\"_meta\":{\"io.modelcontextprotocol/"
                      "protocolVersion\":\"2026-07-28\"}}}"),
                 "\"server-discover-probe-1\"", JSONRPC_METHOD_NOT_FOUND,
                 "Method not found: server/discover");
    /* ping works before initialize; other known methods wait for it. */
    json_t *r =
        assert_result(feed(s, &c, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"ping\"}"), "0");
    assert_int_equal(json_object_size(r), 0);
    json_decref(r);
    assert_error(feed(s, &c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}"), "2",
                 JSONRPC_INVALID_REQUEST, "send initialize first");
    assert_error(
        feed(s, &c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{}}"), "2",
        JSONRPC_INVALID_REQUEST, "send initialize first");
    mcp_session_free(s);

    s = session_ready(&c);
    const char *unknown[] = { "server/discover", "resources/list", "prompts/list",
                              "completion/complete" };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        char *line = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"%s\"}", unknown[i]);
        assert_error(feed(s, &c, line), "0", JSONRPC_METHOD_NOT_FOUND, unknown[i]);
        free(line);
    }
    assert_error(feed(s, &c, "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"nope\"}"), "\"x\"",
                 JSONRPC_METHOD_NOT_FOUND, "Method not found: nope");
    /* A 20-digit id is beyond jansson (and int64): it comes back digit for digit. */
    capture_clear(&c);
    const char *huge = "{\"jsonrpc\":\"2.0\",\"id\":12345678901234567890,\"method\":\"n\"}";
    mcp_session_handle_line(s, huge, strlen(huge));
    assert_int_equal(c.n, 1);
    assert_string_equal(c.lines[0], "{\"jsonrpc\":\"2.0\",\"id\":12345678901234567890,\"error\":{"
                                    "\"code\":-32601,\"message\":\"Method not found: n\"}}");
    json_decref(assert_result(
        feed(s, &c, "{\"jsonrpc\":\"2.0\",\"id\":-1,\"method\":\"ping\",\"params\":{}}"), "-1"));
    assert_error(feed(s, &c, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\",\"params\":[]}"),
                 "4", JSONRPC_INVALID_PARAMS, "params must be an object");

    /* Notifications, known or not, and responses get no answer. */
    assert_null(feed(s, &c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/whatever\"}"));
    assert_null(feed(s, &c,
                     "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
                     "\"requestId\":99}}"));
    assert_null(feed(s, &c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\"}"));
    assert_null(feed(s, &c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}"));

    /* Broken lines: the session answers and stays usable. */
    assert_error(feed(s, &c, "{not json"), "null", JSONRPC_PARSE_ERROR, "parse error");
    assert_error(feed(s, &c, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]"), "null",
                 JSONRPC_INVALID_REQUEST, "batches are not supported");
    assert_error(feed(s, &c, "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}"), "null",
                 JSONRPC_INVALID_REQUEST, "id must be");
    capture_clear(&c);
    mcp_session_handle_too_long(s);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.lines[0], "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,"
                                    "\"message\":\"message exceeds 4194304 bytes\"}}");
    json_decref(
        assert_result(feed(s, &c, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}"), "9"));
    capture_clear(&c);
    mcp_session_free(s);
}

static void
test_session_logging(void **state)
{
    (void)state;
    struct capture c = { 0 };
    struct mcp_session *s = mcp_session_new(NULL, capture_send, &c);
    json_t *data = json_pack("{s:s}", "event", "task.completed");

    /* Nothing before initialize. */
    mcp_session_notify_log(s, "emergency", "backbeat", data);
    assert_int_equal(c.n, 0);
    json_decref(assert_result(feed(s, &c, INIT_LINE("0", "2025-11-25")), "0"));

    /* The default threshold is info: task lifecycle events reach every client. */
    capture_clear(&c);
    mcp_session_notify_log(s, "debug", "backbeat", data);
    assert_int_equal(c.n, 0);
    mcp_session_notify_log(s, "info", "backbeat", data);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.lines[0],
                        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{"
                        "\"level\":\"info\",\"logger\":\"backbeat\",\"data\":{\"event\":"
                        "\"task.completed\"}}}");
    capture_clear(&c);
    mcp_session_notify_log(s, "bogus", "backbeat", data);
    assert_int_equal(c.n, 0);

    const char *levels[] = { "debug", "info",     "notice", "warning",
                             "error", "critical", "alert",  "emergency" };
    for (size_t i = 0; i < 8; i++) {
        char *line = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"logging/setLevel\","
                               "\"params\":{\"level\":\"%s\"}}",
                               i, levels[i]);
        char id[8];
        snprintf(id, sizeof id, "%zu", i);
        json_t *r = assert_result(feed(s, &c, line), id);
        assert_int_equal(json_object_size(r), 0);
        json_decref(r);
        free(line);
        /* Exactly the levels at or above the threshold pass. */
        for (size_t j = 0; j < 8; j++) {
            capture_clear(&c);
            mcp_session_notify_log(s, levels[j], NULL, NULL);
            assert_int_equal(c.n, j >= i ? 1 : 0);
        }
    }
    capture_clear(&c);
    mcp_session_notify_log(s, "emergency", NULL, NULL);
    assert_string_equal(c.lines[0], "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\","
                                    "\"params\":{\"level\":\"emergency\",\"data\":null}}");
    assert_error(feed(s, &c,
                      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"logging/setLevel\",\"params\":{"
                      "\"level\":\"loud\"}}"),
                 "1", JSONRPC_INVALID_PARAMS, "level must be one of debug, info");
    assert_error(feed(s, &c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"logging/setLevel\"}"), "1",
                 JSONRPC_INVALID_PARAMS, "level must be one of");
    capture_clear(&c);
    json_decref(data);
    mcp_session_free(s);
}

static void
test_session_tools(void **state)
{
    (void)state;
    struct capture c = { 0 };
    struct mcp_session *s = session_ready(&c);

    json_t *r =
        assert_result(feed(s, &c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}"), "1");
    json_t *want = op_tools_list();
    assert_true(json_equal(r, want));
    assert_true(json_array_size(json_object_get(r, "tools")) > 0);
    json_decref(want);
    json_decref(r);

    assert_error(feed(s, &c,
                      "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{"
                      "\"name\":\"NoSuchTool\",\"arguments\":{}}}"),
                 "2", JSONRPC_INVALID_PARAMS, "Unknown tool: NoSuchTool");
    assert_error(feed(s, &c,
                      "{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"method\":\"tools/call\",\"params\":{"
                      "\"arguments\":{}}}"),
                 "\"s\"", JSONRPC_INVALID_PARAMS, "name must be a string");
    assert_error(feed(s, &c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\"}"), "3",
                 JSONRPC_INVALID_PARAMS, "name must be a string");
    assert_error(feed(s, &c,
                      "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{"
                      "\"name\":\"DelegateTask\",\"arguments\":[\"x\"]}}"),
                 "4", JSONRPC_INVALID_PARAMS, "arguments must be an object");

    /* Bad arguments are a tool result with isError, naming the field; the text is the same
     * JSON as structuredContent. */
    r = assert_result(feed(s, &c,
                           "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{"
                           "\"name\":\"DelegateTask\",\"arguments\":{\"prompt\":\"x\","
                           "\"priority\":\"P9\"}}}"),
                      "5");
    assert_true(json_is_true(json_object_get(r, "isError")));
    json_t *sc = json_object_get(r, "structuredContent");
    assert_true(json_is_false(json_object_get(sc, "success")));
    assert_string_equal(json_get_str(sc, "code"), "INVALID_INPUT");
    assert_non_null(strstr(json_get_str(sc, "error"), "priority"));
    json_t *content = json_array_get(json_object_get(r, "content"), 0);
    assert_string_equal(json_get_str(content, "type"), "text");
    json_t *text = json_loads(json_get_str(content, "text"), 0, NULL);
    assert_true(json_equal(text, sc));
    json_decref(text);
    json_decref(r);

    /* \u0000 in an argument: answered, naming the field (not a parse error without an id). */
    r = assert_result(feed(s, &c,
                           "{\"jsonrpc\":\"2.0\",\"id\":55,\"method\":\"tools/call\",\"params\":{"
                           "\"name\":\"DelegateTask\",\"arguments\":{\"prompt\":\"a\\u0000b\"}}}"),
                      "55");
    assert_true(json_is_true(json_object_get(r, "isError")));
    assert_non_null(strstr(json_get_str(json_object_get(r, "structuredContent"), "error"),
                           "prompt: must not contain NUL characters"));
    json_decref(r);

    /* Missing arguments are validated as {}. */
    r = assert_result(feed(s, &c,
                           "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{"
                           "\"name\":\"DelegateTask\"}}"),
                      "6");
    assert_true(json_is_true(json_object_get(r, "isError")));
    assert_non_null(
        strstr(json_get_str(json_object_get(r, "structuredContent"), "error"), "prompt"));
    json_decref(r);

    /* Valid arguments without an engine: a tool error, never a crash. */
    r = assert_result(feed(s, &c,
                           "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{"
                           "\"name\":\"SystemStatus\",\"arguments\":{},\"_meta\":{"
                           "\"progressToken\":1}}}"),
                      "7");
    assert_true(json_is_true(json_object_get(r, "isError")));
    assert_string_equal(json_get_str(json_object_get(r, "structuredContent"), "code"),
                        "DAEMON_UNAVAILABLE");
    json_decref(r);
    capture_clear(&c);
    mcp_session_free(s);
}

/* ---- a daemon-like process: this binary as `test-mcp daemon` ---- */

static uv_signal_t fake_sigterm, fake_sigusr1;
static struct mcp_server *fake_server;

static void
fake_stopped_cb(void *arg)
{
    (void)arg;
}

static void
fake_signal_cb(uv_signal_t *h, int signum)
{
    (void)h;
    if (signum == SIGUSR1) {
        json_t *data = json_pack("{s:s}", "event", "test.broadcast");
        mcp_server_broadcast_log(fake_server, "warning", "test", data);
        json_decref(data);
        return;
    }
    mcp_server_stop(fake_server, fake_stopped_cb, NULL);
    uv_close((uv_handle_t *)&fake_sigterm, NULL);
    uv_close((uv_handle_t *)&fake_sigusr1, NULL);
}

/* What `beat daemon` does for the MCP layer, with no engine: lock, serve, stop on SIGTERM. */
static int
fake_daemon_main(void)
{
    const char *home = getenv("BACKBEAT_HOME");
    if (home == NULL || getenv("FAKE_DAEMON_FAIL") != NULL) {
        return 1;
    }
    char *lock_path = xasprintf("%s/daemon.lock", home);
    char *sock_path = xasprintf("%s/daemon.sock", home);
    char *starts_path = xasprintf("%s/starts", home);
    /* Sanitizer reports land in daemon.log, which stop_daemon checks. */
    char *log_path = xasprintf("%s/daemon.log", home);
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    free(log_path);
    if (log_fd >= 0) {
        dup2(log_fd, 2);
        close(log_fd);
    }
    int rc = 1;
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
        rc = 3; /* another one owns the home, like the real daemon */
        goto out;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        goto out;
    }
    FILE *starts = fopen(starts_path, "a");
    if (starts != NULL) {
        fputs(pid, starts);
        fclose(starts);
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t loop;
    struct err e;
    uv_loop_init(&loop);
    fake_server = mcp_server_start(&loop, sock_path, NULL, &e);
    if (fake_server == NULL) {
        goto out;
    }
    uv_signal_init(&loop, &fake_sigterm);
    uv_signal_init(&loop, &fake_sigusr1);
    uv_signal_start(&fake_sigterm, fake_signal_cb, SIGTERM);
    uv_signal_start(&fake_sigusr1, fake_signal_cb, SIGUSR1);
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&loop) == 0 ? 0 : 2;
    unlink(sock_path);
out:
    free(lock_path);
    free(sock_path);
    free(starts_path);
    return rc; /* the lock goes with the process, after any leak report is written */
}

/* Homes and relays of the running test, cleaned up by test_teardown even when it fails. */
static char *test_homes[4];
static int test_nhomes;
static pid_t test_relays[4];
static int test_nrelays;

static char *
make_home(void)
{
    char tmpl[] = "/tmp/beat-test-mcp-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    assert_true(test_nhomes < 4);
    test_homes[test_nhomes++] = xstrdup(tmpl);
    return test_homes[test_nhomes - 1];
}

static long
daemon_pid(const char *home)
{
    char *path = xasprintf("%s/daemon.lock", home);
    size_t len;
    char *text = fs_read_file(path, 64, &len, NULL);
    free(path);
    long pid = text ? strtol(text, NULL, 10) : 0;
    free(text);
    return pid;
}

/* Stops the home's daemon and waits until its lock is free (it has exited). */
static void
stop_daemon(const char *home)
{
    long pid = daemon_pid(home);
    assert_true(pid > 0);
    assert_int_equal(kill((pid_t)pid, SIGTERM), 0);
    char *path = xasprintf("%s/daemon.lock", home);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    free(path);
    assert_true(fd >= 0);
    int64_t deadline = clock_mono_ms() + DEADLINE_MS;
    /* Free, or taken by a newer daemon (a relay restarts one at once). */
    while (flock(fd, LOCK_EX | LOCK_NB) != 0 && daemon_pid(home) == pid) {
        assert_true(clock_mono_ms() < deadline);
        poll(NULL, 0, 5);
    }
    close(fd);
    path = xasprintf("%s/daemon.log", home);
    size_t len = 0;
    char *log = fs_read_file(path, 1 << 20, &len, NULL);
    free(path);
    if (log != NULL && (strstr(log, "Sanitizer") || strstr(log, "runtime error"))) {
        fail_msg("the daemon reported:\n%s", log);
    }
    free(log);
}

/* Kills what a test left running (a daemon holding its home's lock, relays) and removes
 * its homes. */
static int
test_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < test_nrelays; i++) {
        if (waitpid(test_relays[i], NULL, WNOHANG) == 0) {
            kill(test_relays[i], SIGKILL);
            waitpid(test_relays[i], NULL, 0);
        }
    }
    test_nrelays = 0;
    for (int i = 0; i < test_nhomes; i++) {
        char *path = xasprintf("%s/daemon.lock", test_homes[i]);
        int fd = open(path, O_RDWR | O_CLOEXEC);
        free(path);
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0 && daemon_pid(test_homes[i]) > 0) {
            kill((pid_t)daemon_pid(test_homes[i]), SIGKILL);
        }
        if (fd >= 0) {
            close(fd);
        }
        fs_remove_tree(test_homes[i], NULL);
        free(test_homes[i]);
    }
    test_nhomes = 0;
    return 0;
}

static int
count_lines(const char *path)
{
    size_t len = 0;
    char *text = fs_read_file(path, 1 << 20, &len, NULL);
    int n = 0;
    for (size_t i = 0; text && i < len; i++) {
        n += text[i] == '\n';
    }
    free(text);
    return n;
}

/* ---- line reading with deadlines ---- */

/* Set in forked helpers: a failed check there must end the helper, not run more tests. */
static bool in_child;

#define REQUIRE(cond, ...)         \
    do {                           \
        if (!(cond)) {             \
            if (in_child) {        \
                _exit(99);         \
            }                      \
            fail_msg(__VA_ARGS__); \
        }                          \
    } while (0)

struct reader {
    int fd;
    struct buf acc;
};

/* The next line from r (caller frees), or NULL at EOF; fails the test at the deadline. */
static char *
reader_line(struct reader *r)
{
    int64_t deadline = clock_mono_ms() + DEADLINE_MS;
    for (;;) {
        char *nl = r->acc.len ? memchr(r->acc.data, '\n', r->acc.len) : NULL;
        if (nl != NULL) {
            char *line = xstrndup(r->acc.data, (size_t)(nl - r->acc.data));
            buf_consume(&r->acc, (size_t)(nl - r->acc.data) + 1);
            return line;
        }
        struct pollfd p = { .fd = r->fd, .events = POLLIN };
        int left = (int)(deadline - clock_mono_ms());
        REQUIRE(left > 0, "no line within %d ms", DEADLINE_MS);
        if (poll(&p, 1, left) <= 0) {
            continue;
        }
        char chunk[65536];
        ssize_t n = read(r->fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return NULL;
        }
        buf_add(&r->acc, chunk, (size_t)n);
    }
}

static json_t *
reader_json(struct reader *r)
{
    char *line = reader_line(r);
    REQUIRE(line != NULL, "EOF where a message was expected");
    json_t *v = json_loads(line, 0, NULL);
    REQUIRE(v != NULL, "not JSON: %s", line);
    free(line);
    return v;
}

static void
write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        REQUIRE(w > 0, "write: %s", strerror(errno));
        s += w;
        n -= (size_t)w;
    }
}

static void
write_line(int fd, const char *line)
{
    write_all(fd, line, strlen(line));
    write_all(fd, "\n", 1);
}

static int
raw_connect(const char *home)
{
    int fd = -1;
    struct err e;
    if (daemon_connect(home, false, &fd, &e) != 0) {
        fail_msg("connect: %s", e.msg);
    }
    return fd;
}

static int listen_at(const char *home);

/* ---- client and server against the daemon-like process ---- */

static void
test_client_autostart(void **state)
{
    (void)state;
    char *home = make_home();
    struct err e = { 0 };

    /* Without autostart, nothing answers. */
    assert_null(rpc_client_open(home, false, &e));
    assert_int_equal(e.code, ERR_UNAVAILABLE);
    assert_non_null(strstr(e.msg, "cannot connect to the backbeat daemon"));

    struct rpc_client *c = rpc_client_open(home, true, &e);
    if (c == NULL) {
        fail_msg("open: %s", e.msg);
    }
    assert_string_equal(rpc_client_server_version(c), BEAT_VERSION);

    /* The socket is private. */
    char *sock = xasprintf("%s/daemon.sock", home);
    struct stat st;
    assert_int_equal(stat(sock, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    free(sock);

    json_t *r = rpc_request(c, "ping", NULL, 5000, &e);
    assert_non_null(r);
    assert_int_equal(json_object_size(r), 0);
    json_decref(r);
    r = rpc_request(c, "tools/list", NULL, 5000, &e);
    assert_true(json_array_size(json_object_get(r, "tools")) > 0);
    json_decref(r);

    assert_null(rpc_request(c, "server/discover", NULL, 5000, &e));
    assert_int_equal(e.code, ERR_INVALID);
    assert_non_null(strstr(e.msg, "Method not found"));

    json_t *args = json_object();
    assert_null(rpc_call_tool(c, "NoSuchTool", args, 5000, NULL, NULL, &e));
    assert_int_equal(e.code, ERR_INVALID);
    assert_non_null(strstr(e.msg, "Unknown tool: NoSuchTool"));
    /* A tool error carries its code back. */
    assert_null(rpc_call_tool(c, "DelegateTask", args, 5000, NULL, NULL, &e));
    assert_int_equal(e.code, ERR_INVALID);
    assert_non_null(strstr(e.msg, "prompt"));
    assert_null(rpc_call_tool(c, "SystemStatus", args, 5000, NULL, NULL, &e));
    assert_int_equal(e.code, ERR_UNAVAILABLE);
    assert_non_null(strstr(e.msg, "no engine"));
    json_decref(args);
    rpc_client_close(c);

    /* A second client finds the running daemon: still one start. */
    c = rpc_client_open(home, true, &e);
    assert_non_null(c);
    rpc_client_close(c);
    char *starts = xasprintf("%s/starts", home);
    assert_int_equal(count_lines(starts), 1);

    /* The daemon going away fails the call clearly. */
    c = rpc_client_open(home, false, &e);
    assert_non_null(c);
    stop_daemon(home);
    assert_null(rpc_request(c, "ping", NULL, 5000, &e));
    assert_int_equal(e.code, ERR_UNAVAILABLE);
    assert_non_null(strstr(e.msg, "closed the connection"));
    rpc_client_close(c);

    /* A stale socket (its daemon killed before it could remove it) does not stop a start. */
    close(listen_at(home));
    c = rpc_client_open(home, true, &e);
    assert_non_null(c);
    rpc_client_close(c);
    assert_int_equal(count_lines(starts), 2);
    stop_daemon(home);
    free(starts);
}

static void
test_client_meta(void **state)
{
    (void)state;
    /* An environment over the daemon's bound loses the variables that do not fit, and the
     * daemon then accepts it. */
    char *big = xmalloc(MCP_CLIENT_ENV_BYTES + 10);
    memset(big, 'v', MCP_CLIENT_ENV_BYTES + 9);
    big[MCP_CLIENT_ENV_BYTES + 9] = '\0';
    setenv("BEAT_TEST_HUGE", big, 1);
    setenv("BEAT_TEST_SMALL", "s", 1);
    free(big);
    json_t *meta = rpc_client_meta();
    unsetenv("BEAT_TEST_HUGE");
    unsetenv("BEAT_TEST_SMALL");
    char *cwd = getcwd(NULL, 0);
    assert_string_equal(json_get_str(meta, "cwd"), cwd);
    free(cwd);
    assert_string_equal(json_get_str(meta, "version"), BEAT_VERSION);
    json_t *env = json_object_get(meta, "env");
    assert_null(json_object_get(env, "BEAT_TEST_HUGE"));
    assert_string_equal(json_get_str(env, "BEAT_TEST_SMALL"), "s");
    if (getenv("PATH") != NULL) {
        assert_string_equal(json_get_str(env, "PATH"), getenv("PATH"));
    }

    struct capture c = { 0 };
    struct mcp_session *s = mcp_session_new(NULL, capture_send, &c);
    json_t *params = json_pack("{s:s,s:{s:O}}", "protocolVersion", "2025-11-25", "_meta",
                               MCP_CLIENT_META_KEY, meta);
    char *line = jsonrpc_request_line("0", "initialize", params, NULL);
    json_decref(assert_result(feed(s, &c, line), "0"));
    free(line);
    json_decref(params);
    json_decref(meta);
    capture_clear(&c);
    mcp_session_free(s);
}

static void
test_client_concurrent_autostart(void **state)
{
    (void)state;
    char *home = make_home();
    pid_t kids[6];
    for (int i = 0; i < 6; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            struct err e;
            struct rpc_client *c = rpc_client_open(home, true, &e);
            json_t *r = c ? rpc_request(c, "ping", NULL, 5000, &e) : NULL;
            int ok = r != NULL;
            json_decref(r);
            rpc_client_close(c);
            _exit(ok ? 0 : 1);
        }
    }
    for (int i = 0; i < 6; i++) {
        int status;
        assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    /* However many starts raced, one daemon took the lock. */
    char *starts = xasprintf("%s/starts", home);
    assert_int_equal(count_lines(starts), 1);
    free(starts);
    stop_daemon(home);
}

static void
test_client_start_failure(void **state)
{
    (void)state;
    char *home = make_home();
    struct err e = { 0 };
    setenv("FAKE_DAEMON_FAIL", "1", 1);
    int64_t t0 = clock_mono_ms();
    assert_null(rpc_client_open(home, true, &e));
    unsetenv("FAKE_DAEMON_FAIL");
    assert_true(clock_mono_ms() - t0 >= DAEMON_START_TIMEOUT_MS);
    assert_int_equal(e.code, ERR_UNAVAILABLE);
    char *want = xasprintf("did not start within 10 s: see %s/daemon.log", home);
    assert_non_null(strstr(e.msg, want));
    free(want);
}

static int
listen_at(const char *home)
{
    char *path = xasprintf("%s/daemon.sock", home);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    memcpy(sun.sun_path, path, strlen(path) + 1);
    free(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    assert_int_equal(listen(fd, 16), 0);
    return fd;
}

static int
accept_within(int lfd)
{
    struct pollfd p = { .fd = lfd, .events = POLLIN };
    REQUIRE(poll(&p, 1, DEADLINE_MS) == 1, "no connection within %d ms", DEADLINE_MS);
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    REQUIRE(fd >= 0, "accept: %s", strerror(errno));
    return fd;
}

static void
test_client_version_mismatch(void **state)
{
    (void)state;
    char *home = make_home();
    int lfd = listen_at(home);
    pid_t kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        in_child = true;
        /* A daemon of another version: answers initialize, then waits for the client to go. */
        int fd = accept_within(lfd);
        struct reader r = { .fd = fd };
        buf_init(&r.acc);
        json_t *req = reader_json(&r);
        char *id = jsonrpc_id_text(json_object_get(req, "id"));
        char *line = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"protocolVersion\":"
                               "\"2025-11-25\",\"capabilities\":{},\"serverInfo\":{\"name\":"
                               "\"backbeat\",\"version\":\"0.0.1\"}}}",
                               id);
        write_line(fd, line);
        char *rest = reader_line(&r);
        _exit(rest == NULL ? 0 : 1);
    }
    struct err e = { 0 };
    assert_null(rpc_client_open(home, false, &e));
    assert_int_equal(e.code, ERR_VERSION);
    char *want = xasprintf("the daemon is version 0.0.1 and this beat is %s: run `beat daemon "
                           "restart`",
                           BEAT_VERSION);
    assert_string_equal(e.msg, want);
    free(want);
    int status;
    assert_int_equal(waitpid(kid, &status, 0), kid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(lfd);
}

static void
test_server_framing(void **state)
{
    (void)state;
    char *home = make_home();
    struct err e;
    struct rpc_client *c = rpc_client_open(home, true, &e);
    assert_non_null(c);
    rpc_client_close(c);

    int fd = raw_connect(home);
    struct reader r = { .fd = fd };
    buf_init(&r.acc);

    /* Byte by byte, then two messages and a blank line in one write, CRLF included. */
    const char *init = INIT_LINE("0", "2025-11-25") "\n";
    for (const char *p = init; *p; p++) {
        write_all(fd, p, 1);
    }
    json_decref(assert_result(reader_json(&r), "0"));
    const char *two = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\r\n\n"
                      "{\"jsonrpc\":\"2.0\",\"id\":\"two\",\"method\":\"ping\"}\n";
    write_all(fd, two, strlen(two));
    json_decref(assert_result(reader_json(&r), "1"));
    json_decref(assert_result(reader_json(&r), "\"two\""));

    /* An oversized line is refused and the connection survives. */
    size_t big = JSONRPC_MAX_MESSAGE + 100;
    char *line = xmalloc(big + 1);
    memset(line, ' ', big);
    line[big] = '\n';
    pid_t kid = fork(); /* the writer: the server answers before the line ends */
    assert_true(kid >= 0);
    if (kid == 0) {
        in_child = true;
        write_all(fd, line, big + 1);
        write_line(fd, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}");
        _exit(0);
    }
    assert_error(reader_json(&r), "null", JSONRPC_INVALID_REQUEST, "message exceeds 4194304 bytes");
    json_decref(assert_result(reader_json(&r), "3"));
    int status;
    assert_int_equal(waitpid(kid, &status, 0), kid);
    free(line);

    /* A broadcast reaches connections whose level admits it. */
    int quiet = raw_connect(home);
    struct reader q = { .fd = quiet };
    buf_init(&q.acc);
    write_line(quiet, INIT_LINE("0", "2025-11-25"));
    json_decref(assert_result(reader_json(&q), "0"));
    write_line(quiet, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"logging/setLevel\",\"params\":{"
                      "\"level\":\"error\"}}");
    json_decref(assert_result(reader_json(&q), "1"));
    assert_int_equal(kill((pid_t)daemon_pid(home), SIGUSR1), 0);
    json_t *note = reader_json(&r);
    assert_string_equal(json_get_str(note, "method"), "notifications/message");
    json_t *params = json_object_get(note, "params");
    assert_string_equal(json_get_str(params, "level"), "warning");
    assert_string_equal(json_get_str(params, "logger"), "test");
    assert_string_equal(json_get_str(json_object_get(params, "data"), "event"), "test.broadcast");
    json_decref(note);
    write_line(quiet, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}");
    json_decref(assert_result(reader_json(&q), "2")); /* and nothing before it */

    /* Stopping the daemon closes every connection. */
    stop_daemon(home);
    assert_null(reader_line(&r));
    assert_null(reader_line(&q));
    close(fd);
    close(quiet);
    buf_fini(&r.acc);
    buf_fini(&q.acc);
}

static void
test_server_drops_non_reader(void **state)
{
    (void)state;
    char *home = make_home();
    struct err e;
    struct rpc_client *c = rpc_client_open(home, true, &e);
    assert_non_null(c);
    json_t *list = rpc_request(c, "tools/list", NULL, 5000, &e);
    char *one = json_dump_compact(list);
    size_t resp = strlen(one);
    free(one);
    json_decref(list);
    rpc_client_close(c);

    /* Ask for far more than the output bound without reading a byte. */
    size_t want = (MCP_SERVER_MAX_QUEUED / resp) * 2 + 100;
    int fd = raw_connect(home);
    write_line(fd, INIT_LINE("0", "2025-11-25"));
    struct buf reqs;
    buf_init(&reqs);
    for (size_t i = 0; i < want; i++) {
        buf_printf(&reqs, "{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"tools/list\"}\n", i + 1);
    }
    size_t off = 0;
    int64_t deadline = clock_mono_ms() + 4 * DEADLINE_MS;
    while (off < reqs.len) {
        ssize_t w = send(fd, reqs.data + off, reqs.len - off, MSG_NOSIGNAL);
        if (w < 0) {
            break; /* dropped already */
        }
        off += (size_t)w;
        assert_true(clock_mono_ms() < deadline);
    }
    buf_fini(&reqs);
    /* Now read: the stream ends (the daemon dropped us) before every answer came. */
    size_t got = 0, lines = 0;
    char chunk[65536];
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        assert_int_equal(poll(&p, 1, DEADLINE_MS), 1);
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
        for (ssize_t i = 0; i < n; i++) {
            lines += chunk[i] == '\n';
        }
    }
    assert_true(lines < want);
    assert_true(got <= MCP_SERVER_MAX_QUEUED + 4u * 1024 * 1024);
    close(fd);

    /* The daemon itself is fine. */
    c = rpc_client_open(home, false, &e);
    assert_non_null(c);
    rpc_client_close(c);
    stop_daemon(home);
}

/* ---- the relay ---- */

struct relay_proc {
    pid_t pid;
    int in;            /* its stdin */
    struct reader out; /* its stdout */
};

static void
relay_start(struct relay_proc *rp, const char *home)
{
    int in[2], out[2];
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    rp->pid = fork();
    assert_true(rp->pid >= 0);
    if (rp->pid > 0 && test_nrelays < 4) {
        test_relays[test_nrelays++] = rp->pid;
    }
    if (rp->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        closefrom(3);               /* above all the write end of its own stdin */
        exit(mcp_relay_main(home)); /* exit, not _exit: LeakSanitizer runs at exit */
    }
    close(in[0]);
    close(out[1]);
    rp->in = in[1];
    rp->out.fd = out[0];
    buf_init(&rp->out.acc);
}

static int
relay_wait(struct relay_proc *rp)
{
    int status;
    int64_t deadline = clock_mono_ms() + DEADLINE_MS;
    pid_t got;
    while ((got = waitpid(rp->pid, &status, WNOHANG)) == 0) {
        assert_true(clock_mono_ms() < deadline);
        poll(NULL, 0, 5);
    }
    assert_int_equal(got, rp->pid);
    if (rp->in >= 0) {
        close(rp->in);
    }
    close(rp->out.fd);
    buf_fini(&rp->out.acc);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void
test_relay_scripted(void **state)
{
    (void)state;
    char *home = make_home();
    int lfd = listen_at(home);
    struct relay_proc rp;
    relay_start(&rp, home);

    /* The client's initialize reaches the daemon with our _meta added and its own kept. */
    write_line(rp.in, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
                      "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{"
                      "\"name\":\"claude-code\",\"version\":\"2\"},\"_meta\":{\"client/key\":"
                      "\"v\"}}}");
    int d1 = accept_within(lfd);
    struct reader dr = { .fd = d1 };
    buf_init(&dr.acc);
    json_t *init = reader_json(&dr);
    assert_string_equal(json_get_str(init, "method"), "initialize");
    assert_int_equal(json_get_int(init, "id", -1), 0);
    json_t *meta = json_object_get(json_object_get(init, "params"), "_meta");
    assert_string_equal(json_get_str(meta, "client/key"), "v");
    json_t *client = json_object_get(meta, "backbeat/client");
    assert_string_equal(json_get_str(client, "version"), BEAT_VERSION);
    assert_true(json_get_str(client, "cwd")[0] == '/');
    assert_true(json_object_size(json_object_get(client, "env")) > 0);
    assert_string_equal(json_get_str(json_object_get(init, "params"), "protocolVersion"),
                        "2025-11-25");
    json_decref(init);
    write_line(d1,
               "{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"protocolVersion\":\"2025-11-25\"}}");
    json_decref(assert_result(reader_json(&rp.out), "0"));

    /* Other lines pass through unchanged. */
    const char *call = "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{"
                       "\"name\":\"WaitForTask\"}}";
    write_line(rp.in, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    write_line(rp.in, call);
    char *l = reader_line(&dr);
    assert_string_equal(l, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    free(l);
    l = reader_line(&dr);
    assert_string_equal(l, call);
    free(l);

    /* The daemon restarts with call 5 in flight: the client hears so. The next request
     * reconnects, and the relay redoes the handshake on the new connection first, without
     * showing its answer. */
    close(d1);
    buf_fini(&dr.acc);
    assert_error(reader_json(&rp.out), "5", JSONRPC_INTERNAL_ERROR,
                 "backbeat daemon restarted; please retry");
    write_line(rp.in, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\"}");
    int d2 = accept_within(lfd);
    dr.fd = d2;
    buf_init(&dr.acc);
    init = reader_json(&dr);
    assert_string_equal(json_get_str(init, "method"), "initialize");
    assert_string_equal(json_get_str(init, "id"), "backbeat-relay-reinit-1");
    meta = json_object_get(json_object_get(init, "params"), "_meta");
    assert_string_equal(json_get_str(meta, "client/key"), "v");
    assert_non_null(json_object_get(meta, "backbeat/client"));
    json_decref(init);
    write_line(d2, "{\"jsonrpc\":\"2.0\",\"id\":\"backbeat-relay-reinit-1\",\"result\":{}}");
    l = reader_line(&dr);
    assert_string_equal(l, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    free(l);

    l = reader_line(&dr);
    assert_string_equal(l, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\"}");
    free(l);
    write_line(d2, "{\"jsonrpc\":\"2.0\",\"id\":6,\"result\":{}}");
    json_decref(assert_result(reader_json(&rp.out), "6"));

    /* A line over 4 MiB is answered by the relay itself; the next one goes through. */
    size_t big = JSONRPC_MAX_MESSAGE + 1;
    char *line = xmalloc(big + 1);
    memset(line, 'x', big);
    line[big] = '\n';
    write_all(rp.in, line, big + 1);
    free(line);
    assert_error(reader_json(&rp.out), "null", JSONRPC_INVALID_REQUEST,
                 "message exceeds 4194304 bytes");
    write_line(rp.in, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}");
    l = reader_line(&dr);
    assert_string_equal(l, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}");
    free(l);

    /* SIGTERM is a normal end, with the daemon left alone. */
    kill(rp.pid, SIGTERM);
    assert_int_equal(relay_wait(&rp), 0);
    assert_null(reader_line(&dr));
    close(d2);
    buf_fini(&dr.acc);
    close(lfd);
}

static void
test_relay_end(void **state)
{
    (void)state;
    char *home = make_home();
    int lfd = listen_at(home);

    /* stdin EOF with a call in flight: the answer is still delivered, then exit 0. */
    struct relay_proc rp;
    relay_start(&rp, home);
    int d = accept_within(lfd);
    struct reader dr = { .fd = d };
    buf_init(&dr.acc);
    write_line(rp.in, "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"ping\"}");
    close(rp.in);
    rp.in = -1;
    char *l = reader_line(&dr);
    assert_string_equal(l, "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"ping\"}");
    free(l);
    write_line(d, "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":{}}");
    json_decref(assert_result(reader_json(&rp.out), "\"a\""));
    assert_int_equal(relay_wait(&rp), 0);
    close(d);
    buf_fini(&dr.acc);

    /* The daemon drops during the handshake: the client hears so and redoes it; the relay
     * does not replay a handshake that never succeeded. */
    relay_start(&rp, home);
    d = accept_within(lfd);
    dr.fd = d;
    buf_init(&dr.acc);
    write_line(rp.in, INIT_LINE("0", "2025-11-25"));
    json_t *init = reader_json(&dr);
    assert_string_equal(json_get_str(init, "method"), "initialize");
    json_decref(init);
    close(d);
    buf_fini(&dr.acc);
    assert_error(reader_json(&rp.out), "0", JSONRPC_INTERNAL_ERROR, "please retry");
    write_line(rp.in, INIT_LINE("1", "2025-11-25"));
    d = accept_within(lfd);
    dr.fd = d;
    buf_init(&dr.acc);
    init = reader_json(&dr);
    assert_int_equal(json_get_int(init, "id", -1), 1);
    json_decref(init);
    kill(rp.pid, SIGTERM);
    assert_int_equal(relay_wait(&rp), 0);
    close(d);
    buf_fini(&dr.acc);

    /* SIGINT with stdin still open (claude's way). */
    relay_start(&rp, home);
    d = accept_within(lfd);
    kill(rp.pid, SIGINT);
    assert_int_equal(relay_wait(&rp), 0);
    close(d);
    close(lfd);
}

static void
test_relay_real_daemon(void **state)
{
    (void)state;
    char *home = make_home();
    struct relay_proc rp;
    relay_start(&rp, home); /* starts the daemon itself */
    write_line(rp.in, INIT_LINE("0", "2025-06-18"));
    json_t *r = assert_result(reader_json(&rp.out), "0");
    assert_string_equal(json_get_str(r, "protocolVersion"), "2025-06-18");
    json_decref(r);
    write_line(rp.in, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    write_line(rp.in, "{\"jsonrpc\":\"2.0\",\"id\":\"server-discover-probe-1\",\"method\":"
                      "\"server/discover\"}");
    assert_error(reader_json(&rp.out), "\"server-discover-probe-1\"", JSONRPC_METHOD_NOT_FOUND,
                 "server/discover");

    /* The daemon restarts: the relay starts a new one and replays the handshake, so tools/list
     * (refused before initialize) works at once. */
    stop_daemon(home);
    write_line(rp.in, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
    r = assert_result(reader_json(&rp.out), "1");
    assert_true(json_array_size(json_object_get(r, "tools")) > 0);
    json_decref(r);
    char *starts = xasprintf("%s/starts", home);
    assert_int_equal(count_lines(starts), 2);
    free(starts);

    kill(rp.pid, SIGTERM);
    assert_int_equal(relay_wait(&rp), 0);
    stop_daemon(home);
}

int
main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "daemon") == 0) {
        return fake_daemon_main();
    }
    signal(SIGPIPE, SIG_IGN);
    if (getenv("TEST_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_initialize),
        cmocka_unit_test(test_session_client_context),
        cmocka_unit_test(test_session_methods),
        cmocka_unit_test(test_session_logging),
        cmocka_unit_test(test_session_tools),
        cmocka_unit_test_teardown(test_client_autostart, test_teardown),
        cmocka_unit_test(test_client_meta),
        cmocka_unit_test_teardown(test_client_concurrent_autostart, test_teardown),
        cmocka_unit_test_teardown(test_client_start_failure, test_teardown),
        cmocka_unit_test_teardown(test_client_version_mismatch, test_teardown),
        cmocka_unit_test_teardown(test_server_framing, test_teardown),
        cmocka_unit_test_teardown(test_server_drops_non_reader, test_teardown),
        cmocka_unit_test_teardown(test_relay_scripted, test_teardown),
        cmocka_unit_test_teardown(test_relay_end, test_teardown),
        cmocka_unit_test_teardown(test_relay_real_daemon, test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
