/* The schedule operations: ScheduleTask, SchedulePipeline, CreatePipeline, ListSchedules,
 * GetSchedule, CancelSchedule, PauseSchedule and ResumeSchedule. Handlers turn checked
 * arguments and the client's context into a schedule (its task settings frozen at creation,
 * like DelegateTask's defaults) and render schedules for clients; when fires happen and what
 * they do is the scheduler's business (core/sched.c). No output ever carries the stored
 * client environment. */
#include <stdlib.h>
#include <string.h>

#include "core/config-agent.h"
#include "core/engine.h"
#include "core/op.h"
#include "core/ops.h"
#include "core/sched.h"
#include "cron/cron.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define SCHEDULE_ID_PATTERN \
    "^schedule-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
#define OPS_SCHEDULE_PROMPT_SHOWN 100 /* GetSchedule/ListSchedules show this much of a prompt */
#define OPS_PIPELINE_PROMPT_SHOWN 50

static const char *const priorities[] = { "P0", "P1", "P2", NULL };
static const char *const schedule_types[] = { "cron", "one_time", NULL };
static const char *const policies[] = { "skip", "catchup", "fail", NULL };
static const char *const schedule_statuses[] = { "active",    "paused",  "completed",
                                                 "cancelled", "expired", NULL };

/* ---- rendering ---- */

/* An ISO 8601 UTC time, or JSON null for "unset". */
static json_t *
ops_schedule_time(int64_t ms)
{
    if (ms <= 0) {
        return json_null();
    }
    char iso[32];
    clock_format_iso(ms, iso);
    return json_string(iso);
}

/* The first max bytes of s (cut on a UTF-8 boundary) and "..." when longer. */
static json_t *
ops_schedule_prompt(const char *s, size_t max)
{
    if (s == NULL) {
        return json_string("");
    }
    size_t len = strlen(s);
    if (len <= max) {
        return json_string_bytes(s, len);
    }
    size_t cut = str_utf8_boundary(s, max);
    char *t = xmalloc(cut + 4);
    memcpy(t, s, cut);
    memcpy(t + cut, "...", 4);
    json_t *j = json_string_bytes(t, cut + 3);
    free(t);
    return j;
}

/* nextRunAt in the schedule's own zone, for people ("2026-03-09T09:00:00-04:00"). */
static void
ops_schedule_set_local(json_t *o, const struct schedule *sc)
{
    struct err e;
    char local[TZ_ISO_SIZE];
    const struct tz_zone *z = tz_get(sc->timezone ? sc->timezone : "UTC", &e);
    if (sc->next_run_at > 0 && z != NULL && tz_format_iso(z, sc->next_run_at, local, &e) == 0) {
        json_set_str(o, "nextRunAtLocal", local);
    }
}

static bool
ops_schedule_is_pipeline(const struct schedule *sc)
{
    return json_is_array(sc->steps);
}

/* One line of ListSchedules. */
static json_t *
ops_schedule_summary(const struct schedule *sc)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s}", "id", sc->id, "status", sc->status, "scheduleType",
                  sc->type, "timezone", sc->timezone ? sc->timezone : "UTC");
    json_set_str(o, "cronExpression", sc->cron_expression);
    json_object_set_new(o, "nextRunAt", ops_schedule_time(sc->next_run_at));
    ops_schedule_set_local(o, sc);
    json_set_int(o, "runCount", sc->run_count);
    if (sc->max_runs > 0) {
        json_set_int(o, "maxRuns", sc->max_runs);
    }
    json_object_set_new(o, "isPipeline", json_boolean(ops_schedule_is_pipeline(sc)));
    json_set_int(o, "stepCount",
                 ops_schedule_is_pipeline(sc) ? (int64_t)json_array_size(sc->steps) : 1);
    json_object_set_new(
        o, "prompt",
        ops_schedule_prompt(json_get_str(sc->template, "prompt"), OPS_SCHEDULE_PROMPT_SHOWN));
    json_object_set_new(o, "lastRunAt", ops_schedule_time(sc->last_run_at));
    json_object_set_new(o, "createdAt", ops_schedule_time(sc->created_at));
    json_set_str(o, "afterScheduleId", sc->after_schedule_id);
    json_set_str(o, "agent", json_get_str(sc->template, "agent"));
    return o;
}

/* A task template or a pipeline step as clients see it. */
static json_t *
ops_schedule_settings_json(const json_t *settings)
{
    json_t *o = json_object();
    json_object_set_new(
        o, "prompt",
        ops_schedule_prompt(json_get_str(settings, "prompt"), OPS_SCHEDULE_PROMPT_SHOWN));
    json_set_str(o, "priority", json_get_str(settings, "priority"));
    json_set_str(o, "workingDirectory", json_get_str(settings, "workingDirectory"));
    json_set_str(o, "agent", json_get_str(settings, "agent"));
    static const char *const ints[] = { "timeout", "maxOutputBuffer", "delay" };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        json_t *v = json_object_get(settings, ints[i]);
        if (json_is_integer(v) && (json_integer_value(v) > 0 || strcmp(ints[i], "delay") != 0)) {
            json_object_set(o, ints[i], v);
        }
    }
    json_set_str(o, "model", json_get_str(settings, "model"));
    return o;
}

