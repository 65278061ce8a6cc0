/* Unit tests for core/sched.c with a pinned clock: the pure plan (on time, within grace,
 * skip/catchup/fail after an outage, one-time fires, expiry, a month-long outage, DST zones),
 * then the scheduler inside a real engine and store: fires and their tasks, overlap, a fire
 * claimed once, maxRuns, pause/resume, cancel with its tasks, afterSchedule, pipelines with
 * delayed and cancelled steps, missed fires across a restart under each policy, the clock
 * going back, one-time schedules, validation, and no secret in any output.
 * The loop never runs between steps (tasks stay queued: nothing starts an agent); the tests
 * call sched_tick after moving the clock. Zones come from $BEAT_FIXTURES/zones/compiled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h needs the headers above first. */
#include <cmocka.h>

#include <uv.h>

#include "core/engine.h"
#include "core/op.h"
#include "core/ops.h"
#include "core/sched.h"
#include "runtime/rt.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"

#define MIN_MS  INT64_C(60000)
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS  (24 * HOUR_MS)
#define T0      INT64_C(1773230400000) /* 2026-03-11T12:00:00Z, a Wednesday */

static int64_t g_now = T0;

static int64_t
test_now(void)
{
    return g_now;
}

static int64_t
iso(const char *s)
{
    int64_t v = 0;
    if (clock_parse_iso(s, &v) != 0) {
        fail_msg("bad ISO in test: %s", s);
    }
    return v;
}

/* ---- the plan ---- */

static struct schedule *
mk(const char *type, const char *cron, const char *tz, const char *policy, int64_t next)
{
    struct schedule *s = calloc(1, sizeof *s);
    str_copy(s->id, "schedule-00000000-0000-4000-8000-000000000001", sizeof s->id);
    str_copy(s->status, "active", sizeof s->status);
    str_copy(s->type, type, sizeof s->type);
    str_copy(s->policy, policy, sizeof s->policy);
    s->cron_expression = cron ? strdup(cron) : NULL;
    s->timezone = strdup(tz);
    s->next_run_at = next;
    if (strcmp(type, "one_time") == 0) {
        s->scheduled_at = next;
    }
    return s;
}

static void
plan(const struct schedule *s, int64_t now, struct sched_plan *p)
{
    struct err e = { 0 };
    if (sched_plan(s, now, 60000, p, &e) != 0) {
        fail_msg("sched_plan: %s", e.msg);
    }
}

static void
test_plan_on_time_and_grace(void **state)
{
    (void)state;
    struct sched_plan p;
    struct schedule *s = mk("cron", "*/5 * * * *", "UTC", "skip", T0);
    plan(s, T0 - 1, &p); /* not due yet */
    assert_int_equal(p.run_fire, 0);
    assert_int_equal(p.next_run_at, T0);
    sched_plan_fini(&p);
    plan(s, T0, &p);
    assert_int_equal(p.run_fire, T0);
    assert_int_equal(p.nmissed, 0);
    assert_int_equal(p.next_run_at, T0 + 5 * MIN_MS);
    assert_string_equal(p.status, "active");
    sched_plan_fini(&p);
    plan(s, T0 + 59 * 1000, &p); /* late but within the 60 s grace: just run */
    assert_int_equal(p.run_fire, T0);
    assert_int_equal(p.nmissed, 0);
    sched_plan_fini(&p);
    /* grace 0 still tolerates a timer that fires a few ms late */
    struct err e;
    assert_int_equal(sched_plan(s, T0 + 500, 0, &p, &e), 0);
    assert_int_equal(p.run_fire, T0);
    sched_plan_fini(&p);
    assert_int_equal(sched_plan(s, T0 + 1500, 0, &p, &e), 0);
    assert_int_equal(p.run_fire, 0);
    assert_int_equal(p.nmissed, 1);
    sched_plan_fini(&p);
    schedule_free(s);
}

static void
test_plan_outage_policies(void **state)
{
    (void)state;
    struct sched_plan p;
    /* Down for an hour: fires T0 .. T0+55m are old, T0+60m (= now) is fresh. */
    struct schedule *s = mk("cron", "*/5 * * * *", "UTC", "skip", T0);
    plan(s, T0 + HOUR_MS, &p);
    assert_int_equal(p.nmissed, 12);
    assert_int_equal(p.missed[0], T0);
    assert_int_equal(p.missed[11], T0 + 55 * MIN_MS);
    assert_int_equal(p.missed_more, 0);
    assert_int_equal(p.run_fire, T0 + HOUR_MS);
    assert_int_equal(p.next_run_at, T0 + 65 * MIN_MS);
    assert_string_equal(p.status, "active");
    sched_plan_fini(&p);

    str_copy(s->policy, "catchup", sizeof s->policy);
    plan(s, T0 + HOUR_MS, &p);
    assert_int_equal(p.nmissed, 0);
    assert_int_equal(p.run_fire, T0 + HOUR_MS);
    assert_int_equal(p.ncovers, 13); /* one run for all of them */
    assert_int_equal(p.covers[0], T0);
    assert_int_equal(p.covers[12], T0 + HOUR_MS);
    assert_int_equal(p.next_run_at, T0 + 65 * MIN_MS);
    sched_plan_fini(&p);
    plan(s, T0 + HOUR_MS + 2 * MIN_MS, &p); /* no fresh fire: runs for the latest missed */
    assert_int_equal(p.run_fire, T0 + HOUR_MS);
    assert_int_equal(p.ncovers, 13);
    sched_plan_fini(&p);

    str_copy(s->policy, "fail", sizeof s->policy);
    plan(s, T0 + HOUR_MS, &p);
    assert_int_equal(p.nmissed, 12);
    assert_int_equal(p.run_fire, 0);
    assert_int_equal(p.nskipped, 1);
    assert_string_equal(p.status, "cancelled");
    assert_int_equal(p.next_run_at, 0);
    assert_non_null(strstr(p.reason, "missed 12 fires"));
    assert_non_null(strstr(p.reason, "missedRunPolicy fail"));
    sched_plan_fini(&p);
    schedule_free(s);
}

