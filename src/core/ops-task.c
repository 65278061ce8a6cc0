/* The task operations: DelegateTask, TaskStatus, TaskLogs, CancelTask, RetryTask,
 * WaitForTask and SystemStatus. Each handler runs after op_validate has checked the shape of
 * its arguments; here live the rules that need the store or the client's context. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agents/agent.h"
#include "core/config.h"
#include "core/engine.h"
#include "core/enrich.h"
#include "core/op.h"
#include "core/ops.h"
#include "core/output.h"
#include "runtime/rt.h"
#include "runtime/supervise.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define LOGS_RANGE_MAX (256 * 1024) /* bytes per TaskLogs read with an offset */
#define LOGS_TAIL_MAX  (4 * 1024 * 1024)

static const char *const priorities[] = { "P0", "P1", "P2", NULL };
static const char *const statuses[] = { "queued", "blocked", "running", "completed", "failed",
                                        "cancelled", NULL };
static const char *const wait_until[] = { "terminal", "running", NULL };
static const char *const resume_modes[] = { "auto", "session", "prompt", NULL };

static bool
ops_format_model(const char *s, const char **why)
{
    for (const char *p = s; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("._:/-@[]", *p))) {
            *why = "may contain only letters, digits and . _ : / - @ [ ]";
            return false;
        }
    }
    return true;
}

static struct task *ops_task_copy_settings(const struct task *src);

/* ---- task rendering ---- */

static void
ops_set_time(json_t *o, const char *key, int64_t ms)
{
    if (ms > 0) {
        json_set_int(o, key, ms);
    }
}

/* A task as JSON: every field a client may see (never the environment). */
json_t *
ops_task_json(struct engine *eng, const struct task *t, bool with_deps)
{
    json_t *o = json_object();
    json_set_str(o, "taskId", t->id);
    json_set_str(o, "status", task_status_name(t->status));
    json_set_str(o, "prompt", t->prompt);
    json_set_str(o, "priority", task_priority_name(t->priority));
    json_set_str(o, "agent", t->agent ? t->agent : "unknown");
    json_set_str(o, "workingDirectory", t->working_directory);
    json_set_int(o, "timeout", t->timeout_ms);
    json_set_int(o, "maxOutputBuffer", t->max_output_buffer);
    json_set_str(o, "model", t->model);
    json_set_str(o, "systemPrompt", t->system_prompt);
    ops_set_time(o, "createdAt", t->created_at);
    ops_set_time(o, "updatedAt", t->updated_at);
    ops_set_time(o, "startedAt", t->started_at);
    ops_set_time(o, "completedAt", t->completed_at);
    ops_set_time(o, "startTime", t->started_at); /* the existing tool's names */
    ops_set_time(o, "endTime", t->completed_at);
    if (t->started_at > 0) {
        int64_t end = t->completed_at > 0 ? t->completed_at : clock_now_ms();
        json_set_int(o, "duration", end - t->started_at);
    }
    if (t->has_exit_code) {
        json_set_int(o, "exitCode", t->exit_code);
    }
    if (t->signal > 0) {
        json_set_int(o, "signal", t->signal);
    }
    if (t->end != TASK_END_NONE) {
        json_set_str(o, "endReason", task_end_name(t->end));
    }
    json_set_str(o, "reason", t->reason);
    if (t->pid > 0) {
        json_set_int(o, "pid", t->pid);
        json_set_int(o, "pgid", t->pgid);
    }
    json_set_str(o, "parentTaskId", t->parent_task_id);
    json_set_str(o, "retryOf", t->retry_of);
    if (t->retry_count > 0) {
        json_set_int(o, "retryCount", t->retry_count);
    }
    json_set_str(o, "continueFrom", t->continue_from);
    json_set_str(o, "resumeMode", t->resume_mode);
    json_set_str(o, "sessionId", t->session_id);
    json_set_str(o, "result", t->result_text);
    json_set_str(o, "apiError", t->api_error);
    if (t->input_tokens >= 0 || t->output_tokens >= 0 || t->cost_usd >= 0) {
        json_t *u = json_object();
        if (t->input_tokens >= 0) {
            json_set_int(u, "inputTokens", t->input_tokens);
        }
        if (t->output_tokens >= 0) {
            json_set_int(u, "outputTokens", t->output_tokens);
        }
        if (t->cost_usd >= 0) {
            json_object_set_new(u, "costUsd", json_real(t->cost_usd));
        }
        json_object_set_new(o, "usage", u);
    }
    if (task_status_is_terminal(t->status) && (t->stdout_bytes || t->stderr_bytes)) {
        json_object_set_new(o, "outputBytes",
                            json_pack("{s:I, s:I, s:b}", "stdout", (json_int_t)t->stdout_bytes,
                                      "stderr", (json_int_t)t->stderr_bytes, "truncated",
                                      t->output_truncated));
    }
    if (with_deps && eng != NULL) {
        struct store *st = engine_store(eng);
        struct err e;
        char **v = NULL;
        if (store_dep_list(st, t->id, &v, &e) == 0 && v && v[0]) {
            json_t *a = json_array();
            for (char **p = v; *p; p++) {
                json_array_append_new(a, json_string(*p));
            }
            json_object_set_new(o, "dependsOn", a);
        }
        strv_free(v);
        v = NULL;
        if (store_dep_dependents(st, t->id, &v, &e) == 0 && v && v[0]) {
            json_t *a = json_array();
            for (char **p = v; *p; p++) {
                json_array_append_new(a, json_string(*p));
            }
            json_object_set_new(o, "dependents", a);
        }
        strv_free(v);
        v = NULL;
        if (t->status == TASK_BLOCKED && store_dep_unmet(st, t->id, &v, &e) == 0) {
            json_t *a = json_array();
            for (char **p = v; p && *p; p++) {
                json_array_append_new(a, json_string(*p));
            }
            json_object_set_new(o, "blockedBy", a);
        }
        strv_free(v);
        if (t->status == TASK_QUEUED && engine_waiting_reason(eng)) {
            json_set_str(o, "waitingReason", engine_waiting_reason(eng));
        }
        if (t->status == TASK_RUNNING && engine_task_last_line(eng, t->id)) {
            json_set_str(o, "lastOutputLine", engine_task_last_line(eng, t->id));
        }
    }
    return o;
}

/* ---- DelegateTask ---- */