/* Every field of a schedule (GetSchedule), never its environment. */
static json_t *
ops_schedule_full(const struct schedule *sc)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", sc->id, "status", sc->status,
                          "scheduleType", sc->type, "timezone", sc->timezone ? sc->timezone : "UTC",
                          "missedRunPolicy", sc->policy);
    json_set_str(o, "cronExpression", sc->cron_expression);
    json_object_set_new(o, "scheduledAt", ops_schedule_time(sc->scheduled_at));
    if (sc->max_runs > 0) {
        json_set_int(o, "maxRuns", sc->max_runs);
    }
    json_set_int(o, "runCount", sc->run_count);
    json_object_set_new(o, "lastRunAt", ops_schedule_time(sc->last_run_at));
    json_object_set_new(o, "nextRunAt", ops_schedule_time(sc->next_run_at));
    ops_schedule_set_local(o, sc);
    json_object_set_new(o, "expiresAt", ops_schedule_time(sc->expires_at));
    json_object_set_new(o, "createdAt", ops_schedule_time(sc->created_at));
    json_object_set_new(o, "updatedAt", ops_schedule_time(sc->updated_at));
    json_set_str(o, "afterScheduleId", sc->after_schedule_id);
    json_set_str(o, "reason", sc->reason);
    json_object_set_new(o, "taskTemplate", ops_schedule_settings_json(sc->template));
    if (ops_schedule_is_pipeline(sc)) {
        json_t *steps = json_array();
        size_t i;
        json_t *st;
        json_array_foreach(sc->steps, i, st)
        {
            json_t *j = ops_schedule_settings_json(st);
            json_object_set_new(j, "index", json_integer((json_int_t)i));
            json_array_append_new(steps, j);
        }
        json_object_set_new(o, "isPipeline", json_true());
        json_object_set_new(o, "pipelineSteps", steps);
    }
    return o;
}

/* One history item (GetSchedule). */
static json_t *
ops_schedule_exec_json(const struct schedule_execution *x)
{
    json_t *o = json_object();
    json_object_set_new(o, "scheduledFor", ops_schedule_time(x->fire_time));
    json_object_set_new(o, "executedAt", ops_schedule_time(x->executed_at));
    json_set_str(o, "status", x->status);
    size_t n = json_array_size(x->task_ids);
    if (n > 0) {
        json_object_set(o, "taskId", json_array_get(x->task_ids, n - 1));
        json_object_set(o, "taskIds", x->task_ids);
    }
    json_set_str(o, "errorMessage", x->error);
    if (json_array_size(x->covers) > 0) {
        json_t *c = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(x->covers, i, v)
        {
            json_array_append_new(c, ops_schedule_time(json_integer_value(v)));
        }
        json_object_set_new(o, "covers", c);
    }
    if (x->next_step > 0) {
        json_set_int(o, "nextStep", x->next_step);
        json_object_set_new(o, "nextStepAt", ops_schedule_time(x->resume_at));
    }
    return o;
}

/* ---- building a schedule from arguments ---- */

static int
ops_schedule_time_arg(const json_t *args, const char *key, int64_t *out, struct err *e)
{
    const char *s = json_get_str(args, key);
    *out = 0;
    if (s == NULL) {
        return 0;
    }
    if (clock_parse_iso(s, out) != 0) {
        return err_set(e, ERR_INVALID,
                       "%s: must be an ISO 8601 time with Z or an offset, like "
                       "2026-12-01T08:00:00Z or 2026-12-01T10:00:00+02:00 (got \"%.60s\")",
                       key, s);
    }
    return 0;
}

/* The schedule type the arguments ask for, or NULL with e filled. */
static const char *
ops_schedule_type(const json_t *args, struct err *e)
{
    const char *type = json_get_str(args, "scheduleType");
    bool cron = json_get_str(args, "cronExpression") != NULL;
    bool at = json_get_str(args, "scheduledAt") != NULL;
    if (type == NULL) {
        if (!cron && !at) {
            err_set(e, ERR_INVALID,
                    "scheduleType: give cronExpression (a cron schedule) or "
                    "scheduledAt (a one-time schedule)");
            return NULL;
        }
        return cron ? "cron" : "one_time";
    }
    if (strcmp(type, "cron") == 0 && !cron) {
        err_set(e, ERR_INVALID, "cronExpression: is required for cron schedules");
        return NULL;
    }
    if (strcmp(type, "one_time") == 0) {
        if (!at) {
            err_set(e, ERR_INVALID, "scheduledAt: is required for one_time schedules");
            return NULL;
        }
        if (cron) {
            err_set(e, ERR_INVALID,
                    "cronExpression: only for cron schedules (scheduleType is "
                    "one_time)");
            return NULL;
        }
    }
    return type;
}

/* Cross-field rules of ScheduleTask and SchedulePipeline, checked wherever the arguments
 * enter (CLI and daemon): the type, the cron text, the zone and the times. */
static int
ops_schedule_check(const json_t *args, struct err *e)
{
    int64_t t;
    if (ops_schedule_type(args, e) == NULL) {
        return -1;
    }
    const char *cron = json_get_str(args, "cronExpression");
    if (cron != NULL) {
        struct cron_expr *c = cron_parse(cron, e);
        if (c == NULL) {
            return err_wrap(e, "cronExpression");
        }
        cron_expr_free(c);
    }
    const char *tz = json_get_str(args, "timezone");
    if (tz != NULL && tz_get(tz, e) == NULL) {
        return err_wrap(e, "timezone");
    }
    if (ops_schedule_time_arg(args, "scheduledAt", &t, e) != 0 ||
        ops_schedule_time_arg(args, "expiresAt", &t, e) != 0) {
        return -1;
    }
    return 0;
}

/* A task template as JSON: the settings a fire gives its task. */
static json_t *
ops_schedule_template(const struct task *t)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "prompt", t->prompt, "priority",
                          task_priority_name(t->priority), "timeout", (json_int_t)t->timeout_ms,
                          "maxOutputBuffer", (json_int_t)t->max_output_buffer);
    json_set_str(o, "agent", t->agent);
    json_set_str(o, "workingDirectory", t->working_directory);
    json_set_str(o, "model", t->model);
    json_set_str(o, "systemPrompt", t->system_prompt);
    return o;
}

/* Resolves each pipeline step's settings (step value, else the shared one, else the client's
 * default), as DelegateTask would. */