static void
test_plan_long_outage(void **state)
{
    (void)state;
    struct sched_plan p;
    /* Every minute, down 30 days: counted up to the scan cap, recorded up to the row cap. */
    struct schedule *s = mk("cron", "* * * * *", "UTC", "skip", T0);
    plan(s, T0 + 30 * DAY_MS, &p);
    assert_int_equal(p.nmissed, SCHED_MISSED_ROWS_MAX);
    assert_true(p.missed_more >= SCHED_SCAN_MAX - SCHED_MISSED_ROWS_MAX - 2);
    assert_false(p.missed_more_exact);
    assert_int_equal(p.run_fire, T0 + 30 * DAY_MS);
    assert_int_equal(p.next_run_at, T0 + 30 * DAY_MS + MIN_MS);
    sched_plan_fini(&p);
    schedule_free(s);
}

static void
test_plan_one_time(void **state)
{
    (void)state;
    struct sched_plan p;
    struct schedule *s = mk("one_time", NULL, "UTC", "skip", T0);
    plan(s, T0 + 10, &p);
    assert_int_equal(p.run_fire, T0);
    assert_string_equal(p.status, "completed");
    assert_int_equal(p.next_run_at, 0);
    assert_string_equal(p.reason, "");
    sched_plan_fini(&p);
    plan(s, T0 + HOUR_MS, &p); /* missed, skip: recorded, completed, not run */
    assert_int_equal(p.run_fire, 0);
    assert_int_equal(p.nmissed, 1);
    assert_string_equal(p.status, "completed");
    assert_non_null(strstr(p.reason, "missed its time"));
    sched_plan_fini(&p);
    str_copy(s->policy, "catchup", sizeof s->policy);
    plan(s, T0 + HOUR_MS, &p);
    assert_int_equal(p.run_fire, T0);
    assert_string_equal(p.status, "completed");
    sched_plan_fini(&p);
    str_copy(s->policy, "fail", sizeof s->policy);
    plan(s, T0 + HOUR_MS, &p);
    assert_int_equal(p.run_fire, 0);
    assert_int_equal(p.nmissed, 1);
    assert_string_equal(p.status, "cancelled");
    sched_plan_fini(&p);
    schedule_free(s);
}

static void
test_plan_expiry(void **state)
{
    (void)state;
    struct sched_plan p;
    struct schedule *s = mk("cron", "0 * * * *", "UTC", "skip", T0);
    s->expires_at = T0 + 90 * MIN_MS;
    plan(s, T0, &p);
    assert_int_equal(p.run_fire, T0);
    assert_int_equal(p.next_run_at, T0 + HOUR_MS);
    sched_plan_fini(&p);
    s->next_run_at = T0 + HOUR_MS;
    plan(s, T0 + HOUR_MS, &p); /* the last fire before expiresAt runs, then it expires */
    assert_int_equal(p.run_fire, T0 + HOUR_MS);
    assert_string_equal(p.status, "expired");
    assert_int_equal(p.next_run_at, 0);
    assert_non_null(strstr(p.reason, "expiresAt"));
    sched_plan_fini(&p);
    s->next_run_at = T0 + 2 * HOUR_MS;
    plan(s, T0 + 3 * HOUR_MS, &p); /* fires at or after expiresAt are not fires */
    assert_int_equal(p.run_fire, 0);
    assert_int_equal(p.nmissed, 0);
    assert_string_equal(p.status, "expired");
    sched_plan_fini(&p);
    schedule_free(s);
}

static void
test_plan_dst(void **state)
{
    (void)state;
    struct sched_plan p;
    /* 02:30 every day in New York: on 2026-03-08 02:30 does not exist -> 03:30 EDT. */
    struct schedule *s =
        mk("cron", "30 2 * * *", "America/New_York", "skip", iso("2026-03-07T07:30:00Z"));
    plan(s, iso("2026-03-07T07:30:00Z"), &p);
    assert_int_equal(p.run_fire, iso("2026-03-07T07:30:00Z"));
    assert_int_equal(p.next_run_at, iso("2026-03-08T07:30:00Z"));
    sched_plan_fini(&p);
    schedule_free(s);
    /* 01:30 on 2026-11-01 happens twice: it fires once, at the first (EDT) one. */
    s = mk("cron", "30 1 * * *", "America/New_York", "skip", iso("2026-11-01T05:30:00Z"));
    plan(s, iso("2026-11-01T05:30:00Z"), &p);
    assert_int_equal(p.run_fire, iso("2026-11-01T05:30:00Z"));
    assert_int_equal(p.next_run_at, iso("2026-11-02T06:30:00Z"));
    sched_plan_fini(&p);
    schedule_free(s);
    /* Kathmandu (+05:45): 09:00 local is 03:15Z. */
    s = mk("cron", "0 9 * * *", "Asia/Kathmandu", "skip", iso("2026-03-11T03:15:00Z"));
    plan(s, iso("2026-03-11T03:15:00Z"), &p);
    assert_int_equal(p.next_run_at, iso("2026-03-12T03:15:00Z"));
    sched_plan_fini(&p);
    schedule_free(s);
}

/* ---- the scheduler in an engine ---- */

struct fx {
    char dir[256];
    char home[300];
    uv_loop_t loop;
    struct rt *rt;
    struct engine *eng;
    json_t *env;
};

static void
fx_start_engine(struct fx *fx)
{
    struct err e = { 0 };
    uv_loop_init(&fx->loop);
    fx->rt = rt_new(&fx->loop);
    fx->eng = engine_new(fx->rt, fx->home, "/nonexistent/beat", &e);
    if (fx->eng == NULL) {
        fail_msg("engine_new: %s", e.msg);
    }
    if (engine_start(fx->eng, &e) != 0) {
        fail_msg("engine_start: %s", e.msg);
    }
}