/* The agents, built-in or user-defined, whose program is on the client's PATH. */
static char *
ops_installed_agents(const struct config *cfg, const json_t *env)
{
    char **names = config_agent_names(cfg);
    struct buf b;
    buf_init(&b);
    for (char **n = names; *n; n++) {
        struct agent_conf ac;
        struct err e;
        if (agent_conf_load(*n, config_agent(cfg, *n), &ac, &e) == 0) {
            const char *program = agent_conf_program(&ac);
            char *p = program ? fs_find_exec(program, json_get_str(env, "PATH")) : NULL;
            if (p) {
                buf_printf(&b, "%s%s", b.len ? ", " : "", *n);
                free(p);
            }
        }
        agent_conf_fini(&ac);
    }
    strv_free(names);
    return b.len ? buf_take(&b) : (buf_fini(&b), xstrdup("none"));
}

/* Fills the settings shared by DelegateTask, RetryTask and ResumeTask from args and the
 * client's configuration. */
int
ops_task_settings(struct op_ctx *ctx, const json_t *args, struct task *t, struct err *e)
{
    struct config *cfg = engine_client_config(ctx->engine, ctx->client_env);
    const char *agent = json_get_str(args, "agent");
    const char *wd = json_get_str(args, "workingDirectory");
    int rc = -1;

    if (json_get_str(args, "priority")) {
        task_priority_parse(json_get_str(args, "priority"), &t->priority);
    }
    t->timeout_ms = json_get_int(args, "timeout", t->timeout_ms ? t->timeout_ms
                                                                : config_int(cfg, "timeout"));
    t->max_output_buffer = json_get_int(args, "maxOutputBuffer",
                                        t->max_output_buffer
                                            ? t->max_output_buffer
                                            : config_int(cfg, "maxOutputBuffer"));
    if (agent == NULL && t->agent == NULL) {
        agent = config_str(cfg, "defaultAgent");
        if (agent == NULL) {
            char *installed = ops_installed_agents(cfg, ctx->client_env);
            char *known = config_agent_list(cfg);
            err_set(e, ERR_INVALID,
                    "agent: no agent given and no default agent configured; installed agents: "
                    "%s. Pass agent (one of %s) or run `beat config set defaultAgent <agent>` "
                    "(or `beat init`)",
                    installed, known);
            free(known);
            free(installed);
            goto out;
        }
    }
    if (agent != NULL) {
        /* Built-in or defined in config.json now: the schema can only check the name's form. */
        if (!config_agent_known(config_agents(cfg), agent)) {
            char *known = config_agent_list(cfg);
            err_set(e, ERR_INVALID, "agent: unknown agent \"%s\"; known agents: %s", agent, known);
            free(known);
            goto out;
        }
        free(t->agent);
        t->agent = xstrdup(agent);
    }
    if (wd != NULL || t->working_directory == NULL) {
        const char *base = ctx->client_cwd;
        if (wd == NULL && base == NULL) {
            err_set(e, ERR_INVALID, "workingDirectory: required, since this client did not say "
                                    "its working directory");
            goto out;
        }
        struct err re;
        char *real = fs_resolve_dir(wd ? wd : base, base, &re);
        if (real == NULL) {
            err_set(e, ERR_INVALID, "workingDirectory: %s", re.msg);
            goto out;
        }
        free(t->working_directory);
        t->working_directory = real;
    }
    if (json_get_str(args, "model")) {
        free(t->model);
        t->model = xstrdup(json_get_str(args, "model"));
    }
    if (json_get_str(args, "systemPrompt")) {
        free(t->system_prompt);
        t->system_prompt = xstrdup(json_get_str(args, "systemPrompt"));
    }
    json_decref(t->env);
    t->env = ctx->client_env ? json_deep_copy(ctx->client_env) : json_environ();
    free(t->client_cwd);
    t->client_cwd = ctx->client_cwd ? xstrdup(ctx->client_cwd) : NULL;
    rc = 0;
out:
    config_free(cfg);
    return rc;
}

/* Checks dependsOn/continueFrom and returns the dependency list (strv, may be empty). */
static int
ops_task_deps(struct op_ctx *ctx, const json_t *args, struct task *t, char ***out,
              struct err *e)
{
    json_t *deps = json_object_get(args, "dependsOn");
    const char *cont = json_get_str(args, "continueFrom");
    size_t n = json_array_size(deps);
    char **v = xcalloc(n + 2, sizeof *v);
    size_t k = 0;
    struct store *st = engine_store(ctx->engine);

    for (size_t i = 0; i < n; i++) {
        const char *id = json_string_value(json_array_get(deps, i));
        for (size_t j = 0; j < k; j++) {
            if (strcmp(v[j], id) == 0) {
                strv_free(v);
                return err_set(e, ERR_INVALID, "dependsOn: %s is listed twice", id);
            }
        }
        if (!store_task_exists(st, id)) {
            strv_free(v);
            return err_set(e, ERR_INVALID, "dependsOn: task %s does not exist", id);
        }
        v[k++] = xstrdup(id);
    }
    if (cont != NULL) {
        if (!store_task_exists(st, cont)) {
            strv_free(v);
            return err_set(e, ERR_INVALID, "continueFrom: task %s does not exist", cont);
        }
        bool listed = false;
        for (size_t j = 0; j < k; j++) {
            listed |= strcmp(v[j], cont) == 0;
        }
        if (!listed) {
            if (k >= TASK_DEPS_MAX) {
                strv_free(v);
                return err_set(e, ERR_INVALID, "dependsOn: at most %d dependencies, and "
                               "continueFrom adds one more", TASK_DEPS_MAX);
            }
            v[k++] = xstrdup(cont);
        }
        t->continue_from = xstrdup(cont);
    }
    *out = v;
    return 0;
}

static int
ops_delegate(struct op_ctx *ctx, const json_t *args, json_t **result, struct err *e)
{
    struct task *t = task_new();
    char **deps = NULL;
    int rc = -1;

    t->prompt = xstrdup(json_get_str(args, "prompt"));
    t->priority = 2;
    if (ops_task_settings(ctx, args, t, e) != 0 || ops_task_deps(ctx, args, t, &deps, e) != 0 ||
        engine_task_submit(ctx->engine, t, deps, e) != 0) {
        goto out;
    }
    *result = json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:s}", "success", 1, "taskId", t->id,
                        "message", "Task delegated successfully", "status",
                        task_status_name(t->status), "priority", task_priority_name(t->priority),
                        "agent", t->agent, "workingDirectory", t->working_directory);
    rc = OP_DONE;
out:
    strv_free(deps);
    task_free(t);
    return rc;
}

/* ---- TaskStatus ---- */

