/* One MCP connection's server side: the lifecycle methods, tools/list and tools/call over the
 * operation table, progress notifications and cancellation of pending calls. It sees lines in
 * and sends lines out; sockets, framing and the event loop belong to server.c. */
#include "mcp/session.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/op.h"
#include "mcp/jsonrpc.h"
#include "util/json.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define MCP_PENDING_MAX 1000 /* calls in flight on one connection */

static const char *const mcp_versions[] = { "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05",
                                            NULL };

/* RFC 5424 severities in the order MCP uses, lowest first. */
static const char *const mcp_levels[] = { "debug",    "info",  "notice",    "warning", "error",
                                          "critical", "alert", "emergency", NULL };
#define MCP_LEVEL_DEFAULT 1 /* info: task lifecycle events reach clients that never set a level */

static const char mcp_instructions[] =
    "Backbeat runs coding agents (claude, codex, gemini) as background tasks that keep running "
    "after this conversation ends.\n"
    "- Delegate work with DelegateTask; it returns a task id at once.\n"
    "- Poll with TaskStatus, or block with WaitForTask (it reports progress and can be "
    "cancelled).\n"
    "- Read what an agent printed with TaskLogs.\n"
    "- Order tasks with dependsOn (start after others finish) and continueFrom (start with the "
    "result of an earlier task).\n"
    "- Run work later or on a cron schedule with ScheduleTask.\n"
    "Failed calls return isError with a message that names the field and the rule: fix the "
    "arguments and call again.";

struct mcp_call {
    struct op_ctx ctx;           /* first: ctx->transport points back here anyway */
    struct mcp_session *session; /* NULL once orphaned (cancelled or session gone) */
    char *id;                    /* request id as JSON text */
    json_t *progress_token;      /* NULL when the client asked for no progress */
    json_t *args;                /* kept alive for the handler while pending */
    struct mcp_call *prev, *next;
    bool in_run;     /* inside op->run: a complete is kept for after it returns */
    bool in_cancel;  /* inside cancel_cb: a (forbidden) complete is dropped */
    bool early_done; /* complete was called inside op->run */
    json_t *early_result;
    struct err early_err;
    bool early_failed;
};

struct mcp_session {
    struct engine *engine;
    mcp_send_fn send;
    void *send_arg;
    bool initialized; /* initialize answered */
    int log_level;    /* index into mcp_levels */
    char *client_cwd;
    json_t *client_env;
    struct mcp_call *pending; /* doubly linked list of calls waiting for complete */
    int npending;
};

static void
session_send_line(struct mcp_session *s, char *line, size_t len)
{
    s->send(s->send_arg, line, len);
    free(line);
}

static void
session_result(struct mcp_session *s, const char *id, const json_t *result)
{
    size_t len;
    char *line = jsonrpc_result_line(id, result, &len);
    session_send_line(s, line, len);
}

static void
session_error(struct mcp_session *s, const char *id, int code, const char *message)
{
    size_t len;
    char *line = jsonrpc_error_line(id, code, message, NULL, &len);
    session_send_line(s, line, len);
}

static void
session_notify(struct mcp_session *s, const char *method, const json_t *params)
{
    size_t len;
    char *line = jsonrpc_notification_line(method, params, &len);
    session_send_line(s, line, len);
}

/* A tools/call result: the same JSON as structuredContent and as text. */
static json_t *
tool_result_json(json_t *structured, bool is_error)
{
    char *text = json_dump_compact(structured);
    json_t *r = json_pack("{s:[{s:s,s:s}],s:o}", "content", "type", "text", "text", text,
                          "structuredContent", structured);
    free(text);
    if (is_error) {
        json_object_set_new(r, "isError", json_true());
    }
    return r;
}

static void
send_tool_error(struct mcp_session *s, const char *id, const struct err *e)
{
    json_t *body =
        json_pack("{s:b,s:s,s:s}", "success", 0, "error", e->msg, "code", err_code_name(e->code));
    if (body == NULL) { /* e->msg not UTF-8: should not happen, never crash */
        body = json_pack("{s:b,s:s,s:s}", "success", 0, "error", "(unprintable error)", "code",
                         err_code_name(e->code));
    }
    json_t *r = tool_result_json(body, true);
    session_result(s, id, r);
    json_decref(r);
}