static void
fx_stop_engine(struct fx *fx)
{
    engine_stop(fx->eng, false);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    engine_free(fx->eng);
    rt_free(fx->rt);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    fx->eng = NULL;
}

static int
fx_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);
    const char *tmp = getenv("TMPDIR");
    snprintf(fx->dir, sizeof fx->dir, "%s/test-sched-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(fx->dir) == NULL) {
        fail_msg("mkdtemp failed");
    }
    snprintf(fx->home, sizeof fx->home, "%s/home", fx->dir);
    g_now = T0;
    clock_set_source(test_now);
    fx->env = json_pack("{s:s, s:s}", "PATH", "/usr/bin:/bin", "SECRET_TOKEN", "s3cr3t-xyz");
    fx_start_engine(fx);
    *state = fx;
    return 0;
}

static int
fx_teardown(void **state)
{
    struct fx *fx = *state;
    struct err e;
    if (fx->eng) {
        fx_stop_engine(fx);
    }
    json_decref(fx->env);
    fs_remove_tree(fx->dir, &e);
    clock_set_source(NULL);
    free(fx);
    return 0;
}

/* Calls a tool as a client in fx->dir would; returns the result or NULL with e filled. */
static json_t *
call(struct fx *fx, const char *tool, const char *args_json, struct err *e)
{
    const struct op *op = op_find(tool);
    assert_non_null(op);
    json_t *args = json_loads(args_json, 0, NULL);
    if (args == NULL) {
        fail_msg("bad JSON in test: %s", args_json);
    }
    struct op_ctx ctx = { .engine = fx->eng, .client_cwd = fx->dir, .client_env = fx->env };
    json_t *result = NULL;
    if (op_validate(op, args, e) != 0) {
        json_decref(args);
        return NULL;
    }
    int rc = op->run(&ctx, args, &result, e);
    json_decref(args);
    if (rc != OP_DONE) {
        assert_int_equal(rc, -1);
        return NULL;
    }
    return result;
}

static json_t *
call_ok(struct fx *fx, const char *tool, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    struct err e = { 0 };
    json_t *r = call(fx, tool, buf, &e);
    if (r == NULL) {
        fail_msg("%s %s: %s", tool, buf, e.msg);
    }
    return r;
}

static void
call_fails(struct fx *fx, const char *tool, const char *want, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    struct err e = { 0 };
    json_t *r = call(fx, tool, buf, &e);
    if (r != NULL) {
        char *s = json_dumps(r, 0);
        fail_msg("%s %s succeeded: %s", tool, buf, s);
    }
    if (strstr(e.msg, want) == NULL) {
        fail_msg("%s %s: error \"%s\" lacks \"%s\"", tool, buf, e.msg, want);
    }
}

/* Creates a schedule; returns its id (static buffer per call site is the caller's). */
static void
create(struct fx *fx, char id[SCHEDULE_ID_LEN + 1], const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    json_t *r = call_ok(fx, "ScheduleTask", "%s", buf);
    str_copy(id, json_get_str(r, "scheduleId"), SCHEDULE_ID_LEN + 1);
    json_decref(r);
}

static struct sched *
S(struct fx *fx)
{
    return engine_sched(fx->eng);
}

static void
tick_at(struct fx *fx, int64_t now)
{
    g_now = now;
    sched_tick(S(fx));
}

static struct schedule *
load(struct fx *fx, const char *id)
{
    struct err e = { 0 };
    struct schedule *s = store_schedule_load(engine_store(fx->eng), id, &e);
    if (s == NULL) {
        fail_msg("load %s: %s", id, e.msg);
    }
    return s;
}

/* The executions of a schedule, newest fire first (NULL-terminated). */
static struct schedule_execution **
history(struct fx *fx, const char *id)
{
    struct err e = { 0 };
    struct schedule_execution **v = NULL;
    if (store_schedule_exec_list(engine_store(fx->eng), id, 1000, &v, &e) != 0) {
        fail_msg("history: %s", e.msg);
    }
    return v;
}

static void
history_free(struct schedule_execution **v)
{
    for (size_t i = 0; v && v[i]; i++) {
        schedule_execution_free(v[i]);
    }
    free(v);
}

static size_t
count_status(struct schedule_execution **v, const char *status)
{
    size_t n = 0;
    for (size_t i = 0; v[i]; i++) {
        n += strcmp(v[i]->status, status) == 0;
    }
    return n;
}

static size_t
history_len(struct schedule_execution **v)
{
    size_t n = 0;
    while (v[n]) {
        n++;
    }
    return n;
}

static enum task_status
task_status_of(struct fx *fx, const char *id)
{
    struct err e = { 0 };
    struct task *t = store_task_load(engine_store(fx->eng), id, &e);
    if (t == NULL) {
        fail_msg("task %s: %s", id, e.msg);
    }
    enum task_status s = t->status;
    task_free(t);
    return s;
}

static int64_t
task_count(struct fx *fx)
{
    int64_t counts[TASK_STATUS_COUNT];
    struct err e = { 0 };
    assert_int_equal(store_task_count_by_status(engine_store(fx->eng), counts, &e), 0);
    int64_t n = 0;
    for (int i = 0; i < TASK_STATUS_COUNT; i++) {
        n += counts[i];
    }
    return n;
}

/* Drives a stored task to `to` through legal transitions, as a run would, and tells the
 * scheduler (the engine's watch would). */
static void
finish_task(struct fx *fx, const char *id, enum task_status to)
{
    struct err e = { 0 };
    struct store *st = engine_store(fx->eng);
    struct task *t = store_task_load(st, id, &e);
    assert_non_null(t);
    if (t->status == TASK_BLOCKED) {
        assert_int_equal(task_transition(t, TASK_QUEUED, g_now, &e), 0);
    }
    assert_int_equal(task_transition(t, TASK_RUNNING, g_now, &e), 0);
    assert_int_equal(task_transition(t, to, g_now, &e), 0);
    assert_int_equal(store_task_update(st, t, &e), 0);
    task_free(t);
    sched_task_ended(S(fx), id);
}