static int
ops_status(struct op_ctx *ctx, const json_t *args, json_t **result, struct err *e)
{
    const char *id = json_get_str(args, "taskId");
    if (id != NULL) {
        struct task *t = engine_task_load(ctx->engine, id, e);
        if (t == NULL) {
            return -1;
        }
        json_t *o = ops_task_json(ctx->engine, t, true);
        json_object_set_new(o, "success", json_true());
        struct err ce;
        struct checkpoint *c = store_checkpoint_load(engine_store(ctx->engine), id, &ce);
        if (c != NULL) {
            json_t *cj = json_pack("{s:s, s:I}", "status", c->status, "createdAt",
                                   (json_int_t)c->created_at);
            json_set_str(cj, "reason", c->reason);
            if (c->has_exit_code) {
                json_set_int(cj, "exitCode", c->exit_code);
            }
            json_set_str(cj, "outputTail", c->output_tail);
            json_set_str(cj, "errorTail", c->error_tail);
            json_set_str(cj, "gitBranch", c->git_branch);
            json_set_str(cj, "gitCommit", c->git_commit);
            if (c->git_changed) {
                json_object_set(cj, "gitChangedFiles", c->git_changed);
            }
            json_object_set_new(o, "checkpoint", cj);
            checkpoint_free(c);
        }
        task_free(t);
        *result = o;
        return OP_DONE;
    }
    struct task_filter f = { .status = -1, .limit = 50, .offset = 0 };
    const char *status = json_get_str(args, "status");
    if (status != NULL) {
        enum task_status s;
        task_status_parse(status, &s);
        f.status = (int)s;
    }
    f.limit = (int)json_get_int(args, "limit", 50);
    f.offset = (int)json_get_int(args, "offset", 0);
    struct task **tasks = NULL;
    int64_t total = 0;
    if (store_task_list(engine_store(ctx->engine), &f, &tasks, &total, e) != 0) {
        return -1;
    }
    json_t *arr = json_array();
    for (struct task **p = tasks; p && *p; p++) {
        json_array_append_new(arr, ops_task_json(NULL, *p, false));
        task_free(*p);
    }
    free(tasks);
    *result = json_pack("{s:b, s:o, s:I, s:i, s:i}", "success", 1, "tasks", arr, "total",
                        (json_int_t)total, "limit", f.limit, "offset", f.offset);
    return OP_DONE;
}

/* ---- TaskLogs ---- */

static void
ops_logs_stream(json_t *o, const char *path, const char *text_key, const char *off_key,
                const json_t *args, int tail, int64_t *lines)
{
    size_t len;
    char *raw;
    int64_t size;
    json_t *off = json_object_get(args, off_key);
    if (json_is_integer(off)) {
        raw = output_read_range(path, json_integer_value(off), LOGS_RANGE_MAX, &len, &size);
        json_set_int(o, off_key, json_integer_value(off) + (int64_t)len);
    } else {
        raw = output_tail_lines(path, tail, LOGS_TAIL_MAX, &len);
        size = output_file_size(path);
        json_set_int(o, off_key, size);
    }
    json_object_set_new(o, text_key, json_string_bytes(raw, len));
    free(raw);
    *lines = output_count_lines(path);
}

static int
ops_logs(struct op_ctx *ctx, const json_t *args, json_t **result, struct err *e)
{
    const char *id = json_get_str(args, "taskId");
    struct task *t = engine_task_load(ctx->engine, id, e);
    if (t == NULL) {
        return -1;
    }
    int tail = (int)json_get_int(args, "tail", 100);
    char *dir = engine_task_dir(ctx->engine, id);
    char *out = xasprintf("%s/%s", dir, SUPERVISE_STDOUT);
    char *err = xasprintf("%s/%s", dir, SUPERVISE_STDERR);
    int64_t nout = 0, nerr = 0;
    json_t *o = json_pack("{s:b, s:s, s:s}", "success", 1, "taskId", id, "status",
                          task_status_name(t->status));
    ops_logs_stream(o, out, "output", "offset", args, tail, &nout);
    ops_logs_stream(o, err, "errors", "errorsOffset", args, tail, &nerr);
    json_object_set_new(o, "lineCount", json_pack("{s:I, s:I}", "output", (json_int_t)nout,
                                                  "errors", (json_int_t)nerr));
    json_object_set_new(o, "truncated", json_boolean(t->output_truncated));
    *result = o;
    free(out);
    free(err);
    free(dir);
    task_free(t);
    return OP_DONE;
}

/* ---- CancelTask: waits until the agent is really stopped ---- */

struct ops_wait {
    struct op_ctx *ctx;
    struct engine_watcher *watcher;
    struct rt_timer *timer;
    struct rt_timer *progress;
    char **ids;
    bool until_running;
    bool cancel_mode;
    int64_t ticks;
};

static void
ops_wait_free(struct ops_wait *w)
{
    engine_unwatch(w->ctx->engine, w->watcher);
    rt_timer_free(w->timer);
    rt_timer_free(w->progress);
    strv_free(w->ids);
    free(w);
}

/* True when every task is done waiting for; fills the states. */
static bool
ops_wait_check(struct ops_wait *w, json_t **states)
{
    bool all = true;
    json_t *arr = json_array();
    for (char **id = w->ids; *id; id++) {
        struct err e;
        struct task *t = engine_task_load(w->ctx->engine, *id, &e);
        if (t == NULL) {
            continue;
        }
        bool done = task_status_is_terminal(t->status) ||
                    (w->until_running && t->status == TASK_RUNNING);
        all &= done;
        json_t *o = ops_task_json(w->ctx->engine, t, false);
        json_object_del(o, "prompt"); /* states, not the whole task again */
        json_array_append_new(arr, o);
        task_free(t);
    }
    *states = arr;
    return all;
}

static json_t *ops_wait_result(struct ops_wait *w, bool timed_out);

static void
ops_wait_finish(struct ops_wait *w, bool timed_out)
{
    struct op_ctx *ctx = w->ctx;
    json_t *result = ops_wait_result(w, timed_out);
    ctx->cancel_cb = NULL;
    ops_wait_free(w);
    ctx->complete(ctx, result, NULL);
}

static void
ops_wait_watch_cb(void *arg, const char *task_id, enum task_status status)
{
    struct ops_wait *w = arg;
    (void)status;
    for (char **id = w->ids; *id; id++) {
        if (strcmp(*id, task_id) == 0) {
            json_t *states = NULL;
            bool done = ops_wait_check(w, &states);
            json_decref(states);
            if (done) {
                ops_wait_finish(w, false);
            }
            return;
        }
    }
}

static void
ops_wait_timer_cb(void *arg)
{
    ops_wait_finish(arg, true);
}

static void
ops_wait_progress_cb(void *arg)
{
    struct ops_wait *w = arg;
    const char *line = NULL;
    for (char **id = w->ids; *id && line == NULL; id++) {
        line = engine_task_last_line(w->ctx->engine, *id);
    }
    w->ctx->progress(w->ctx, (double)++w->ticks, 0, line ? line : "waiting");
}