/* Answers a finished call: result (stolen) on success, else e. */
static void
send_tool_outcome(struct mcp_session *s, const char *id, json_t *result, const struct err *e)
{
    struct err internal;
    if (e != NULL) {
        send_tool_error(s, id, e);
        json_decref(result);
        return;
    }
    if (!json_is_object(result)) {
        json_decref(result);
        err_set(&internal, ERR_INTERNAL, "the tool returned no result object");
        send_tool_error(s, id, &internal);
        return;
    }
    json_t *r = tool_result_json(result, false);
    session_result(s, id, r);
    json_decref(r);
}

static void
call_unlink(struct mcp_call *c)
{
    struct mcp_session *s = c->session;
    if (c->prev) {
        c->prev->next = c->next;
    } else if (s != NULL && s->pending == c) {
        s->pending = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    c->prev = c->next = NULL;
    if (s != NULL) {
        s->npending--;
    }
}

static void
call_free(struct mcp_call *c)
{
    if (c == NULL) {
        return;
    }
    free(c->id);
    json_decref(c->progress_token);
    json_decref(c->args);
    json_decref(c->early_result);
    free(c);
}

/* Stops a pending call without answering it: its handler is told through cancel_cb, or, when
 * it has none, the call is orphaned and freed at its eventual complete. */
static void
call_abandon(struct mcp_call *c)
{
    call_unlink(c);
    c->session = NULL;
    c->ctx.client_cwd = NULL;
    c->ctx.client_env = NULL;
    if (c->ctx.cancel_cb == NULL) {
        return;
    }
    c->in_cancel = true;
    c->ctx.cancel_cb(&c->ctx);
    call_free(c);
}

static void
call_complete_cb(struct op_ctx *ctx, json_t *result, const struct err *e)
{
    struct mcp_call *c = ctx->transport;
    if (c->in_cancel) {
        json_decref(result);
        return;
    }
    if (c->in_run) {
        if (c->early_done) {
            json_decref(result);
            return;
        }
        c->early_done = true;
        c->early_result = result;
        c->early_failed = e != NULL;
        if (e != NULL) {
            c->early_err = *e;
        }
        return;
    }
    struct mcp_session *s = c->session;
    if (s != NULL) {
        call_unlink(c);
        send_tool_outcome(s, c->id, result, e);
    } else {
        json_decref(result);
    }
    call_free(c);
}

static void
call_progress_cb(struct op_ctx *ctx, double progress, double total, const char *message)
{
    struct mcp_call *c = ctx->transport;
    if (c->session == NULL || c->progress_token == NULL || c->in_cancel || !isfinite(progress)) {
        return;
    }
    json_t *params = json_object();
    json_object_set(params, "progressToken", c->progress_token);
    json_object_set_new(params, "progress", json_real(progress));
    if (isfinite(total) && total > 0) {
        json_object_set_new(params, "total", json_real(total));
    }
    if (message != NULL) {
        json_object_set_new(params, "message", json_string_bytes(message, strlen(message)));
    }
    session_notify(c->session, "notifications/progress", params);
    json_decref(params);
}

/* Creates a session that answers through send. */
struct mcp_session *
mcp_session_new(struct engine *engine, mcp_send_fn send, void *arg)
{
    struct mcp_session *s = xcalloc(1, sizeof *s);
    s->engine = engine;
    s->send = send;
    s->send_arg = arg;
    s->log_level = MCP_LEVEL_DEFAULT;
    return s;
}

/* Frees the session, cancelling its pending calls. */
void
mcp_session_free(struct mcp_session *s)
{
    if (s == NULL) {
        return;
    }
    while (s->pending != NULL) {
        call_abandon(s->pending);
    }
    free(s->client_cwd);
    json_decref(s->client_env);
    free(s);
}

static int
level_index(const char *name)
{
    for (int i = 0; name != NULL && mcp_levels[i]; i++) {
        if (strcmp(name, mcp_levels[i]) == 0) {
            return i;
        }
    }
    return -1;
}

/* Keeps the client context of params._meta["backbeat/client"], checked and bounded. */
static int
session_take_client(struct mcp_session *s, const json_t *params, struct err *e)
{
    json_t *meta = json_object_get(params, "_meta");
    json_t *client = json_object_get(meta, MCP_CLIENT_META_KEY);
    if (client == NULL) {
        return 0;
    }
    if (!json_is_object(client)) {
        return err_set(e, ERR_INVALID, "_meta.%s: must be an object", MCP_CLIENT_META_KEY);
    }
    json_t *cwd = json_object_get(client, "cwd");
    if (cwd != NULL) {
        const char *c = json_string_value(cwd);
        if (c == NULL || c[0] != '/' || strlen(c) > MCP_CLIENT_CWD_MAX) {
            return err_set(e, ERR_INVALID,
                           "_meta.%s.cwd: must be an absolute path of at most %d bytes",
                           MCP_CLIENT_META_KEY, MCP_CLIENT_CWD_MAX);
        }
    }
    json_t *env = json_object_get(client, "env");
    if (env != NULL) {
        if (!json_is_object(env)) {
            return err_set(e, ERR_INVALID, "_meta.%s.env: must be an object of strings",
                           MCP_CLIENT_META_KEY);
        }
        if (json_object_size(env) > MCP_CLIENT_ENV_MAX) {
            return err_set(e, ERR_INVALID, "_meta.%s.env: at most %d variables (got %zu)",
                           MCP_CLIENT_META_KEY, MCP_CLIENT_ENV_MAX, json_object_size(env));
        }
        size_t bytes = 0;
        const char *k;
        json_t *v;
        json_object_foreach(env, k, v)
        {
            if (!json_is_string(v)) {
                return err_set(e, ERR_INVALID, "_meta.%s.env.%.64s: must be a string",
                               MCP_CLIENT_META_KEY, k);
            }
            bytes += strlen(k) + json_string_length(v);
        }
        if (bytes > MCP_CLIENT_ENV_BYTES) {
            return err_set(e, ERR_INVALID, "_meta.%s.env: at most %d bytes in all (got %zu)",
                           MCP_CLIENT_META_KEY, MCP_CLIENT_ENV_BYTES, bytes);
        }
    }
    free(s->client_cwd);
    s->client_cwd = cwd ? xstrdup(json_string_value(cwd)) : NULL;
    json_decref(s->client_env);
    s->client_env = env ? json_deep_copy(env) : NULL;
    return 0;
}

static void
handle_initialize(struct mcp_session *s, const struct jsonrpc_msg *m)
{
    struct err e;
    if (s->initialized) {
        session_error(s, m->id, JSONRPC_INVALID_REQUEST, "the session is already initialized");
        return;
    }
    const char *asked = json_get_str(m->params, "protocolVersion");
    if (!json_is_object(m->params) || asked == NULL) {
        session_error(s, m->id, JSONRPC_INVALID_PARAMS,
                      "initialize: params.protocolVersion must be a string");
        return;
    }
    if (session_take_client(s, m->params, &e) != 0) {
        char *msg = xasprintf("initialize: %s", e.msg);
        session_error(s, m->id, JSONRPC_INVALID_PARAMS, msg);
        free(msg);
        return;
    }
    const char *version = MCP_PROTOCOL_LATEST;
    for (int i = 0; mcp_versions[i]; i++) {
        if (strcmp(asked, mcp_versions[i]) == 0) {
            version = mcp_versions[i];
        }
    }
    json_t *r = json_pack("{s:s,s:{s:{s:b},s:{}},s:{s:s,s:s,s:s},s:s}", "protocolVersion", version,
                          "capabilities", "tools", "listChanged", 0, "logging", "serverInfo",
                          "name", "backbeat", "version", BEAT_VERSION, "title", "Backbeat",
                          "instructions", mcp_instructions);
    session_result(s, m->id, r);
    json_decref(r);
    s->initialized = true;
}

static void
handle_set_level(struct mcp_session *s, const struct jsonrpc_msg *m)
{
    int level = level_index(json_get_str(m->params, "level"));
    if (level < 0) {
        session_error(s, m->id, JSONRPC_INVALID_PARAMS,
                      "logging/setLevel: level must be one of debug, info, notice, warning, "
                      "error, critical, alert, emergency");
        return;
    }
    s->log_level = level;
    json_t *r = json_object();
    session_result(s, m->id, r);
    json_decref(r);
}

static void
handle_tools_list(struct mcp_session *s, const struct jsonrpc_msg *m)
{
    json_t *r = op_tools_list();
    session_result(s, m->id, r);
    json_decref(r);
}

static void
handle_tools_call(struct mcp_session *s, const struct jsonrpc_msg *m)
{
    struct err e = { 0 };
    const char *name = json_get_str(m->params, "name");
    if (name == NULL) {
        session_error(s, m->id, JSONRPC_INVALID_PARAMS, "tools/call: name must be a string");
        return;
    }
    const struct op *op = op_find(name);
    if (op == NULL || (op->flags & OP_NO_MCP)) {
        json_t *n = json_string_bytes(name, strlen(name));
        char *msg = xasprintf("Unknown tool: %.200s", json_string_value(n));
        session_error(s, m->id, JSONRPC_INVALID_PARAMS, msg);
        free(msg);
        json_decref(n);
        return;
    }
    json_t *args = json_object_get(m->params, "arguments");
    if (args != NULL && !json_is_object(args) && !json_is_null(args)) {
        session_error(s, m->id, JSONRPC_INVALID_PARAMS, "tools/call: arguments must be an object");
        return;
    }
    if (op_validate(op, args, &e) != 0) {
        send_tool_error(s, m->id, &e);
        return;
    }
    if (s->engine == NULL) {
        err_set(&e, ERR_UNAVAILABLE, "%s: this session has no engine to run tools", name);
        send_tool_error(s, m->id, &e);
        return;
    }
    if (s->npending >= MCP_PENDING_MAX) {
        err_set(&e, ERR_STATE, "%s: too many calls in flight on this connection (at most %d)", name,
                MCP_PENDING_MAX);
        send_tool_error(s, m->id, &e);
        return;
    }

    struct mcp_call *c = xcalloc(1, sizeof *c);
    json_t *meta = json_object_get(m->params, "_meta");
    json_t *token = json_object_get(meta, "progressToken");
    if (json_is_string(token) || json_is_integer(token)) {
        c->progress_token = json_incref(token);
    }
    c->session = s;
    c->id = xstrdup(m->id);
    c->args = json_is_object(args) ? json_incref(args) : json_object();
    c->ctx.engine = s->engine;
    c->ctx.client_cwd = s->client_cwd;
    c->ctx.client_env = s->client_env;
    c->ctx.complete = call_complete_cb;
    c->ctx.progress = call_progress_cb;
    c->ctx.transport = c;

    json_t *result = NULL;
    c->in_run = true;
    int rc = op->run(&c->ctx, c->args, &result, &e);
    c->in_run = false;
    if (rc == OP_PENDING) {
        if (c->early_done) {
            json_t *early = c->early_result;
            c->early_result = NULL;
            send_tool_outcome(s, c->id, early, c->early_failed ? &c->early_err : NULL);
            call_free(c);
            return;
        }
        c->next = s->pending;
        if (s->pending) {
            s->pending->prev = c;
        }
        s->pending = c;
        s->npending++;
        return;
    }
    if (c->early_done) {
        log_warn("mcp: %s completed a call it did not leave pending", name);
    }
    if (rc != OP_DONE && e.msg[0] == '\0') {
        err_set(&e, ERR_INTERNAL, "%s failed without saying why", name);
    }
    send_tool_outcome(s, m->id, rc == OP_DONE ? result : NULL, rc == OP_DONE ? NULL : &e);
    if (rc != OP_DONE) {
        json_decref(result);
    }
    call_free(c);
}

static void
handle_cancelled(struct mcp_session *s, const struct jsonrpc_msg *m)
{
    char *id = jsonrpc_id_text(json_object_get(m->params, "requestId"));
    if (id == NULL) {
        return;
    }
    for (struct mcp_call *c = s->pending; c; c = c->next) {
        if (strcmp(c->id, id) == 0) {
            call_abandon(c);
            break;
        }
    }
    free(id);
}

struct mcp_method {
    const char *name;
    void (*handle)(struct mcp_session *s, const struct jsonrpc_msg *m);
    bool before_init; /* allowed before initialize */
};

static void
handle_ping(struct mcp_session *s, const struct jsonrpc_msg *m)
{
    json_t *r = json_object();
    session_result(s, m->id, r);
    json_decref(r);
}

static const struct mcp_method mcp_methods[] = {
    { "initialize", handle_initialize, true },
    { "logging/setLevel", handle_set_level, false },
    { "ping", handle_ping, true },
    { "tools/call", handle_tools_call, false },
    { "tools/list", handle_tools_list, false },
};

static void
handle_request(struct mcp_session *s, const struct jsonrpc_msg *m)
{
    const struct mcp_method *method = NULL;
    for (size_t i = 0; i < sizeof mcp_methods / sizeof mcp_methods[0]; i++) {
        if (strcmp(m->method, mcp_methods[i].name) == 0) {
            method = &mcp_methods[i];
        }
    }
    if (method == NULL) {
        json_t *n = json_string_bytes(m->method, strlen(m->method));
        char *msg = xasprintf("Method not found: %.200s", json_string_value(n));
        session_error(s, m->id, JSONRPC_METHOD_NOT_FOUND, msg);
        free(msg);
        json_decref(n);
        return;
    }
    if (!s->initialized && !method->before_init) {
        session_error(s, m->id, JSONRPC_INVALID_REQUEST,
                      "the session is not initialized: send initialize first");
        return;
    }
    if (m->params != NULL && !json_is_object(m->params)) {
        session_error(s, m->id, JSONRPC_INVALID_PARAMS, "params must be an object");
        return;
    }
    method->handle(s, m);
}

/* Handles one line from the client. */
void
mcp_session_handle_line(struct mcp_session *s, const char *line, size_t len)
{
    struct jsonrpc_msg m;
    switch (jsonrpc_parse(line, len, &m)) {
    case JSONRPC_REQUEST:
        handle_request(s, &m);
        break;
    case JSONRPC_NOTIFICATION:
        if (strcmp(m.method, "notifications/cancelled") == 0) {
            handle_cancelled(s, &m);
        }
        break; /* notifications/initialized and unknown ones need nothing */
    case JSONRPC_RESPONSE:
        break; /* we send no requests, so no response is awaited */
    case JSONRPC_INVALID:
        session_error(s, m.id, m.error_code, m.error_msg);
        break;
    }
    jsonrpc_msg_fini(&m);
}

/* Answers a line that was too long to read. */
void
mcp_session_handle_too_long(struct mcp_session *s)
{
    session_error(s, NULL, JSONRPC_INVALID_REQUEST, "message exceeds 4194304 bytes");
}

/* Sends a log notification when the session's level admits it. */
void
mcp_session_notify_log(struct mcp_session *s, const char *level, const char *logger,
                       const json_t *data)
{
    int l = level_index(level);
    if (s == NULL || !s->initialized || l < 0 || l < s->log_level) {
        return;
    }
    json_t *params = json_object();
    json_object_set_new(params, "level", json_string(mcp_levels[l]));
    if (logger != NULL) {
        json_object_set_new(params, "logger", json_string_bytes(logger, strlen(logger)));
    }
    json_object_set(params, "data", data ? (json_t *)data : json_null());
    session_notify(s, "notifications/message", params);
    json_decref(params);
}