static json_t *
ops_schedule_steps(struct op_ctx *ctx, const json_t *args, struct err *e)
{
    const json_t *steps = json_object_get(args, "steps");
    json_t *out = json_array();
    size_t i;
    json_t *step;
    json_array_foreach(steps, i, step)
    {
        json_t *merged = json_object();
        static const char *const keys[] = { "priority", "workingDirectory", "agent" };
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            json_t *v = json_object_get(step, keys[k]);
            if (v == NULL) {
                v = json_object_get(args, keys[k]);
            }
            if (v != NULL) {
                json_object_set(merged, keys[k], v);
            }
        }
        static const char *const shared[] = { "timeout", "maxOutputBuffer" };
        for (size_t k = 0; k < sizeof shared / sizeof shared[0]; k++) {
            json_t *v = json_object_get(args, shared[k]);
            if (v != NULL) {
                json_object_set(merged, shared[k], v);
            }
        }
        struct task *t = task_new();
        t->prompt = xstrdup(json_get_str(step, "prompt"));
        int rc = ops_task_settings(ctx, merged, t, e);
        json_decref(merged);
        if (rc != 0) {
            task_free(t);
            json_decref(out);
            err_wrap(e, "steps[%zu]", i);
            return NULL;
        }
        json_t *j = ops_schedule_template(t);
        int64_t delay = json_get_int(step, "delay", 0);
        if (delay > 0) {
            json_set_int(j, "delay", delay);
        }
        json_array_append_new(out, j);
        task_free(t);
    }
    return out;
}

/* "Pipeline (3 steps): Step 1: lint... → Step 2: ..." for the template of a pipeline. */
static char *
ops_schedule_pipeline_prompt(const json_t *steps)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "Pipeline (%zu steps): ", json_array_size(steps));
    size_t i;
    json_t *st;
    json_array_foreach(steps, i, st)
    {
        const char *p = json_get_str(st, "prompt");
        size_t len = strlen(p);
        size_t cut = len > 40 ? str_utf8_boundary(p, 40) : len;
        buf_printf(&b, "%sStep %zu: ", i ? " \xe2\x86\x92 " : "", i + 1);
        buf_add(&b, p, cut);
        if (cut < len) {
            buf_adds(&b, "...");
        }
    }
    return buf_take(&b);
}

/* Builds a schedule from checked arguments and the client's context. kind: 0 a task
 * schedule, 1 a scheduled pipeline, 2 a pipeline that runs now. */
static struct schedule *
ops_schedule_build(struct op_ctx *ctx, const json_t *args, int kind, struct err *e)
{
    struct schedule *sc = xcalloc(1, sizeof *sc);
    struct task *t = task_new();
    json_t *steps = NULL;
    const char *type = "one_time";

    if (kind != 2) {
        type = ops_schedule_type(args, e);
        if (type == NULL || ops_schedule_check(args, e) != 0) {
            goto fail;
        }
    }
    str_copy(sc->type, type, sizeof sc->type);
    str_copy(sc->policy,
             json_get_str(args, "missedRunPolicy") ? json_get_str(args, "missedRunPolicy") : "skip",
             sizeof sc->policy);
    const char *cron = json_get_str(args, "cronExpression");
    sc->cron_expression = cron && strcmp(type, "cron") == 0 ? xstrdup(cron) : NULL;
    sc->timezone = xstrdup(json_get_str(args, "timezone") ? json_get_str(args, "timezone") : "UTC");
    if (ops_schedule_time_arg(args, "scheduledAt", &sc->scheduled_at, e) != 0 ||
        ops_schedule_time_arg(args, "expiresAt", &sc->expires_at, e) != 0) {
        goto fail;
    }
    sc->max_runs = json_get_int(args, "maxRuns", 0);
    if (json_get_str(args, "afterSchedule")) {
        sc->after_schedule_id = xstrdup(json_get_str(args, "afterSchedule"));
    }
    if (kind != 0) {
        steps = ops_schedule_steps(ctx, args, e);
        if (steps == NULL) {
            goto fail;
        }
        t->prompt = ops_schedule_pipeline_prompt(steps);
        /* Without shared settings the template takes the first step's, so it never needs a
         * default the steps themselves did not need. */
        const json_t *first = json_array_get(steps, 0);
        if (json_get_str(args, "agent") == NULL && json_get_str(first, "agent")) {
            t->agent = xstrdup(json_get_str(first, "agent"));
        }
        if (json_get_str(args, "workingDirectory") == NULL &&
            json_get_str(first, "workingDirectory")) {
            t->working_directory = xstrdup(json_get_str(first, "workingDirectory"));
        }
        sc->steps = steps;
        steps = NULL;
    } else {
        t->prompt = xstrdup(json_get_str(args, "prompt"));
    }
    if (ops_task_settings(ctx, args, t, e) != 0) {
        goto fail;
    }
    sc->template = ops_schedule_template(t);
    sc->env = t->env;
    t->env = NULL;
    sc->client_cwd = t->client_cwd;
    t->client_cwd = NULL;
    task_free(t);
    return sc;
fail:
    task_free(t);
    json_decref(steps);
    schedule_free(sc);
    return NULL;
}

/* ---- handlers ---- */

static struct sched *
ops_sched(struct op_ctx *ctx)
{
    return engine_sched(ctx->engine);
}

static json_t *
ops_schedule_created(const struct schedule *sc)
{
    json_t *o = json_pack("{s:b, s:s, s:s, s:s, s:s, s:s}", "success", 1, "scheduleId", sc->id,
                          "scheduleType", sc->type, "timezone", sc->timezone, "status", sc->status,
                          "missedRunPolicy", sc->policy);
    json_object_set_new(o, "nextRunAt", ops_schedule_time(sc->next_run_at));
    ops_schedule_set_local(o, sc);
    json_set_str(o, "cronExpression", sc->cron_expression);
    if (sc->scheduled_at > 0) {
        json_object_set_new(o, "scheduledAt", ops_schedule_time(sc->scheduled_at));
    }
    if (sc->expires_at > 0) {
        json_object_set_new(o, "expiresAt", ops_schedule_time(sc->expires_at));
    }
    if (sc->max_runs > 0) {
        json_set_int(o, "maxRuns", sc->max_runs);
    }
    json_set_str(o, "afterScheduleId", sc->after_schedule_id);
    json_set_str(o, "agent", json_get_str(sc->template, "agent"));
    json_set_str(o, "workingDirectory", json_get_str(sc->template, "workingDirectory"));
    return o;
}

static int
ops_schedule_task(struct op_ctx *ctx, const json_t *args, json_t **result, struct err *e)
{
    struct schedule *sc = ops_schedule_build(ctx, args, 0, e);
    if (sc == NULL || sched_create(ops_sched(ctx), sc, false, NULL, e) != 0) {
        schedule_free(sc);
        return -1;
    }
    *result = ops_schedule_created(sc);
    json_set_str(*result, "message", "Schedule created");
    schedule_free(sc);
    return OP_DONE;
}