static void
ops_wait_cancel_cb(struct op_ctx *ctx)
{
    ops_wait_free(ctx->handler_data);
}

static json_t *
ops_wait_result(struct ops_wait *w, bool timed_out)
{
    json_t *states = NULL;
    bool done = ops_wait_check(w, &states);
    if (!w->cancel_mode) {
        return json_pack("{s:b, s:b, s:b, s:o}", "success", 1, "done", done, "timedOut",
                         timed_out && !done, "tasks", states);
    }
    json_t *t = json_array_get(states, 0);
    json_t *r = json_pack("{s:b, s:s, s:s, s:s}", "success", 1, "taskId", w->ids[0], "status",
                          json_get_str(t, "status") ? json_get_str(t, "status") : "unknown",
                          "message",
                          done ? "Task cancelled" : "Cancellation requested; the agent is stopping");
    json_decref(states);
    return r;
}

static int
ops_wait_start(struct op_ctx *ctx, char **ids, bool until_running, bool cancel_mode,
               int64_t timeout_ms, json_t **result)
{
    struct ops_wait *w = xcalloc(1, sizeof *w);
    json_t *states = NULL;
    w->ctx = ctx;
    w->ids = ids;
    w->until_running = until_running;
    w->cancel_mode = cancel_mode;
    bool done = ops_wait_check(w, &states);
    json_decref(states);
    if (done || timeout_ms == 0) {
        *result = ops_wait_result(w, !done);
        ops_wait_free(w);
        return OP_DONE;
    }
    struct rt *rt = engine_rt(ctx->engine);
    w->watcher = engine_watch(ctx->engine, ops_wait_watch_cb, w);
    w->timer = rt_timer_new(rt, ops_wait_timer_cb, w);
    rt_timer_start(w->timer, (uint64_t)timeout_ms, 0);
    if (!cancel_mode) {
        /* Progress at least every 10 s keeps clients' per-call timeouts from firing. */
        w->progress = rt_timer_new(rt, ops_wait_progress_cb, w);
        rt_timer_start(w->progress, 5000, 5000);
    }
    ctx->handler_data = w;
    ctx->cancel_cb = ops_wait_cancel_cb;
    return OP_PENDING;
}

static int
ops_cancel(struct op_ctx *ctx, const json_t *args, json_t **result, struct err *e)
{
    const char *id = json_get_str(args, "taskId");
    const char *reason = json_get_str(args, "reason");
    if (engine_task_cancel(ctx->engine, id, reason, e) != 0) {
        return -1;
    }
    char **ids = xcalloc(2, sizeof *ids);
    ids[0] = xstrdup(id);
    /* The kill ladder takes at most the grace period; allow a little more. */
    int64_t grace = config_int(engine_config(ctx->engine), "killGracePeriodMs");
    return ops_wait_start(ctx, ids, false, true, grace + 3000, result);
}

/* ---- RetryTask ---- */

static int
ops_retry(struct op_ctx *ctx, const json_t *args, json_t **result, struct err *e)
{
    const char *id = json_get_str(args, "taskId");
    struct task *src = engine_task_load(ctx->engine, id, e);
    struct task *t = NULL;
    int rc = -1;
    if (src == NULL) {
        return -1;
    }
    if (!task_status_is_terminal(src->status)) {
        err_set(e, ERR_STATE, "task %s cannot be retried while it is %s; only completed, failed "
                "or cancelled tasks can be retried", id, task_status_name(src->status));
        goto out;
    }
    t = ops_task_copy_settings(src);
    t->prompt = xstrdup(src->prompt);
    json_t *none = json_object();
    int s = ops_task_settings(ctx, none, t, e);
    json_decref(none);
    if (s != 0 || engine_task_submit(ctx->engine, t, NULL, e) != 0) {
        goto out;
    }
    char msg[128];
    snprintf(msg, sizeof msg, "Task %s retried successfully", id);
    *result = json_pack("{s:b, s:s, s:s, s:i, s:s, s:s}", "success", 1, "message", msg,
                        "newTaskId", t->id, "retryCount", t->retry_count, "parentTaskId",
                        t->parent_task_id, "status", task_status_name(t->status));
    rc = OP_DONE;
out:
    task_free(src);
    task_free(t);
    return rc;
}

/* ---- ResumeTask ---- */

static struct task *
ops_task_copy_settings(const struct task *src)
{
    struct task *t = task_new();
    t->priority = src->priority;
    t->agent = src->agent ? xstrdup(src->agent) : NULL;
    t->working_directory = src->working_directory ? xstrdup(src->working_directory) : NULL;
    t->timeout_ms = src->timeout_ms;
    t->max_output_buffer = src->max_output_buffer;
    t->model = src->model ? xstrdup(src->model) : NULL;
    t->system_prompt = src->system_prompt ? xstrdup(src->system_prompt) : NULL;
    t->parent_task_id = xstrdup(src->parent_task_id ? src->parent_task_id : src->id);
    t->retry_of = xstrdup(src->id);
    t->retry_count = src->retry_count + 1;
    return t;
}

/* Whether an agent can continue its own session: a built-in that supports it, or a
 * user-defined agent whose command template takes {session}. */
static bool
ops_agent_resumes(struct op_ctx *ctx, const char *agent)
{
    if (agent == NULL) {
        return false;
    }
    const struct agent_driver *d = agent_find(agent);
    if (d != NULL) {
        return d->supports_resume;
    }
    struct config *cfg = engine_client_config(ctx->engine, ctx->client_env);
    struct agent_conf ac;
    struct err e;
    bool resumes = false;
    if (agent_conf_load(agent, config_agent(cfg, agent), &ac, &e) == 0) {
        for (char **a = ac.command_v; a && *a && !resumes; a++) {
            resumes = strstr(*a, "{session}") != NULL;
        }
    }
    agent_conf_fini(&ac);
    config_free(cfg);
    return resumes;
}