static const char *
task_at(struct schedule_execution *x, size_t i)
{
    return json_string_value(json_array_get(x->task_ids, i));
}

static void
test_fire_overlap_and_claim(void **state)
{
    struct fx *fx = *state;
    char id[SCHEDULE_ID_LEN + 1];
    json_t *r = call_ok(fx, "ScheduleTask",
                        "{\"prompt\":\"audit deps\",\"cronExpression\":\"*/5 * * * *\","
                        "\"agent\":\"claude\",\"timeout\":60000}");
    str_copy(id, json_get_str(r, "scheduleId"), sizeof id);
    assert_true(strncmp(id, "schedule-", 9) == 0);
    assert_string_equal(json_get_str(r, "nextRunAt"), "2026-03-11T12:05:00.000Z");
    assert_string_equal(json_get_str(r, "status"), "active");
    assert_string_equal(json_get_str(r, "scheduleType"), "cron");
    json_decref(r);

    tick_at(fx, T0 + 4 * MIN_MS); /* not due */
    assert_int_equal(task_count(fx), 0);
    tick_at(fx, T0 + 5 * MIN_MS);
    struct schedule_execution **h = history(fx, id);
    assert_int_equal(history_len(h), 1);
    assert_string_equal(h[0]->status, "triggered");
    assert_int_equal(h[0]->fire_time, T0 + 5 * MIN_MS);
    assert_int_equal(json_array_size(h[0]->task_ids), 1);
    char task[TASK_ID_LEN + 1];
    str_copy(task, task_at(h[0], 0), sizeof task);
    history_free(h);
    struct err e = { 0 };
    struct task *t = store_task_load(engine_store(fx->eng), task, &e);
    assert_non_null(t);
    assert_string_equal(t->prompt, "audit deps");
    assert_string_equal(t->agent, "claude");
    assert_int_equal(t->timeout_ms, 60000);
    assert_true(t->max_output_buffer > 0); /* the config default, unlike the old tool */
    assert_string_equal(t->working_directory, fx->dir);
    assert_string_equal(json_get_str(t->env, "SECRET_TOKEN"), "s3cr3t-xyz");
    task_free(t);
    struct schedule *s = load(fx, id);
    assert_int_equal(s->run_count, 1);
    assert_int_equal(s->last_run_at, T0 + 5 * MIN_MS);
    assert_int_equal(s->next_run_at, T0 + 10 * MIN_MS);
    schedule_free(s);

    /* The next fire while that task is still queued: skipped, with the reason. */
    tick_at(fx, T0 + 10 * MIN_MS);
    h = history(fx, id);
    assert_int_equal(history_len(h), 2);
    assert_string_equal(h[0]->status, "skipped");
    assert_non_null(strstr(h[0]->error, task));
    history_free(h);
    assert_int_equal(task_count(fx), 1);

    /* The run ends: the execution settles, the next fire runs. */
    finish_task(fx, task, TASK_COMPLETED);
    h = history(fx, id);
    assert_string_equal(h[1]->status, "completed");
    history_free(h);
    tick_at(fx, T0 + 15 * MIN_MS);
    assert_int_equal(task_count(fx), 2);

    /* A stale next fire (a pass that saw an old value) cannot run a fire twice. */
    assert_int_equal(
        store_schedule_set_next(engine_store(fx->eng), id, T0 + 15 * MIN_MS, g_now, &e), 0);
    h = history(fx, id);
    finish_task(fx, task_at(h[0], 0), TASK_COMPLETED);
    history_free(h);
    tick_at(fx, T0 + 15 * MIN_MS);
    assert_int_equal(task_count(fx), 2);
    s = load(fx, id);
    assert_int_equal(s->run_count, 2); /* the refused claim did not count */
    assert_int_equal(s->next_run_at, T0 + 20 * MIN_MS);
    schedule_free(s);
}

static void
test_max_runs_pause_resume(void **state)
{
    struct fx *fx = *state;
    char id[SCHEDULE_ID_LEN + 1];
    create(fx, id,
           "{\"prompt\":\"x\",\"cronExpression\":\"0 * * * *\",\"agent\":\"claude\","
           "\"maxRuns\":2}");
    json_t *r = call_ok(fx, "PauseSchedule", "{\"scheduleId\":\"%s\"}", id);
    assert_string_equal(json_get_str(r, "status"), "paused");
    assert_string_equal(json_get_str(r, "nextRunAt"), "2026-03-11T13:00:00.000Z");
    json_decref(r);
    call_fails(fx, "PauseSchedule", "is not active (status: paused)", "{\"scheduleId\":\"%s\"}",
               id);
    tick_at(fx, T0 + 3 * HOUR_MS + 1000); /* paused: nothing fires, nothing is missed */
    assert_int_equal(task_count(fx), 0);
    struct schedule_execution **h = history(fx, id);
    assert_int_equal(history_len(h), 0);
    history_free(h);
    r = call_ok(fx, "ResumeSchedule", "{\"scheduleId\":\"%s\"}", id);
    assert_string_equal(json_get_str(r, "status"), "active");
    assert_string_equal(json_get_str(r, "nextRunAt"), "2026-03-11T16:00:00.000Z");
    json_decref(r);
    call_fails(fx, "ResumeSchedule", "is not paused (status: active)", "{\"scheduleId\":\"%s\"}",
               id);
    tick_at(fx, T0 + 4 * HOUR_MS);
    h = history(fx, id);
    finish_task(fx, task_at(h[0], 0), TASK_COMPLETED);
    history_free(h);
    tick_at(fx, T0 + 5 * HOUR_MS);
    struct schedule *s = load(fx, id);
    assert_string_equal(s->status, "completed");
    assert_int_equal(s->run_count, 2);
    assert_int_equal(s->next_run_at, 0);
    assert_non_null(strstr(s->reason, "maxRuns"));
    schedule_free(s);
    tick_at(fx, T0 + 6 * HOUR_MS);
    assert_int_equal(task_count(fx), 2);
}