static int
ops_schedule_pipeline(struct op_ctx *ctx, const json_t *args, json_t **result, struct err *e)
{
    struct schedule *sc = ops_schedule_build(ctx, args, 1, e);
    if (sc == NULL || sched_create(ops_sched(ctx), sc, false, NULL, e) != 0) {
        schedule_free(sc);
        return -1;
    }
    *result = ops_schedule_created(sc);
    json_set_int(*result, "stepCount", (int64_t)json_array_size(sc->steps));
    json_set_str(*result, "message", "Scheduled pipeline created");
    schedule_free(sc);
    return OP_DONE;
}

static int
ops_create_pipeline(struct op_ctx *ctx, const json_t *args, json_t **result, struct err *e)
{
    struct schedule_execution *x = NULL;
    struct schedule *sc = ops_schedule_build(ctx, args, 2, e);
    if (sc == NULL || sched_create(ops_sched(ctx), sc, true, &x, e) != 0) {
        schedule_free(sc);
        return -1;
    }
    json_t *steps = json_array();
    size_t i;
    json_t *st;
    json_array_foreach(sc->steps, i, st)
    {
        json_t *j = json_pack("{s:i, s:s}", "index", (int)i, "scheduleId", sc->id);
        json_object_set_new(
            j, "prompt",
            ops_schedule_prompt(json_get_str(st, "prompt"), OPS_PIPELINE_PROMPT_SHOWN));
        json_t *tid = x ? json_array_get(x->task_ids, i) : NULL;
        if (tid != NULL) {
            json_object_set(j, "taskId", tid);
        }
        if (json_get_int(st, "delay", 0) > 0) {
            json_set_int(j, "delay", json_get_int(st, "delay", 0));
        }
        json_set_str(j, "agent", json_get_str(st, "agent"));
        json_array_append_new(steps, j);
    }
    *result = json_pack("{s:b, s:s, s:s, s:I, s:o, s:s}", "success", 1, "pipelineId", sc->id,
                        "scheduleId", sc->id, "stepCount", (json_int_t)json_array_size(sc->steps),
                        "steps", steps, "message", "Pipeline created");
    json_object_set_new(*result, "taskIds",
                        x && x->task_ids ? json_deep_copy(x->task_ids) : json_array());
    schedule_execution_free(x);
    schedule_free(sc);
    return OP_DONE;
}

static int
ops_list_schedules(struct op_ctx *ctx, const json_t *args, json_t **result, struct err *e)
{
    struct schedule **v = NULL;
    int64_t total = 0;
    int limit = (int)json_get_int(args, "limit", 50);
    int offset = (int)json_get_int(args, "offset", 0);
    if (store_schedule_list(engine_store(ctx->engine), json_get_str(args, "status"), limit, offset,
                            &v, &total, e) != 0) {
        return -1;
    }
    json_t *arr = json_array();
    for (struct schedule **p = v; *p; p++) {
        json_array_append_new(arr, ops_schedule_summary(*p));
        schedule_free(*p);
    }
    free(v);
    *result = json_pack("{s:b, s:o, s:I, s:I, s:i, s:i}", "success", 1, "schedules", arr, "count",
                        (json_int_t)json_array_size(arr), "total", (json_int_t)total, "limit",
                        limit, "offset", offset);
    return OP_DONE;
}

static struct schedule *
ops_schedule_load(struct op_ctx *ctx, const char *id, struct err *e)
{
    struct schedule *sc = store_schedule_load(engine_store(ctx->engine), id, e);
    if (sc == NULL && e->code == ERR_NOTFOUND) {
        err_set(e, ERR_NOTFOUND, "schedule %s not found", id);
    }
    return sc;
}

static int
ops_get_schedule(struct op_ctx *ctx, const json_t *args, json_t **result, struct err *e)
{
    const char *id = json_get_str(args, "scheduleId");
    struct schedule *sc = ops_schedule_load(ctx, id, e);
    if (sc == NULL) {
        return -1;
    }
    json_t *o = json_pack("{s:b, s:o}", "success", 1, "schedule", ops_schedule_full(sc));
    schedule_free(sc);
    if (json_get_bool(args, "includeHistory", false)) {
        struct schedule_execution **v = NULL;
        int limit = (int)json_get_int(args, "historyLimit", 10);
        if (store_schedule_exec_list(engine_store(ctx->engine), id, limit, &v, e) != 0) {
            json_decref(o);
            return -1;
        }
        json_t *h = json_array();
        for (struct schedule_execution **p = v; *p; p++) {
            json_array_append_new(h, ops_schedule_exec_json(*p));
            schedule_execution_free(*p);
        }
        free(v);
        json_object_set_new(o, "history", h);
    }
    *result = o;
    return OP_DONE;
}

static int
ops_cancel_schedule(struct op_ctx *ctx, const json_t *args, json_t **result, struct err *e)
{
    const char *id = json_get_str(args, "scheduleId");
    const char *reason = json_get_str(args, "reason");
    bool cancel_tasks = json_get_bool(args, "cancelTasks", false);
    char **cancelled = NULL;
    if (sched_cancel(ops_sched(ctx), id, reason, cancel_tasks, &cancelled, e) != 0) {
        return -1;
    }
    char msg[96];
    snprintf(msg, sizeof msg, "Schedule %s cancelled", id);
    json_t *ids = json_array();
    for (char **p = cancelled; p && *p; p++) {
        json_array_append_new(ids, json_string(*p));
    }
    strv_free(cancelled);
    *result = json_pack("{s:b, s:s, s:s, s:s, s:b, s:o}", "success", 1, "message", msg,
                        "scheduleId", id, "status", "cancelled", "cancelTasksRequested",
                        cancel_tasks, "cancelledTaskIds", ids);
    json_set_str(*result, "reason", reason);
    return OP_DONE;
}