static int
ops_resume(struct op_ctx *ctx, const json_t *args, json_t **result, struct err *e)
{
    const char *id = json_get_str(args, "taskId");
    const char *extra = json_get_str(args, "additionalContext");
    const char *mode = json_get_str(args, "resumeMode");
    struct task *src = engine_task_load(ctx->engine, id, e), *t = NULL;
    struct checkpoint *c = NULL;
    int rc = -1;
    if (src == NULL) {
        return -1;
    }
    if (!task_status_is_terminal(src->status)) {
        err_set(e, ERR_STATE, "task %s cannot be resumed while it is %s; only completed, failed "
                "or cancelled tasks can be resumed", id, task_status_name(src->status));
        goto out;
    }
    struct err ce;
    c = store_checkpoint_load(engine_store(ctx->engine), id, &ce);
    const char *session = c && c->session_id ? c->session_id : src->session_id;
    bool can_session = session != NULL && ops_agent_resumes(ctx, src->agent);
    if (mode == NULL || strcmp(mode, "auto") == 0) {
        mode = can_session ? "session" : "prompt";
    } else if (strcmp(mode, "session") == 0 && !can_session) {
        if (session == NULL) {
            err_set(e, ERR_STATE, "resumeMode: task %s has no agent session id to continue (its "
                    "agent did not report one); use resumeMode prompt", id);
        } else {
            err_set(e, ERR_INVALID, "resumeMode: agent %s cannot resume a session (a "
                    "user-defined agent needs {session} in its command); use resumeMode prompt",
                    src->agent);
        }
        goto out;
    }
    t = ops_task_copy_settings(src);
    t->resume_mode = xstrdup(mode);
    if (strcmp(mode, "session") == 0) {
        t->resume_session = xstrdup(session);
        if (strcmp(src->agent, "gemini") == 0) {
            /* gemini rolls back a refused turn: send the original prompt again. */
            t->prompt = extra ? xasprintf("%s\n\n%s", src->prompt, extra) : xstrdup(src->prompt);
        } else {
            t->prompt = xstrdup(extra ? extra : "Continue where you left off.");
        }
    } else {
        t->prompt = enrich_resume(src, c, extra);
    }
    json_t *none = json_object();
    int s = ops_task_settings(ctx, none, t, e);
    json_decref(none);
    if (s != 0 || engine_task_submit(ctx->engine, t, NULL, e) != 0) {
        goto out;
    }
    char msg[128];
    snprintf(msg, sizeof msg, "Task %s resumed successfully", id);
    *result = json_pack("{s:b, s:s, s:s, s:i, s:s, s:s, s:s}", "success", 1, "message", msg,
                        "newTaskId", t->id, "retryCount", t->retry_count, "parentTaskId",
                        t->parent_task_id, "resumeMode", mode, "status",
                        task_status_name(t->status));
    rc = OP_DONE;
out:
    checkpoint_free(c);
    task_free(src);
    task_free(t);
    return rc;
}

/* ---- WaitForTask ---- */

static int
ops_wait_check_args(const json_t *args, struct err *e)
{
    bool one = json_object_get(args, "taskId") != NULL;
    bool many = json_object_get(args, "taskIds") != NULL;
    if (one == many) {
        return err_set(e, ERR_INVALID, "taskId, taskIds: give exactly one of them");
    }
    return 0;
}

static int
ops_wait(struct op_ctx *ctx, const json_t *args, json_t **result, struct err *e)
{
    json_t *many = json_object_get(args, "taskIds");
    size_t n = many ? json_array_size(many) : 1;
    char **ids = xcalloc(n + 1, sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        const char *id = many ? json_string_value(json_array_get(many, i))
                              : json_get_str(args, "taskId");
        if (!store_task_exists(engine_store(ctx->engine), id)) {
            strv_free(ids);
            return err_set(e, ERR_NOTFOUND, "%s: task %s does not exist",
                           many ? "taskIds" : "taskId", id);
        }
        ids[i] = xstrdup(id);
    }
    const char *until = json_get_str(args, "until");
    return ops_wait_start(ctx, ids, until && strcmp(until, "running") == 0, false,
                          json_get_int(args, "timeoutMs", 60000), result);
}

/* ---- SystemStatus ---- */

static int
ops_system(struct op_ctx *ctx, const json_t *args, json_t **result, struct err *e)
{
    int64_t counts[TASK_STATUS_COUNT];
    (void)args;
    if (store_task_count_by_status(engine_store(ctx->engine), counts, e) != 0) {
        return -1;
    }
    json_t *tasks = json_object();
    for (int s = 0; s < TASK_STATUS_COUNT; s++) {
        json_set_int(tasks, task_status_name((enum task_status)s), counts[s]);
    }
    *result = json_pack("{s:b, s:{s:s, s:i, s:s, s:I}, s:o, s:o}", "success", 1, "daemon",
                        "version", BEAT_VERSION, "pid", (int)getpid(), "home",
                        engine_home(ctx->engine), "uptimeMs",
                        (json_int_t)(clock_mono_ms() - engine_started_mono(ctx->engine)),
                        "pool", engine_pool_json(ctx->engine), "tasks", tasks);
    return OP_DONE;
}

/* ---- the table entries ---- */

#define TASK_ID_ARG(req, help_text)                                                  \
    {                                                                                \
        .name = "taskId", .type = ARG_STRING, .flags = (req) | ARG_POSITIONAL,       \
        .format = op_format_task_id, .pattern = TASK_ID_PATTERN, .help = help_text, \
        .value_name = "TASK_ID", .max = TASK_ID_LEN                                  \
    }