static void
test_cancel_with_tasks(void **state)
{
    struct fx *fx = *state;
    char id[SCHEDULE_ID_LEN + 1];
    create(fx, id, "{\"prompt\":\"x\",\"cronExpression\":\"* * * * *\",\"agent\":\"claude\"}");
    tick_at(fx, T0 + MIN_MS);
    struct schedule_execution **h = history(fx, id);
    char task[TASK_ID_LEN + 1];
    str_copy(task, task_at(h[0], 0), sizeof task);
    history_free(h);
    json_t *r = call_ok(fx, "CancelSchedule",
                        "{\"scheduleId\":\"%s\",\"reason\":\"no longer needed\","
                        "\"cancelTasks\":true}",
                        id);
    assert_true(json_is_true(json_object_get(r, "cancelTasksRequested")));
    assert_int_equal(json_array_size(json_object_get(r, "cancelledTaskIds")), 1);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(r, "cancelledTaskIds"), 0)), task);
    json_decref(r);
    assert_int_equal(task_status_of(fx, task), TASK_CANCELLED);
    h = history(fx, id);
    assert_string_equal(h[0]->status, "cancelled");
    history_free(h);
    struct schedule *s = load(fx, id);
    assert_string_equal(s->status, "cancelled");
    assert_string_equal(s->reason, "no longer needed");
    assert_int_equal(s->next_run_at, 0);
    schedule_free(s);
    tick_at(fx, T0 + 10 * MIN_MS);
    assert_int_equal(task_count(fx), 1);
    /* Cancelling again (any status) works and touches no finished task. */
    r = call_ok(fx, "CancelSchedule", "{\"scheduleId\":\"%s\",\"cancelTasks\":true}", id);
    assert_int_equal(json_array_size(json_object_get(r, "cancelledTaskIds")), 0);
    json_decref(r);
    call_fails(fx, "CancelSchedule", "not found",
               "{\"scheduleId\":\"schedule-00000000-0000-4000-8000-000000000000\"}");
}

static void
test_after_schedule(void **state)
{
    struct fx *fx = *state;
    char a[SCHEDULE_ID_LEN + 1], b[SCHEDULE_ID_LEN + 1];
    struct err e = { 0 };
    char **deps = NULL;
    create(fx, a, "{\"prompt\":\"build\",\"cronExpression\":\"0 * * * *\",\"agent\":\"claude\"}");
    create(fx, b,
           "{\"prompt\":\"deploy\",\"cronExpression\":\"30 * * * *\",\"agent\":\"claude\","
           "\"afterSchedule\":\"%s\"}",
           a);
    call_fails(fx, "ScheduleTask", "afterSchedule",
               "{\"prompt\":\"x\",\"cronExpression\":\"0 * * * *\",\"agent\":\"claude\","
               "\"afterSchedule\":\"schedule-00000000-0000-4000-8000-000000000000\"}");
    tick_at(fx, T0 + HOUR_MS);
    tick_at(fx, T0 + 90 * MIN_MS);
    struct schedule_execution **ha = history(fx, a), **hb = history(fx, b);
    char ta[TASK_ID_LEN + 1], tb[TASK_ID_LEN + 1];
    str_copy(ta, task_at(ha[0], 0), sizeof ta);
    str_copy(tb, task_at(hb[0], 0), sizeof tb);
    history_free(ha);
    history_free(hb);
    /* a's run was still going: b's run waits for it. */
    assert_int_equal(task_status_of(fx, tb), TASK_BLOCKED);
    assert_int_equal(store_dep_list(engine_store(fx->eng), tb, &deps, &e), 0);
    assert_string_equal(deps[0], ta);
    assert_null(deps[1]);
    strv_free(deps);
    finish_task(fx, ta, TASK_COMPLETED);
    finish_task(fx, tb, TASK_COMPLETED);
    /* a's next run is over before b fires: b depends on nothing. */
    tick_at(fx, T0 + 2 * HOUR_MS);
    ha = history(fx, a);
    finish_task(fx, task_at(ha[0], 0), TASK_COMPLETED);
    history_free(ha);
    tick_at(fx, T0 + 150 * MIN_MS);
    hb = history(fx, b);
    assert_string_equal(hb[0]->status, "triggered");
    str_copy(tb, task_at(hb[0], 0), sizeof tb);
    history_free(hb);
    assert_int_equal(task_status_of(fx, tb), TASK_QUEUED);
    assert_int_equal(store_dep_list(engine_store(fx->eng), tb, &deps, &e), 0);
    assert_null(deps[0]);
    strv_free(deps);
}