static int
ops_pause_resume(struct op_ctx *ctx, const json_t *args, json_t **result, bool pause, struct err *e)
{
    const char *id = json_get_str(args, "scheduleId");
    struct schedule *sc = NULL;
    int rc =
        pause ? sched_pause(ops_sched(ctx), id, &sc, e) : sched_resume(ops_sched(ctx), id, &sc, e);
    if (rc != 0) {
        return -1;
    }
    char msg[96];
    snprintf(msg, sizeof msg, "Schedule %s %s", id, pause ? "paused" : "resumed");
    *result = json_pack("{s:b, s:s, s:s, s:s}", "success", 1, "message", msg, "scheduleId", id,
                        "status", sc->status);
    json_object_set_new(*result, "nextRunAt", ops_schedule_time(sc->next_run_at));
    ops_schedule_set_local(*result, sc);
    json_set_str(*result, "reason", strcmp(sc->status, "expired") == 0 ? sc->reason : NULL);
    schedule_free(sc);
    return OP_DONE;
}

static int
ops_pause_schedule(struct op_ctx *ctx, const json_t *args, json_t **result, struct err *e)
{
    return ops_pause_resume(ctx, args, result, true, e);
}

static int
ops_resume_schedule(struct op_ctx *ctx, const json_t *args, json_t **result, struct err *e)
{
    return ops_pause_resume(ctx, args, result, false, e);
}

/* ---- the table entries ---- */

#define SCHEDULE_ID_ARG(help_text)                                                               \
    {                                                                                            \
        .name = "scheduleId", .type = ARG_STRING, .flags = ARG_REQUIRED | ARG_POSITIONAL,        \
        .format = op_format_schedule_id, .pattern = SCHEDULE_ID_PATTERN, .max = SCHEDULE_ID_LEN, \
        .value_name = "SCHEDULE_ID", .help = help_text                                           \
    }

#define JSON_ARG                                                                   \
    {                                                                              \
        .name = "json", .cli = "json", .type = ARG_BOOLEAN, .flags = ARG_CLI_ONLY, \
        .help = "Print the result as JSON."                                        \
    }

/* The timing and task settings ScheduleTask and SchedulePipeline share. */
#define TIMING_ARGS                                                                                                  \
    { .name = "scheduleType",                                                                                        \
      .cli = "type",                                                                                                 \
      .type = ARG_ENUM,                                                                                              \
      .choices = schedule_types,                                                                                     \
      .help = "cron (repeats) or one_time; inferred from cronExpression or scheduledAt when "                        \
              "omitted." },                                                                                          \
        { .name = "cronExpression",                                                                                  \
          .cli = "cron",                                                                                             \
          .type = ARG_STRING,                                                                                        \
          .min = 1,                                                                                                  \
          .max = CRON_TEXT_MAX,                                                                                      \
          .value_name = "EXPR",                                                                                      \
          .help = "5-field cron expression (minute hour day-of-month month day-of-week; names, "                     \
                  "ranges, steps, lists, @daily and the other @ aliases), evaluated in "                             \
                  "timezone." },                                                                                     \
        { .name = "scheduledAt",                                                                                     \
          .cli = "at",                                                                                               \
          .type = ARG_STRING,                                                                                        \
          .min = 1,                                                                                                  \
          .max = 64,                                                                                                 \
          .value_name = "ISO",                                                                                       \
          .help = "When a one-time schedule fires: ISO 8601 with Z or an offset "                                    \
                  "(2026-12-01T08:00:00Z); must be in the future. For a cron schedule: the "                         \
                  "earliest time it may fire." },                                                                    \
        { .name = "timezone",                                                                                        \
          .cli = "timezone",                                                                                         \
          .type = ARG_STRING,                                                                                        \
          .min = 1,                                                                                                  \
          .max = TZ_NAME_MAX,                                                                                        \
          .value_name = "TZ",                                                                                        \
          .help = "IANA time zone the cron expression is read in, e.g. America/New_York "                            \
                  "(default UTC). Unknown names are refused." },                                                     \
        { .name = "missedRunPolicy",                                                                                 \
          .cli = "missed-run-policy",                                                                                \
          .type = ARG_ENUM,                                                                                          \
          .choices = policies,                                                                                       \
          .help = "What to do with fires missed while the daemon was down or the machine slept: "                    \
                  "skip (default: record them, run nothing), catchup (one run now for all of "                       \
                  "them), fail (record them and cancel the schedule)." },                                            \
        { .name = "priority",                                                                                        \
          .cli = "priority",                                                                                         \
          .cli_short = 'p',                                                                                          \
          .type = ARG_ENUM,                                                                                          \
          .choices = priorities,                                                                                     \
          .help = "Priority of the tasks it creates (default P2)." },                                                \
        { .name = "workingDirectory",                                                                                \
          .cli = "working-directory",                                                                                \
          .cli_short = 'w',                                                                                          \
          .type = ARG_STRING,                                                                                        \
          .min = 1,                                                                                                  \
          .max = 4096,                                                                                               \
          .value_name = "DIR",                                                                                       \
          .help = "Directory the agents work in; must exist (default: your working "                                 \
                  "directory)." },                                                                                   \
        { .name = "agent",                                                                                           \
          .cli = "agent",                                                                                            \
          .cli_short = 'a',                                                                                          \
          .type = ARG_STRING,                                                                                        \
          .min = 1,                                                                                                  \
          .max = AGENT_CONF_NAME_MAX,                                                                                \
          .format = config_agent_name_format,                                                                        \
          .pattern = CONFIG_AGENT_NAME_PATTERN,                                                                      \
          .value_name = "NAME",                                                                                      \
          .help =                                                                                                    \
              "Agent to run: claude, codex, gemini or one defined in config.json (default: config defaultAgent)." }, \
        { .name = "timeout",                                                                                         \
          .cli = "timeout",                                                                                          \
          .cli_short = 't',                                                                                          \
          .type = ARG_INTEGER,                                                                                       \
          .flags = ARG_DURATION,                                                                                     \
          .min = TASK_TIMEOUT_MIN,                                                                                   \
          .max = TASK_TIMEOUT_MAX,                                                                                   \
          .value_name = "MS",                                                                                        \
          .help = "Milliseconds each task may run (default: config timeout, 30 minutes)." },                         \
        { .name = "maxOutputBuffer",                                                                                 \
          .cli = "max-output-buffer",                                                                                \
          .type = ARG_INTEGER,                                                                                       \
          .min = TASK_BUFFER_MIN,                                                                                    \
          .max = TASK_BUFFER_MAX,                                                                                    \
          .value_name = "BYTES",                                                                                     \
          .help = "Most output bytes kept per task (default: config maxOutputBuffer)." },                            \
        { .name = "maxRuns",                                                                                         \
          .cli = "max-runs",                                                                                         \
          .type = ARG_INTEGER,                                                                                       \
          .min = 1,                                                                                                  \
          .max = 100000000,                                                                                          \
          .help = "Complete the schedule after this many runs." },                                                   \
        { .name = "expiresAt",                                                                                       \
          .cli = "expires-at",                                                                                       \
          .type = ARG_STRING,                                                                                        \
          .min = 1,                                                                                                  \
          .max = 64,                                                                                                 \
          .value_name = "ISO",                                                                                       \
          .help = "No fire at or after this time (ISO 8601 with Z or an offset); the schedule "                      \
                  "then becomes expired." },                                                                         \
    {                                                                                                                \
        .name = "afterSchedule", .cli = "after", .type = ARG_STRING,                                                 \
        .format = op_format_schedule_id, .pattern = SCHEDULE_ID_PATTERN, .max = SCHEDULE_ID_LEN,                     \
        .value_name = "SCHEDULE_ID",                                                                                 \
        .help = "Another schedule: each run waits for that schedule's latest run when it is "                        \
                "still going (and is cancelled if that run fails)."                                                  \
    }