static const struct op_arg delegate_args[] = {
    { .name = "prompt", .type = ARG_STRING, .flags = ARG_REQUIRED | ARG_REST | ARG_NONEMPTY,
      .min = 1, .max = TASK_PROMPT_MAX, .value_name = "PROMPT",
      .help = "What the agent should do, in plain words (1 to 100000 bytes of UTF-8)." },
    { .name = "priority", .cli = "priority", .cli_short = 'p', .type = ARG_ENUM,
      .choices = priorities, .help = "Queue priority: P0 runs first, then P1, then P2 (default)." },
    { .name = "workingDirectory", .cli = "working-directory", .cli_short = 'w',
      .type = ARG_STRING, .min = 1, .max = 4096, .value_name = "DIR",
      .help = "Directory the agent works in; must exist. Relative paths resolve against the "
              "client's working directory, which is also the default." },
    { .name = "timeout", .cli = "timeout", .cli_short = 't', .type = ARG_INTEGER,
      .flags = ARG_DURATION, .min = TASK_TIMEOUT_MIN, .max = TASK_TIMEOUT_MAX,
      .value_name = "MS",
      .help = "Milliseconds before the agent is stopped and the task fails as timed out "
              "(default: config timeout, 30 minutes)." },
    { .name = "maxOutputBuffer", .cli = "max-output-buffer", .cli_alias = "buffer",
      .cli_short = 'b', .type = ARG_INTEGER, .min = TASK_BUFFER_MIN, .max = TASK_BUFFER_MAX,
      .value_name = "BYTES",
      .help = "Most bytes of output (stdout and stderr together) kept for this task; the rest "
              "is dropped (default: config maxOutputBuffer, 10 MiB)." },
    { .name = "agent", .cli = "agent", .cli_short = 'a', .type = ARG_STRING, .min = 1,
      .max = AGENT_CONF_NAME_MAX, .format = config_agent_name_format,
      .pattern = CONFIG_AGENT_NAME_PATTERN, .value_name = "NAME",
      .help = "Agent to run: claude, codex, gemini or one defined in config.json under "
              "agents.<name> (default: config defaultAgent)." },
    { .name = "dependsOn", .cli = "depends-on", .cli_alias = "deps", .type = ARG_STRING_ARRAY,
      .flags = ARG_COMMA_LIST, .max = TASK_DEPS_MAX, .format = op_format_task_id,
      .pattern = TASK_ID_PATTERN, .value_name = "ID[,ID...]",
      .help = "Ids of existing tasks that must complete first (up to 100). The task is "
              "blocked until they all complete, and cancelled if one fails or is cancelled." },
    { .name = "continueFrom", .cli = "continue-from", .type = ARG_STRING,
      .format = op_format_task_id, .pattern = TASK_ID_PATTERN, .max = TASK_ID_LEN,
      .value_name = "TASK_ID",
      .help = "A task whose checkpoint (output tail, result, git state) is put before this "
              "prompt when it runs; added to dependsOn." },
    { .name = "model", .cli = "model", .cli_short = 'm', .type = ARG_STRING, .min = 1,
      .max = 200, .format = ops_format_model, .pattern = "^[A-Za-z0-9._:/@\\[\\]-]+$",
      .help = "Model name passed to the agent CLI (default: the agent's own default)." },
    { .name = "systemPrompt", .cli = "system-prompt", .type = ARG_STRING, .min = 1,
      .max = 16000, .value_name = "TEXT",
      .help = "Extra system instructions appended to the agent's own." },
    { .name = "foreground", .cli = "foreground", .cli_short = 'f', .type = ARG_BOOLEAN,
      .flags = ARG_CLI_ONLY,
      .help = "Stay attached: stream the agent's output and exit with its status (Ctrl-C "
              "cancels the task)." },
    { .name = "json", .cli = "json", .type = ARG_BOOLEAN, .flags = ARG_CLI_ONLY,
      .help = "Print the result as JSON." },
    { 0 },
};

static const struct op_arg status_args[] = {
    TASK_ID_ARG(0, "A task id for one task with every field; omit it to list tasks, newest "
                   "first."),
    { .name = "status", .cli = "status", .cli_short = 's', .type = ARG_ENUM,
      .choices = statuses, .help = "List only tasks in this state." },
    { .name = "limit", .cli = "limit", .cli_short = 'n', .type = ARG_INTEGER, .min = 1,
      .max = 1000, .help = "Most tasks to list (default 50)." },
    { .name = "offset", .cli = "offset", .type = ARG_INTEGER, .min = 0, .max = 100000000,
      .help = "Tasks to skip before listing, for paging (default 0)." },
    { .name = "json", .cli = "json", .type = ARG_BOOLEAN, .flags = ARG_CLI_ONLY,
      .help = "Print the result as JSON." },
    { 0 },
};

static const struct op_arg logs_args[] = {
    TASK_ID_ARG(ARG_REQUIRED, "The task whose output to read."),
    { .name = "tail", .cli = "tail", .cli_short = 'n', .type = ARG_INTEGER, .min = 1,
      .max = 10000, .help = "Last lines of stdout and of stderr to return (default 100)." },
    { .name = "offset", .cli = "offset", .type = ARG_INTEGER, .min = 0, .max = 0,
      .help = "Byte offset into stdout: return the output from there (up to 256 KiB) "
              "instead of a tail; pass the returned offset back to follow." },
    { .name = "errorsOffset", .cli = "errors-offset", .type = ARG_INTEGER, .min = 0,
      .max = 0, .help = "Byte offset into stderr, like offset." },
    { .name = "follow", .cli = "follow", .cli_short = 'f', .type = ARG_BOOLEAN,
      .flags = ARG_CLI_ONLY, .help = "Keep printing new output until the task ends." },
    { .name = "json", .cli = "json", .type = ARG_BOOLEAN, .flags = ARG_CLI_ONLY,
      .help = "Print the result as JSON." },
    { 0 },
};

static const struct op_arg cancel_args[] = {
    TASK_ID_ARG(ARG_REQUIRED, "The queued, blocked or running task to cancel."),
    { .name = "reason", .type = ARG_STRING, .flags = ARG_REST, .min = 1, .max = 1000,
      .value_name = "REASON", .help = "Why, recorded with the task (up to 1000 bytes)." },
    { .name = "json", .cli = "json", .type = ARG_BOOLEAN, .flags = ARG_CLI_ONLY,
      .help = "Print the result as JSON." },
    { 0 },
};

static const struct op_arg retry_args[] = {
    TASK_ID_ARG(ARG_REQUIRED, "The completed, failed or cancelled task to run again."),
    { .name = "json", .cli = "json", .type = ARG_BOOLEAN, .flags = ARG_CLI_ONLY,
      .help = "Print the result as JSON." },
    { 0 },
};

static const struct op_arg wait_args[] = {
    TASK_ID_ARG(0, "The task to wait for (or use taskIds)."),
    { .name = "taskIds", .cli = "tasks", .type = ARG_STRING_ARRAY, .flags = ARG_COMMA_LIST,
      .min = 1, .max = 100, .format = op_format_task_id, .pattern = TASK_ID_PATTERN,
      .value_name = "ID[,ID...]", .help = "Several tasks to wait for, all of them (or use taskId)." },
    { .name = "timeoutMs", .cli = "timeout", .cli_short = 't', .type = ARG_INTEGER,
      .flags = ARG_DURATION, .min = 0, .max = 600000, .value_name = "MS",
      .help = "Longest wait in milliseconds, at most 600000 (default 60000); the call then "
              "returns the current states with timedOut true." },
    { .name = "until", .cli = "until", .type = ARG_ENUM, .choices = wait_until,
      .help = "terminal (default): until every task completed, failed or was cancelled; "
              "running: until each has started or ended." },
    { .name = "json", .cli = "json", .type = ARG_BOOLEAN, .flags = ARG_CLI_ONLY,
      .help = "Print the result as JSON." },
    { 0 },
};

static const struct op_arg system_args[] = {
    { .name = "json", .cli = "json", .type = ARG_BOOLEAN, .flags = ARG_CLI_ONLY,
      .help = "Print the result as JSON." },
    { 0 },
};