static void
test_pipelines(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    char **deps = NULL;
    /* Run now: steps 1 and 2 at once, step 3 five minutes after step 2 completed. */
    json_t *r = call_ok(fx, "CreatePipeline",
                        "{\"steps\":[{\"prompt\":\"lint\"},{\"prompt\":\"test\",\"agent\":"
                        "\"codex\"},{\"prompt\":\"summarise\",\"delay\":300000}],"
                        "\"agent\":\"claude\",\"priority\":\"P1\"}");
    const char *pid = json_get_str(r, "pipelineId");
    assert_non_null(pid);
    char id[SCHEDULE_ID_LEN + 1];
    str_copy(id, pid, sizeof id);
    assert_int_equal(json_get_int(r, "stepCount", 0), 3);
    json_t *ids = json_object_get(r, "taskIds");
    assert_int_equal(json_array_size(ids), 2);
    char t1[TASK_ID_LEN + 1], t2[TASK_ID_LEN + 1];
    str_copy(t1, json_string_value(json_array_get(ids, 0)), sizeof t1);
    str_copy(t2, json_string_value(json_array_get(ids, 1)), sizeof t2);
    json_t *steps = json_object_get(r, "steps");
    assert_string_equal(json_get_str(json_array_get(steps, 0), "taskId"), t1);
    assert_null(json_get_str(json_array_get(steps, 2), "taskId"));
    assert_int_equal(json_get_int(json_array_get(steps, 2), "delay", 0), 300000);
    json_decref(r);
    struct task *t = store_task_load(engine_store(fx->eng), t2, &e);
    assert_string_equal(t->agent, "codex");
    assert_int_equal(t->priority, 1);
    assert_int_equal(t->status, TASK_BLOCKED);
    task_free(t);
    assert_int_equal(store_dep_list(engine_store(fx->eng), t2, &deps, &e), 0);
    assert_string_equal(deps[0], t1);
    strv_free(deps);
    struct schedule *s = load(fx, id);
    assert_string_equal(s->status, "completed");
    assert_string_equal(s->type, "one_time");
    schedule_free(s);

    finish_task(fx, t1, TASK_COMPLETED);
    g_now = T0 + MIN_MS;
    finish_task(fx, t2, TASK_COMPLETED);
    struct schedule_execution **h = history(fx, id);
    assert_string_equal(h[0]->status, "triggered"); /* step 3 still to come */
    assert_int_equal(h[0]->next_step, 3);
    assert_int_equal(h[0]->resume_at, T0 + MIN_MS + 300000);
    history_free(h);
    tick_at(fx, T0 + MIN_MS + 299000);
    assert_int_equal(task_count(fx), 2);
    tick_at(fx, T0 + MIN_MS + 300000);
    assert_int_equal(task_count(fx), 3);
    h = history(fx, id);
    assert_int_equal(json_array_size(h[0]->task_ids), 3);
    assert_int_equal(h[0]->next_step, 0);
    char t3[TASK_ID_LEN + 1];
    str_copy(t3, task_at(h[0], 2), sizeof t3);
    history_free(h);
    finish_task(fx, t3, TASK_COMPLETED);
    h = history(fx, id);
    assert_string_equal(h[0]->status, "completed");
    history_free(h);

    /* A scheduled pipeline whose middle step is cancelled: the rest is cancelled, the run
     * ends cancelled, the next fire runs a fresh chain. */
    r = call_ok(fx, "SchedulePipeline",
                "{\"steps\":[{\"prompt\":\"a\"},{\"prompt\":\"b\"},{\"prompt\":\"c\"}],"
                "\"cronExpression\":\"0 * * * *\",\"agent\":\"claude\"}");
    str_copy(id, json_get_str(r, "scheduleId"), sizeof id);
    assert_int_equal(json_get_int(r, "stepCount", 0), 3);
    json_decref(r);
    tick_at(fx, T0 + HOUR_MS);
    h = history(fx, id);
    assert_int_equal(json_array_size(h[0]->task_ids), 3);
    str_copy(t1, task_at(h[0], 0), sizeof t1);
    str_copy(t2, task_at(h[0], 1), sizeof t2);
    str_copy(t3, task_at(h[0], 2), sizeof t3);
    history_free(h);
    finish_task(fx, t1, TASK_COMPLETED);
    tick_at(fx, T0 + 2 * HOUR_MS); /* the chain is still going: skipped */
    h = history(fx, id);
    assert_string_equal(h[0]->status, "skipped");
    history_free(h);
    assert_int_equal(engine_task_cancel(fx->eng, t2, "stop", &e), 0);
    assert_int_equal(task_status_of(fx, t3), TASK_CANCELLED); /* the engine's cascade */
    sched_task_ended(S(fx), t2);
    h = history(fx, id);
    assert_string_equal(h[1]->status, "cancelled");
    history_free(h);
    tick_at(fx, T0 + 3 * HOUR_MS);
    h = history(fx, id);
    assert_string_equal(h[0]->status, "triggered");
    assert_int_equal(json_array_size(h[0]->task_ids), 3);
    history_free(h);

    call_fails(fx, "CreatePipeline", "steps: must have 2 to 20 items",
               "{\"steps\":[{\"prompt\":\"only\"}],\"agent\":\"claude\"}");
    call_fails(fx, "CreatePipeline", "steps[1]: workingDirectory",
               "{\"steps\":[{\"prompt\":\"a\"},{\"prompt\":\"b\",\"workingDirectory\":"
               "\"/no/such/dir\"}],\"agent\":\"claude\"}");
}

/* Three schedules with the three policies, the daemon down for an hour. */
static void
test_missed_across_restart(void **state)
{
    struct fx *fx = *state;
    char skip[SCHEDULE_ID_LEN + 1], catchup[SCHEDULE_ID_LEN + 1], fail[SCHEDULE_ID_LEN + 1];
    char once[SCHEDULE_ID_LEN + 1];
    create(fx, skip, "{\"prompt\":\"s\",\"cronExpression\":\"*/10 * * * *\",\"agent\":\"claude\"}");
    create(fx, catchup,
           "{\"prompt\":\"c\",\"cronExpression\":\"*/10 * * * *\",\"agent\":"
           "\"claude\",\"missedRunPolicy\":\"catchup\"}");
    create(fx, fail,
           "{\"prompt\":\"f\",\"cronExpression\":\"*/10 * * * *\",\"agent\":\"claude\","
           "\"missedRunPolicy\":\"fail\"}");
    create(fx, once,
           "{\"prompt\":\"o\",\"scheduledAt\":\"2026-03-11T12:30:00Z\",\"agent\":"
           "\"claude\"}");
    fx_stop_engine(fx);
    g_now = T0 + HOUR_MS + 5 * MIN_MS; /* 13:05: fires 12:10 .. 13:00 are late by > 60 s */
    fx_start_engine(fx);

    struct schedule_execution **h = history(fx, skip);
    assert_int_equal(count_status(h, "missed"), 6); /* 12:10 .. 13:00 */
    assert_int_equal(count_status(h, "triggered"), 0);
    assert_non_null(strstr(h[0]->error, "missedRunPolicy skip"));
    history_free(h);
    struct schedule *s = load(fx, skip);
    assert_string_equal(s->status, "active");
    assert_int_equal(s->next_run_at, T0 + 70 * MIN_MS);
    schedule_free(s);

    h = history(fx, catchup);
    assert_int_equal(history_len(h), 1);
    assert_string_equal(h[0]->status, "triggered");
    assert_int_equal(h[0]->fire_time, T0 + HOUR_MS);
    assert_int_equal(json_array_size(h[0]->covers), 6);
    history_free(h);

    h = history(fx, fail);
    assert_int_equal(count_status(h, "missed"), 6);
    history_free(h);
    s = load(fx, fail);
    assert_string_equal(s->status, "cancelled");
    assert_non_null(strstr(s->reason, "missedRunPolicy fail"));
    schedule_free(s);

    h = history(fx, once);
    assert_int_equal(history_len(h), 1);
    assert_string_equal(h[0]->status, "missed");
    history_free(h);
    s = load(fx, once);
    assert_string_equal(s->status, "completed");
    schedule_free(s);
    /* Only the catch-up run made a task. */
    assert_int_equal(task_count(fx), 1);
}