static const struct op_arg step_items[] = {
    { .name = "prompt",
      .type = ARG_STRING,
      .flags = ARG_REQUIRED | ARG_NONEMPTY,
      .min = 1,
      .max = TASK_PROMPT_MAX,
      .help = "What this step's agent should do." },
    { .name = "priority",
      .type = ARG_ENUM,
      .choices = priorities,
      .help = "This step's priority (default: the shared priority)." },
    { .name = "workingDirectory",
      .type = ARG_STRING,
      .min = 1,
      .max = 4096,
      .help = "This step's directory (default: the shared one)." },
    { .name = "agent",
      .type = ARG_STRING,
      .min = 1,
      .max = AGENT_CONF_NAME_MAX,
      .format = config_agent_name_format,
      .pattern = CONFIG_AGENT_NAME_PATTERN,
      .value_name = "NAME",
      .help = "This step's agent (default: the shared agent, then config defaultAgent)." },
    { .name = "delay",
      .type = ARG_INTEGER,
      .min = 0,
      .max = SCHED_STEP_DELAY_MAX,
      .help = "Milliseconds to wait after the previous step completed (for the first step: "
              "after the fire) before this step starts (default 0, at most 7 days)." },
    { 0 },
};

#define STEPS_ARG                                                                           \
    {                                                                                       \
        .name = "steps", .type = ARG_OBJECT_ARRAY, .flags = ARG_REQUIRED | ARG_MCP_ONLY,    \
        .min = SCHED_STEPS_MIN, .max = SCHED_STEPS_MAX, .items = step_items,                \
        .help = "The steps in order (2 to 20); each starts when the one before completed, " \
                "and a failed or cancelled step cancels the rest."                          \
    }

static const struct op_arg schedule_task_args[] = {
    { .name = "prompt",
      .type = ARG_STRING,
      .flags = ARG_REQUIRED | ARG_REST | ARG_NONEMPTY,
      .min = 1,
      .max = TASK_PROMPT_MAX,
      .value_name = "PROMPT",
      .help = "What the agent should do at each fire." },
    TIMING_ARGS,
    { .name = "pipeline",
      .cli = "pipeline",
      .type = ARG_BOOLEAN,
      .flags = ARG_CLI_ONLY,
      .help = "Schedule a pipeline of --step prompts instead (see beat schedule pipeline)." },
    JSON_ARG,
    { 0 },
};

static const struct op_arg schedule_pipeline_args[] = {
    STEPS_ARG,
    TIMING_ARGS,
    { .name = "step",
      .cli = "step",
      .type = ARG_STRING_ARRAY,
      .flags = ARG_CLI_ONLY,
      .value_name = "PROMPT",
      .help = "One step's prompt; repeat in order, 2 to 20 times." },
    { .name = "delay",
      .cli = "delay",
      .type = ARG_INTEGER,
      .flags = ARG_CLI_ONLY | ARG_DURATION,
      .value_name = "DURATION",
      .help = "Wait this long (5m, 1h) after the previous step before the next --step." },
    JSON_ARG,
    { 0 },
};

static const struct op_arg create_pipeline_args[] = {
    STEPS_ARG,
    { .name = "priority",
      .cli = "priority",
      .cli_short = 'p',
      .type = ARG_ENUM,
      .choices = priorities,
      .help = "Priority of every step without its own (default P2)." },
    { .name = "workingDirectory",
      .cli = "working-directory",
      .cli_short = 'w',
      .type = ARG_STRING,
      .min = 1,
      .max = 4096,
      .value_name = "DIR",
      .help = "Directory of every step without its own (default: your working directory)." },
    { .name = "agent",
      .cli = "agent",
      .cli_short = 'a',
      .type = ARG_STRING,
      .min = 1,
      .max = AGENT_CONF_NAME_MAX,
      .format = config_agent_name_format,
      .pattern = CONFIG_AGENT_NAME_PATTERN,
      .value_name = "NAME",
      .help = "Agent of every step without its own (default: config defaultAgent)." },
    { .name = "timeout",
      .cli = "timeout",
      .cli_short = 't',
      .type = ARG_INTEGER,
      .flags = ARG_DURATION,
      .min = TASK_TIMEOUT_MIN,
      .max = TASK_TIMEOUT_MAX,
      .value_name = "MS",
      .help = "Milliseconds each step may run (default: config timeout, 30 minutes)." },
    { .name = "maxOutputBuffer",
      .cli = "max-output-buffer",
      .type = ARG_INTEGER,
      .min = TASK_BUFFER_MIN,
      .max = TASK_BUFFER_MAX,
      .value_name = "BYTES",
      .help = "Most output bytes kept per step (default: config maxOutputBuffer)." },
    { .name = "delay",
      .cli = "delay",
      .type = ARG_INTEGER,
      .flags = ARG_CLI_ONLY | ARG_DURATION,
      .value_name = "DURATION",
      .help = "Before a prompt: wait this long (5m, 1h) after the previous step completed." },
    JSON_ARG,
    { 0 },
};