#define TASK_PROPS                                                                              \
    "\"taskId\":{\"type\":\"string\"},\"status\":{\"type\":\"string\",\"enum\":[\"queued\","      \
    "\"blocked\",\"running\",\"completed\",\"failed\",\"cancelled\"]},\"prompt\":{\"type\":"     \
    "\"string\"},\"priority\":{\"type\":\"string\"},\"agent\":{\"type\":\"string\"},"            \
    "\"workingDirectory\":{\"type\":\"string\"},\"timeout\":{\"type\":\"integer\"},"             \
    "\"maxOutputBuffer\":{\"type\":\"integer\"},\"createdAt\":{\"type\":\"integer\"},"           \
    "\"startedAt\":{\"type\":\"integer\"},\"completedAt\":{\"type\":\"integer\"},"               \
    "\"duration\":{\"type\":\"integer\"},\"exitCode\":{\"type\":\"integer\"},\"reason\":"        \
    "{\"type\":\"string\"},\"endReason\":{\"type\":\"string\"},\"sessionId\":{\"type\":"         \
    "\"string\"},\"result\":{\"type\":\"string\"},\"usage\":{\"type\":\"object\"}"

const struct op op_delegate = {
    .name = "DelegateTask",
    .cli = "run",
    .title = "Delegate a task to a background agent",
    .summary = "Queue a prompt for a background coding agent and return its task id.",
    .description =
        "Hands a prompt to a background coding agent (claude, codex, gemini or one defined in "
        "config) and returns at "
        "once with a taskId, once the task is safely stored. The agent runs in "
        "workingDirectory (default: your working directory) while you keep working; tasks "
        "survive this session. Follow it with TaskStatus, TaskLogs or WaitForTask. Use "
        "dependsOn to order tasks and continueFrom to hand one task's results to the next.",
    .args = delegate_args,
    .output_schema = "{\"type\":\"object\",\"properties\":{\"success\":{\"type\":\"boolean\"},"
                     "\"taskId\":{\"type\":\"string\"},\"message\":{\"type\":\"string\"},"
                     "\"status\":{\"type\":\"string\"},\"priority\":{\"type\":\"string\"},"
                     "\"agent\":{\"type\":\"string\"},\"workingDirectory\":{\"type\":\"string\"}"
                     "},\"required\":[\"success\",\"taskId\"]}",
    .flags = OP_OPENWORLD,
    .run = ops_delegate,
};

const struct op op_status = {
    .name = "TaskStatus",
    .cli = "status",
    .title = "Task status",
    .summary = "Show one task in full, or list tasks newest first.",
    .description =
        "With taskId: every field of that task (full prompt, status, reason, times, duration, "
        "exit code, agent, session id, result, usage, dependencies, checkpoint). Without: a "
        "page of tasks, newest first, filtered by status (limit default 50, max 1000).",
    .args = status_args,
    .output_schema = "{\"type\":\"object\",\"properties\":{\"success\":{\"type\":\"boolean\"},"
                     TASK_PROPS ",\"tasks\":{\"type\":\"array\",\"items\":{\"type\":"
                     "\"object\",\"properties\":{" TASK_PROPS "}}},\"total\":{\"type\":"
                     "\"integer\"},\"checkpoint\":{\"type\":\"object\"}},\"required\":"
                     "[\"success\"]}",
    .flags = OP_READONLY | OP_IDEMPOTENT,
    .run = ops_status,
};

const struct op op_logs = {
    .name = "TaskLogs",
    .cli = "logs",
    .title = "Task output",
    .summary = "Read a task's captured stdout and stderr.",
    .description =
        "Returns the last `tail` lines of the agent's stdout (output) and stderr (errors), the "
        "real line counts, and byte offsets. To follow a running task, pass offset (and "
        "errorsOffset) from the previous answer to get only what was written since.",
    .args = logs_args,
    .output_schema = "{\"type\":\"object\",\"properties\":{\"success\":{\"type\":\"boolean\"},"
                     "\"taskId\":{\"type\":\"string\"},\"status\":{\"type\":\"string\"},"
                     "\"output\":{\"type\":\"string\"},\"errors\":{\"type\":\"string\"},"
                     "\"lineCount\":{\"type\":\"object\",\"properties\":{\"output\":{\"type\":"
                     "\"integer\"},\"errors\":{\"type\":\"integer\"}}},\"offset\":{\"type\":"
                     "\"integer\"},\"errorsOffset\":{\"type\":\"integer\"},\"truncated\":"
                     "{\"type\":\"boolean\"}},\"required\":[\"success\",\"taskId\",\"output\","
                     "\"errors\",\"lineCount\"]}",
    .flags = OP_READONLY | OP_IDEMPOTENT,
    .run = ops_logs,
};

const struct op op_cancel = {
    .name = "CancelTask",
    .cli = "cancel",
    .title = "Cancel a task",
    .summary = "Cancel a queued, blocked or running task.",
    .description =
        "Cancels a task that has not ended. A running agent's whole process group gets SIGTERM, "
        "then SIGKILL after the grace period; the call returns once it has stopped. Tasks that "
        "depend on it are cancelled too.",
    .args = cancel_args,
    .output_schema = "{\"type\":\"object\",\"properties\":{\"success\":{\"type\":\"boolean\"},"
                     "\"taskId\":{\"type\":\"string\"},\"status\":{\"type\":\"string\"},"
                     "\"message\":{\"type\":\"string\"}},\"required\":[\"success\"]}",
    .flags = OP_DESTRUCTIVE,
    .run = ops_cancel,
};

const struct op op_retry = {
    .name = "RetryTask",
    .cli = "retry",
    .title = "Retry a task",
    .summary = "Run an ended task again as a new task with the same settings.",
    .description =
        "Creates a new task with the same prompt, priority, agent, directory and limits as an "
        "ended (completed, failed or cancelled) task, linked by retryOf, parentTaskId and "
        "retryCount.",
    .args = retry_args,
    .output_schema = "{\"type\":\"object\",\"properties\":{\"success\":{\"type\":\"boolean\"},"
                     "\"message\":{\"type\":\"string\"},\"newTaskId\":{\"type\":\"string\"},"
                     "\"retryCount\":{\"type\":\"integer\"},\"parentTaskId\":{\"type\":"
                     "\"string\"},\"status\":{\"type\":\"string\"}},\"required\":[\"success\","
                     "\"newTaskId\"]}",
    .flags = OP_OPENWORLD,
    .run = ops_retry,
};