static void
test_clock_back_and_one_time(void **state)
{
    struct fx *fx = *state;
    char id[SCHEDULE_ID_LEN + 1], once[SCHEDULE_ID_LEN + 1];
    create(fx, id, "{\"prompt\":\"hourly\",\"cronExpression\":\"0 * * * *\",\"agent\":\"claude\"}");
    create(fx, once,
           "{\"prompt\":\"deploy\",\"scheduledAt\":\"2026-03-11T14:30:00+02:00\","
           "\"agent\":\"claude\"}"); /* 12:30Z */
    tick_at(fx, T0 + 30 * MIN_MS);
    struct schedule_execution **h = history(fx, once);
    assert_int_equal(history_len(h), 1);
    assert_string_equal(h[0]->status, "triggered");
    finish_task(fx, task_at(h[0], 0), TASK_COMPLETED);
    history_free(h);
    struct schedule *s = load(fx, once);
    assert_string_equal(s->status, "completed");
    assert_int_equal(s->next_run_at, 0);
    schedule_free(s);

    tick_at(fx, T0 + HOUR_MS); /* 13:00 fires */
    h = history(fx, id);
    finish_task(fx, task_at(h[0], 0), TASK_COMPLETED);
    history_free(h);
    /* The clock goes back to 12:40: the next fire becomes 13:00 again, which already ran. */
    g_now = T0 + 40 * MIN_MS;
    sched_clock_jumped(S(fx));
    s = load(fx, id);
    assert_int_equal(s->next_run_at, T0 + HOUR_MS);
    schedule_free(s);
    tick_at(fx, T0 + HOUR_MS);
    assert_int_equal(task_count(fx), 2); /* 13:00 was not run twice */
    s = load(fx, id);
    assert_int_equal(s->next_run_at, T0 + 2 * HOUR_MS);
    assert_int_equal(s->run_count, 1);
    schedule_free(s);
    tick_at(fx, T0 + 2 * HOUR_MS);
    assert_int_equal(task_count(fx), 3);

    /* The clock goes back while no daemon runs: noticed at start-up, and the fires that
     * already ran (13:00, 14:00) still do not run again; 15:00 does. */
    fx_stop_engine(fx);
    g_now = T0 + 30 * MIN_MS;
    fx_start_engine(fx);
    s = load(fx, id);
    assert_int_equal(s->next_run_at, T0 + HOUR_MS);
    schedule_free(s);
    tick_at(fx, T0 + HOUR_MS);
    tick_at(fx, T0 + 2 * HOUR_MS);
    assert_int_equal(task_count(fx), 3);
    h = history(fx, id);
    finish_task(fx, task_at(h[0], 0), TASK_COMPLETED);
    history_free(h);
    tick_at(fx, T0 + 3 * HOUR_MS);
    assert_int_equal(task_count(fx), 4);
}