static const struct op_arg list_schedules_args[] = {
    { .name = "status",
      .cli = "status",
      .cli_short = 's',
      .type = ARG_ENUM,
      .choices = schedule_statuses,
      .help = "List only schedules in this state." },
    { .name = "limit",
      .cli = "limit",
      .cli_short = 'n',
      .type = ARG_INTEGER,
      .min = 1,
      .max = 100,
      .help = "Most schedules to list (default 50)." },
    { .name = "offset",
      .cli = "offset",
      .type = ARG_INTEGER,
      .min = 0,
      .max = 100000000,
      .help = "Schedules to skip before listing, for paging (default 0)." },
    JSON_ARG,
    { 0 },
};

static const struct op_arg get_schedule_args[] = {
    SCHEDULE_ID_ARG("The schedule to show."),
    { .name = "includeHistory",
      .cli = "history",
      .type = ARG_BOOLEAN,
      .help = "Add its executions, newest fire first: runs with their task ids and outcome, "
              "missed and skipped fires with the reason." },
    { .name = "historyLimit",
      .cli = "history-limit",
      .type = ARG_INTEGER,
      .min = 1,
      .max = 100,
      .help = "Most executions to return (default 10)." },
    JSON_ARG,
    { 0 },
};

static const struct op_arg cancel_schedule_args[] = {
    SCHEDULE_ID_ARG("The schedule to cancel (any status)."),
    { .name = "reason",
      .type = ARG_STRING,
      .flags = ARG_REST,
      .min = 1,
      .max = 1000,
      .value_name = "REASON",
      .help = "Why, recorded with the schedule (up to 1000 bytes)." },
    { .name = "cancelTasks",
      .cli = "cancel-tasks",
      .type = ARG_BOOLEAN,
      .help = "Also cancel the unfinished tasks of its runs (default false)." },
    JSON_ARG,
    { 0 },
};

static const struct op_arg pause_schedule_args[] = {
    SCHEDULE_ID_ARG("The active schedule to pause."),
    JSON_ARG,
    { 0 },
};

static const struct op_arg resume_schedule_args[] = {
    SCHEDULE_ID_ARG("The paused schedule to resume."),
    JSON_ARG,
    { 0 },
};

#define CREATED_PROPS                                                                           \
    "\"success\":{\"type\":\"boolean\"},\"scheduleId\":{\"type\":\"string\"},\"scheduleType\":" \
    "{\"type\":\"string\",\"enum\":[\"cron\",\"one_time\"]},\"nextRunAt\":{\"type\":["          \
    "\"string\",\"null\"]},\"nextRunAtLocal\":{\"type\":\"string\"},\"timezone\":{\"type\":"    \
    "\"string\"},\"status\":{\"type\":\"string\"},\"cronExpression\":{\"type\":\"string\"},"    \
    "\"missedRunPolicy\":{\"type\":\"string\"},\"agent\":{\"type\":\"string\"},"                \
    "\"workingDirectory\":{\"type\":\"string\"},\"message\":{\"type\":\"string\"}"

#define TIME_OR_NULL "{\"type\":[\"string\",\"null\"]}"

const struct op op_schedule_task = {
    .name = "ScheduleTask",
    .cli = "schedule create",
    .title = "Schedule a task",
    .summary = "Run a prompt on a cron schedule or once at a given time, in any time zone.",
    .description =
        "Creates a schedule the daemon fires even when no client is open: a 5-field cron "
        "expression read in an IANA time zone (daylight-saving changes handled: a time in the "
        "spring gap fires at the shifted instant, a repeated autumn hour once), or one ISO 8601 "
        "time. Each fire creates a task with these settings, exactly once. Returns scheduleId "
        "and nextRunAt. missedRunPolicy decides what happens to fires missed while the machine "
        "was off; a fire while the previous run is still going is skipped.",
    .args = schedule_task_args,
    .output_schema = "{\"type\":\"object\",\"properties\":{" CREATED_PROPS "},\"required\":"
                     "[\"success\",\"scheduleId\",\"nextRunAt\"]}",
    .flags = OP_OPENWORLD,
    .run = ops_schedule_task,
    .check = ops_schedule_check,
};

const struct op op_schedule_pipeline = {
    .name = "SchedulePipeline",
    .cli = "schedule pipeline",
    .title = "Schedule a pipeline",
    .summary = "Run a chain of 2-20 prompts on a cron schedule or once at a given time.",
    .description =
        "Like ScheduleTask, but each fire creates a fresh chain of tasks, one per step: each "
        "step starts when the one before completed (after its delay, if any), and a failed "
        "step cancels the rest. A fire while the previous chain is still going is skipped.",
    .args = schedule_pipeline_args,
    .output_schema = "{\"type\":\"object\",\"properties\":{" CREATED_PROPS ",\"stepCount\":"
                     "{\"type\":\"integer\"}},\"required\":[\"success\",\"scheduleId\","
                     "\"nextRunAt\",\"stepCount\"]}",
    .flags = OP_OPENWORLD,
    .run = ops_schedule_pipeline,
    .check = ops_schedule_check,
};