const struct op op_wait = {
    .name = "WaitForTask",
    .cli = "wait",
    .title = "Wait for tasks",
    .summary = "Block until tasks end (or start), or until a timeout.",
    .description =
        "Waits until the task (taskId) or every task (taskIds) has ended, or with until=running "
        "has started, for at most timeoutMs (default 60000, max 600000), then returns their "
        "states; timedOut tells whether the time ran out first. Sends progress notifications "
        "with the newest output line when the request has a progressToken.",
    .args = wait_args,
    .output_schema = "{\"type\":\"object\",\"properties\":{\"success\":{\"type\":\"boolean\"},"
                     "\"done\":{\"type\":\"boolean\"},\"timedOut\":{\"type\":\"boolean\"},"
                     "\"tasks\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
                     "\"properties\":{" TASK_PROPS "}}}},\"required\":[\"success\",\"done\","
                     "\"tasks\"]}",
    .flags = OP_READONLY | OP_IDEMPOTENT,
    .run = ops_wait,
    .check = ops_wait_check_args,
};

/* The pool as engine_pool_json builds it. */
#define SYSTEM_INT "{\"type\":\"integer\"}"
#define SYSTEM_NUM "{\"type\":\"number\"}"
#define SYSTEM_POOL_SCHEMA                                                                       \
    "{\"type\":\"object\",\"properties\":{\"running\":" SYSTEM_INT ",\"capacity\":" SYSTEM_INT   \
    ",\"queued\":{\"type\":\"object\",\"properties\":{\"P0\":" SYSTEM_INT ",\"P1\":" SYSTEM_INT  \
    ",\"P2\":" SYSTEM_INT "}},\"limitedBy\":{\"type\":[\"string\",\"null\"]},\"byAgent\":"       \
    "{\"type\":\"object\",\"additionalProperties\":" SYSTEM_INT "},\"limits\":{\"type\":"        \
    "\"object\",\"properties\":{\"maxWorkers\":" SYSTEM_INT ",\"cpuThreshold\":" SYSTEM_INT      \
    ",\"memoryReserve\":" SYSTEM_INT ",\"cpuCoresReserved\":" SYSTEM_INT "}},\"resources\":"     \
    "{\"type\":\"object\",\"properties\":{\"cpu\":{\"type\":\"object\",\"properties\":{"         \
    "\"cores\":" SYSTEM_INT ",\"percent\":" SYSTEM_NUM ",\"fromLoadAverage\":{\"type\":"         \
    "\"boolean\"}}},\"memory\":{\"type\":\"object\",\"properties\":{\"total\":" SYSTEM_INT       \
    ",\"available\":" SYSTEM_INT "}},\"pressure\":{\"type\":[\"object\",\"null\"],"              \
    "\"properties\":{\"cpuSome10\":" SYSTEM_NUM ",\"memorySome10\":" SYSTEM_NUM                  \
    ",\"memoryFull10\":" SYSTEM_NUM "}},\"costs\":{\"type\":\"object\",\"additionalProperties\"" \
    ":{\"type\":\"object\",\"properties\":{\"rss\":" SYSTEM_INT ",\"cpuPercent\":" SYSTEM_NUM    \
    ",\"samples\":" SYSTEM_INT "}}},\"assumedCost\":{\"type\":\"object\",\"properties\":{"       \
    "\"rss\":" SYSTEM_INT ",\"cpuPercent\":" SYSTEM_NUM "}},\"sampleAgeMs\":" SYSTEM_INT "}},"   \
    "\"tasks\":{\"type\":"                                                                       \
    "\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"taskId\":{\"type\":\"string\"}," \
    "\"agent\":{\"type\":\"string\"},\"supervisorPid\":" SYSTEM_INT ",\"pid\":" SYSTEM_INT       \
    ",\"runtimeMs\":" SYSTEM_INT ",\"cpuPercent\":" SYSTEM_NUM ",\"rss\":" SYSTEM_INT            \
    ",\"processes\":" SYSTEM_INT ",\"settling\":{\"type\":\"boolean\"}}}}}}"

const struct op op_system = {
    .name = "SystemStatus",
    .cli = "system",
    .title = "Daemon and pool status",
    .summary = "Show the daemon, the worker pool and task counts.",
    .description = "The daemon's version, pid and uptime; task counts per status; and the pool: "
                   "running agents with their CPU, memory (RSS) and runtime, capacity, queued "
                   "tasks per priority, what limits starting more (limitedBy), the limits in "
                   "force, the machine's CPU use, available memory and pressure, and what one "
                   "agent of each type was measured to cost.",
    .args = system_args,
    .output_schema = "{\"type\":\"object\",\"properties\":{\"success\":{\"type\":\"boolean\"},"
                     "\"daemon\":{\"type\":\"object\"},\"pool\":" SYSTEM_POOL_SCHEMA ","
                     "\"tasks\":{\"type\":\"object\"}},\"required\":[\"success\"]}",
    .flags = OP_READONLY | OP_IDEMPOTENT,
    .run = ops_system,
};

static const struct op_arg resume_args[] = {
    TASK_ID_ARG(ARG_REQUIRED, "The completed, failed or cancelled task to resume."),
    { .name = "additionalContext", .cli = "context", .cli_short = 'c', .type = ARG_STRING,
      .min = 1, .max = 16000, .flags = ARG_CHARS, .value_name = "TEXT",
      .help = "Extra instructions for the resumed attempt (up to 16000 characters)." },
    { .name = "resumeMode", .cli = "mode", .type = ARG_ENUM, .choices = resume_modes,
      .help = "session: the agent continues its own conversation (claude --resume, codex exec "
              "resume, gemini --resume); prompt: a fresh run whose prompt carries the "
              "checkpoint; auto (default): session when the agent reported a session id." },
    { .name = "json", .cli = "json", .type = ARG_BOOLEAN, .flags = ARG_CLI_ONLY,
      .help = "Print the result as JSON." },
    { 0 },
};

const struct op op_resume = {
    .name = "ResumeTask",
    .cli = "resume",
    .title = "Resume a task",
    .summary = "Continue an ended task from its checkpoint or its agent session.",
    .description =
        "Creates a new task that picks up where an ended task stopped: in session mode the "
        "agent continues its own conversation with additionalContext as the next message; in "
        "prompt mode a fresh run gets the checkpoint (output tail, result, errors, git state) "
        "before the original prompt. auto picks session when possible. Linked by retryOf, "
        "parentTaskId and retryCount.",
    .args = resume_args,
    .output_schema = "{\"type\":\"object\",\"properties\":{\"success\":{\"type\":\"boolean\"},"
                     "\"message\":{\"type\":\"string\"},\"newTaskId\":{\"type\":\"string\"},"
                     "\"retryCount\":{\"type\":\"integer\"},\"parentTaskId\":{\"type\":"
                     "\"string\"},\"resumeMode\":{\"type\":\"string\",\"enum\":[\"session\","
                     "\"prompt\"]},\"status\":{\"type\":\"string\"}},\"required\":"
                     "[\"success\",\"newTaskId\"]}",
    .flags = OP_OPENWORLD,
    .run = ops_resume,
};