static void
test_validation(void **state)
{
    struct fx *fx = *state;
    call_fails(fx, "ScheduleTask", "scheduleType: give cronExpression",
               "{\"prompt\":\"x\",\"agent\":\"claude\"}");
    call_fails(fx, "ScheduleTask", "cronExpression: is required for cron",
               "{\"prompt\":\"x\",\"scheduleType\":\"cron\",\"agent\":\"claude\"}");
    call_fails(fx, "ScheduleTask", "scheduledAt: is required",
               "{\"prompt\":\"x\",\"scheduleType\":\"one_time\",\"agent\":\"claude\"}");
    call_fails(fx, "ScheduleTask", "cronExpression:",
               "{\"prompt\":\"x\",\"cronExpression\":\"* 24 * * *\",\"agent\":\"claude\"}");
    call_fails(fx, "ScheduleTask", "cronExpression:",
               "{\"prompt\":\"x\",\"cronExpression\":\"@reboot\",\"agent\":\"claude\"}");
    call_fails(fx, "ScheduleTask", "cronExpression:",
               "{\"prompt\":\"x\",\"cronExpression\":\"*/15 * * * * *\",\"agent\":\"claude\"}");
    call_fails(fx, "ScheduleTask", "timezone:",
               "{\"prompt\":\"x\",\"cronExpression\":\"0 9 * * *\",\"timezone\":\"Mars/Base\","
               "\"agent\":\"claude\"}");
    call_fails(fx, "ScheduleTask", "scheduledAt: must be an ISO 8601 time",
               "{\"prompt\":\"x\",\"scheduledAt\":\"tomorrow\",\"agent\":\"claude\"}");
    call_fails(fx, "ScheduleTask", "scheduledAt: must be in the future",
               "{\"prompt\":\"x\",\"scheduledAt\":\"2026-03-11T11:00:00Z\",\"agent\":\"claude\"}");
    call_fails(fx, "ScheduleTask", "expiresAt: must be in the future",
               "{\"prompt\":\"x\",\"cronExpression\":\"0 9 * * *\",\"expiresAt\":"
               "\"2026-01-01T00:00:00Z\",\"agent\":\"claude\"}");
    call_fails(fx, "ScheduleTask", "the schedule would never run",
               "{\"prompt\":\"x\",\"cronExpression\":\"0 9 * * *\",\"expiresAt\":"
               "\"2026-03-11T13:00:00Z\",\"agent\":\"claude\"}");
    call_fails(fx, "ScheduleTask", "maxRuns: must be",
               "{\"prompt\":\"x\",\"cronExpression\":\"0 9 * * *\",\"maxRuns\":0,"
               "\"agent\":\"claude\"}");
    call_fails(fx, "ScheduleTask", "missedRunPolicy: must be one of skip, catchup, fail",
               "{\"prompt\":\"x\",\"cronExpression\":\"0 9 * * *\",\"missedRunPolicy\":\"later\","
               "\"agent\":\"claude\"}");
    call_fails(fx, "GetSchedule", "not found",
               "{\"scheduleId\":\"schedule-00000000-0000-4000-8000-000000000000\"}");
    call_fails(fx, "GetSchedule", "scheduleId: must be a schedule id", "{\"scheduleId\":\"x\"}");
    /* A cron schedule with scheduledAt starts no earlier than it. */
    json_t *r = call_ok(fx, "ScheduleTask",
                        "{\"prompt\":\"x\",\"cronExpression\":\"0 9 * * *\",\"scheduledAt\":"
                        "\"2026-04-01T00:00:00Z\",\"timezone\":\"America/New_York\","
                        "\"agent\":\"claude\"}");
    assert_string_equal(json_get_str(r, "nextRunAt"), "2026-04-01T13:00:00.000Z");
    assert_string_equal(json_get_str(r, "nextRunAtLocal"), "2026-04-01T09:00:00-04:00");
    json_decref(r);
}

static bool
has_secret(const json_t *j)
{
    char *s = json_dumps(j, 0);
    bool found = strstr(s, "s3cr3t-xyz") != NULL || strstr(s, "SECRET_TOKEN") != NULL;
    free(s);
    return found;
}

static void
test_outputs_hide_env(void **state)
{
    struct fx *fx = *state;
    char id[SCHEDULE_ID_LEN + 1];
    json_t *r = call_ok(fx, "ScheduleTask",
                        "{\"prompt\":\"x\",\"cronExpression\":\"*/5 * * * *\","
                        "\"agent\":\"claude\"}");
    assert_false(has_secret(r));
    str_copy(id, json_get_str(r, "scheduleId"), sizeof id);
    json_decref(r);
    tick_at(fx, T0 + 5 * MIN_MS);
    r = call_ok(fx, "GetSchedule", "{\"scheduleId\":\"%s\",\"includeHistory\":true}", id);
    assert_false(has_secret(r));
    json_t *s = json_object_get(r, "schedule");
    assert_string_equal(json_get_str(s, "nextRunAt"), "2026-03-11T12:10:00.000Z");
    assert_string_equal(json_get_str(s, "createdAt"), "2026-03-11T12:00:00.000Z");
    assert_int_equal(json_get_int(s, "runCount", -1), 1);
    assert_string_equal(json_get_str(json_object_get(s, "taskTemplate"), "prompt"), "x");
    json_t *h = json_object_get(r, "history");
    assert_int_equal(json_array_size(h), 1);
    assert_string_equal(json_get_str(json_array_get(h, 0), "status"), "triggered");
    assert_string_equal(json_get_str(json_array_get(h, 0), "scheduledFor"),
                        "2026-03-11T12:05:00.000Z");
    assert_non_null(json_get_str(json_array_get(h, 0), "taskId"));
    json_decref(r);
    r = call_ok(fx, "ListSchedules", "{}");
    assert_false(has_secret(r));
    assert_int_equal(json_get_int(r, "count", 0), 1);
    json_t *item = json_array_get(json_object_get(r, "schedules"), 0);
    assert_string_equal(json_get_str(item, "id"), id);
    assert_false(json_is_true(json_object_get(item, "isPipeline")));
    assert_string_equal(json_get_str(item, "nextRunAt"), "2026-03-11T12:10:00.000Z");
    json_decref(r);
    r = call_ok(fx, "ListSchedules", "{\"status\":\"paused\"}");
    assert_int_equal(json_get_int(r, "count", -1), 0);
    json_decref(r);
}

int
main(void)
{
    char zones[4096];
    const char *fixtures = getenv("BEAT_FIXTURES");
    snprintf(zones, sizeof zones, "%s/zones/compiled", fixtures ? fixtures : "tests/fixtures");
    setenv("TZDIR", zones, 1);
    unsetenv("BACKBEAT_CLOCK_FILE");
    unsetenv("BACKBEAT_SCHED_CRASH");
    unsetenv("BACKBEAT_MISSED_RUN_GRACE_MS");
    unsetenv("BACKBEAT_DEFAULT_AGENT");
    log_set_level(getenv("TEST_VERBOSE") ? LOG_DEBUG : LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_on_time_and_grace),
        cmocka_unit_test(test_plan_outage_policies),
        cmocka_unit_test(test_plan_long_outage),
        cmocka_unit_test(test_plan_one_time),
        cmocka_unit_test(test_plan_expiry),
        cmocka_unit_test(test_plan_dst),
        cmocka_unit_test_setup_teardown(test_fire_overlap_and_claim, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_max_runs_pause_resume, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_with_tasks, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_after_schedule, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_pipelines, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_missed_across_restart, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_clock_back_and_one_time, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_validation, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_outputs_hide_env, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