const struct op op_create_pipeline = {
    .name = "CreatePipeline",
    .cli = "pipeline",
    .title = "Run a pipeline",
    .summary = "Run 2-20 prompts in sequence now, each after the previous one completed.",
    .description =
        "Creates the chain of tasks at once (no schedule tick needed): step i+1 depends on step "
        "i, waits `delay` ms after it completed when given, and is cancelled if it fails. "
        "Returns pipelineId (its record, readable with GetSchedule) and each step's taskId.",
    .args = create_pipeline_args,
    .output_schema = "{\"type\":\"object\",\"properties\":{\"success\":{\"type\":\"boolean\"},"
                     "\"pipelineId\":{\"type\":\"string\"},\"scheduleId\":{\"type\":"
                     "\"string\"},\"stepCount\":{\"type\":\"integer\"},\"steps\":{\"type\":"
                     "\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"index\":"
                     "{\"type\":\"integer\"},\"scheduleId\":{\"type\":\"string\"},\"taskId\":"
                     "{\"type\":\"string\"},\"prompt\":{\"type\":\"string\"},\"delay\":"
                     "{\"type\":\"integer\"}}}},\"taskIds\":{\"type\":\"array\",\"items\":"
                     "{\"type\":\"string\"}},\"message\":{\"type\":\"string\"}},\"required\":"
                     "[\"success\",\"pipelineId\",\"stepCount\",\"steps\"]}",
    .flags = OP_OPENWORLD,
    .run = ops_create_pipeline,
};

const struct op op_list_schedules = {
    .name = "ListSchedules",
    .cli = "schedule list",
    .title = "List schedules",
    .summary = "List schedules newest first, with their next run.",
    .description = "Schedules newest first (limit default 50, max 100), optionally of one "
                   "status, each with its type, cron expression, zone, nextRunAt, run count and "
                   "whether it is a pipeline.",
    .args = list_schedules_args,
    .output_schema = "{\"type\":\"object\",\"properties\":{\"success\":{\"type\":\"boolean\"},"
                     "\"schedules\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
                     "\"properties\":{\"id\":{\"type\":\"string\"},\"status\":{\"type\":"
                     "\"string\"},\"scheduleType\":{\"type\":\"string\"},\"cronExpression\":"
                     "{\"type\":\"string\"},\"nextRunAt\":" TIME_OR_NULL ",\"runCount\":"
                     "{\"type\":\"integer\"},\"maxRuns\":{\"type\":\"integer\"},\"isPipeline\":"
                     "{\"type\":\"boolean\"},\"stepCount\":{\"type\":\"integer\"}}}},\"count\":"
                     "{\"type\":\"integer\"},\"total\":{\"type\":\"integer\"}},\"required\":"
                     "[\"success\",\"schedules\",\"count\"]}",
    .flags = OP_READONLY | OP_IDEMPOTENT,
    .run = ops_list_schedules,
};

const struct op op_get_schedule = {
    .name = "GetSchedule",
    .cli = "schedule get",
    .title = "Show a schedule",
    .summary = "Show one schedule in full, optionally with its execution history.",
    .description = "Every field of a schedule (times as ISO 8601 UTC, nextRunAt also in its own "
                   "zone), its task template or pipeline steps, and with includeHistory its "
                   "executions newest first: triggered (running), completed, failed, cancelled, "
                   "missed or skipped, with task ids and the reason.",
    .args = get_schedule_args,
    .output_schema = "{\"type\":\"object\",\"properties\":{\"success\":{\"type\":\"boolean\"},"
                     "\"schedule\":{\"type\":\"object\"},\"history\":{\"type\":\"array\","
                     "\"items\":{\"type\":\"object\",\"properties\":{\"scheduledFor\":" TIME_OR_NULL
                     ",\"executedAt\":" TIME_OR_NULL ",\"status\":{\"type\":"
                     "\"string\"},\"taskId\":{\"type\":\"string\"},\"errorMessage\":{\"type\":"
                     "\"string\"}}}}},\"required\":[\"success\",\"schedule\"]}",
    .flags = OP_READONLY | OP_IDEMPOTENT,
    .run = ops_get_schedule,
};

const struct op op_cancel_schedule = {
    .name = "CancelSchedule",
    .cli = "schedule cancel",
    .title = "Cancel a schedule",
    .summary = "Stop a schedule for good, optionally cancelling the tasks of its runs.",
    .description = "Moves a schedule of any status to cancelled: it never fires again. With "
                   "cancelTasks the unfinished tasks of its runs are cancelled too (only those, "
                   "never finished ones) and delayed pipeline steps are dropped.",
    .args = cancel_schedule_args,
    .output_schema = "{\"type\":\"object\",\"properties\":{\"success\":{\"type\":\"boolean\"},"
                     "\"message\":{\"type\":\"string\"},\"scheduleId\":{\"type\":\"string\"},"
                     "\"reason\":{\"type\":\"string\"},\"cancelTasksRequested\":{\"type\":"
                     "\"boolean\"},\"cancelledTaskIds\":{\"type\":\"array\",\"items\":{\"type\":"
                     "\"string\"}}},\"required\":[\"success\",\"message\"]}",
    .flags = OP_DESTRUCTIVE | OP_IDEMPOTENT,
    .run = ops_cancel_schedule,
};

#define PAUSE_RESUME_SCHEMA                                                                \
    "{\"type\":\"object\",\"properties\":{\"success\":{\"type\":\"boolean\"},\"message\":" \
    "{\"type\":\"string\"},\"scheduleId\":{\"type\":\"string\"},\"status\":{\"type\":"     \
    "\"string\"},\"nextRunAt\":" TIME_OR_NULL "},\"required\":[\"success\",\"message\"]}"

const struct op op_pause_schedule = {
    .name = "PauseSchedule",
    .cli = "schedule pause",
    .title = "Pause a schedule",
    .summary = "Stop an active schedule from firing until it is resumed.",
    .description = "Pauses an active schedule; fires during the pause are not run and not "
                   "counted as missed. Runs already going continue.",
    .args = pause_schedule_args,
    .output_schema = PAUSE_RESUME_SCHEMA,
    .flags = 0,
    .run = ops_pause_schedule,
};

const struct op op_resume_schedule = {
    .name = "ResumeSchedule",
    .cli = "schedule resume",
    .title = "Resume a schedule",
    .summary = "Let a paused schedule fire again from its next time.",
    .description = "Resumes a paused schedule: a cron schedule continues with its next fire "
                   "after now; a one-time schedule whose time passed during the pause follows "
                   "its missedRunPolicy. Returns the new nextRunAt.",
    .args = resume_schedule_args,
    .output_schema = PAUSE_RESUME_SCHEMA,
    .flags = 0,
    .run = ops_resume_schedule,
};
