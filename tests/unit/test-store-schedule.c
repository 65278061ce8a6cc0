/* Unit tests for store/store-schedule.c and migration 2: schedule rows round-trip (JSON columns
 * included), the schema refuses what it must, a fire is claimed once, executions list newest
 * first and are pruned without touching running ones, tasks map back to their run, and the
 * wake, due and clock-jump queries. Each test gets its own database in a fresh directory. */
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

#include <sqlite3.h>

#include "core/task.h"
#include "store/store-private.h"
#include "store/store.h"
#include "util/str.h"

#define T0     INT64_C(1773230400000) /* 2026-03-11T12:00:00Z */
#define MIN_MS INT64_C(60000)

struct fx {
    char dir[256];
    char path[300];
    struct store *st;
};

static int
fx_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);
    const char *tmp = getenv("TMPDIR");
    struct err e = { 0 };
    snprintf(fx->dir, sizeof fx->dir, "%s/test-store-schedule-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(fx->dir) == NULL) {
        fail_msg("mkdtemp %s failed", fx->dir);
    }
    snprintf(fx->path, sizeof fx->path, "%s/beat.db", fx->dir);
    fx->st = store_open(fx->path, &e);
    if (fx->st == NULL) {
        fail_msg("store_open: %s", e.msg);
    }
    *state = fx;
    return 0;
}

static int
fx_teardown(void **state)
{
    struct fx *fx = *state;
    char p[320];
    store_close(fx->st);
    static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(p, sizeof p, "%s%s", fx->path, suffixes[i]);
        unlink(p);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static int64_t
q_int(struct store *st, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
        v = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    return v;
}

/* A cron schedule with every field set; id "schedule-...<n>". */
static struct schedule *
mk_schedule(int n, const char *status, int64_t next)
{
    struct schedule *s = calloc(1, sizeof *s);
    snprintf(s->id, sizeof s->id, "schedule-00000000-0000-4000-8000-%012d", n);
    str_copy(s->status, status, sizeof s->status);
    str_copy(s->type, "cron", sizeof s->type);
    str_copy(s->policy, "catchup", sizeof s->policy);
    s->cron_expression = strdup("*/5 * * * *");
    s->timezone = strdup("America/New_York");
    s->max_runs = 7;
    s->next_run_at = next;
    s->expires_at = T0 + 1000 * MIN_MS;
    s->template =
        json_pack("{s:s, s:s, s:s}", "prompt", "audit deps", "priority", "P1", "agent", "claude");
    s->env = json_pack("{s:s}", "SECRET_TOKEN", "s3cr3t");
    s->client_cwd = strdup("/tmp");
    s->created_at = T0 + n;
    s->updated_at = T0 + n;
    return s;
}

static void
put(struct store *st, struct schedule *s)
{
    struct err e = { 0 };
    if (store_schedule_insert(st, s, &e) != 0) {
        fail_msg("insert %s: %s", s->id, e.msg);
    }
}

static void
test_schema_v2(void **state)
{
    struct fx *fx = *state;
    assert_true(store_schema_version(fx->st) >= 2);
    assert_int_equal(q_int(fx->st, "SELECT COUNT(*) FROM pragma_table_list WHERE schema = 'main' "
                                   "AND name IN ('schedules', 'schedule_executions', "
                                   "'schedule_run_tasks') AND strict = 1"),
                     3);
    /* The due scan and the wake query use the index, not a table scan. */
    assert_int_equal(q_int(fx->st, "SELECT COUNT(*) FROM pragma_index_list('schedules') WHERE "
                                   "name = 'schedules_due'"),
                     1);
}

static void
test_roundtrip(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    struct schedule *s = mk_schedule(1, "active", T0 + 5 * MIN_MS);
    s->steps = json_pack("[{s:s}, {s:s, s:i}]", "prompt", "a", "prompt", "b", "delay", 300000);
    s->after_schedule_id = strdup("schedule-00000000-0000-4000-8000-000000000009");
    put(fx->st, s);
    struct schedule *l = store_schedule_load(fx->st, s->id, &e);
    assert_non_null(l);
    assert_string_equal(l->id, s->id);
    assert_string_equal(l->status, "active");
    assert_string_equal(l->type, "cron");
    assert_string_equal(l->policy, "catchup");
    assert_string_equal(l->cron_expression, "*/5 * * * *");
    assert_string_equal(l->timezone, "America/New_York");
    assert_int_equal(l->max_runs, 7);
    assert_int_equal(l->next_run_at, T0 + 5 * MIN_MS);
    assert_int_equal(l->expires_at, T0 + 1000 * MIN_MS);
    assert_int_equal(l->scheduled_at, 0);
    assert_int_equal(l->last_run_at, 0);
    assert_string_equal(l->after_schedule_id, s->after_schedule_id);
    assert_true(json_equal(l->template, s->template));
    assert_true(json_equal(l->steps, s->steps));
    assert_true(json_equal(l->env, s->env));
    assert_string_equal(l->client_cwd, "/tmp");

    /* update writes the mutable fields only */
    str_copy(l->status, "paused", sizeof l->status);
    l->run_count = 3;
    l->last_run_at = T0 + 1;
    l->next_run_at = 0;
    l->reason = strdup("why");
    l->updated_at = T0 + 99;
    assert_int_equal(store_schedule_update(fx->st, l, &e), 0);
    struct schedule *l2 = store_schedule_load(fx->st, s->id, &e);
    assert_string_equal(l2->status, "paused");
    assert_int_equal(l2->run_count, 3);
    assert_int_equal(l2->next_run_at, 0);
    assert_string_equal(l2->reason, "why");
    assert_int_equal(l2->updated_at, T0 + 99);
    assert_int_equal(l2->created_at, s->created_at);

    assert_null(store_schedule_load(fx->st, "schedule-nope", &e));
    assert_int_equal(e.code, ERR_NOTFOUND);
    str_copy(l2->id, "schedule-nope", sizeof l2->id);
    assert_int_equal(store_schedule_update(fx->st, l2, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    schedule_free(s);
    schedule_free(l);
    schedule_free(l2);
}

static void
test_schema_refuses(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    struct schedule *s = mk_schedule(2, "sleeping", T0);
    assert_int_equal(store_schedule_insert(fx->st, s, &e), -1);
    assert_int_equal(e.code, ERR_STORE);
    str_copy(s->status, "active", sizeof s->status);
    free(s->cron_expression);
    s->cron_expression = NULL; /* cron needs its expression */
    assert_int_equal(store_schedule_insert(fx->st, s, &e), -1);
    s->cron_expression = strdup("* * * * *");
    s->max_runs = -1;
    assert_int_equal(store_schedule_insert(fx->st, s, &e), -1);
    s->max_runs = 0;
    json_decref(s->template);
    s->template = json_string("not an object");
    assert_int_equal(store_schedule_insert(fx->st, s, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    json_decref(s->template);
    s->template = json_object();
    str_copy(s->type, "one_time", sizeof s->type); /* one_time needs scheduled_at, no cron */
    assert_int_equal(store_schedule_insert(fx->st, s, &e), -1);
    str_copy(s->type, "cron", sizeof s->type);
    assert_int_equal(store_schedule_insert(fx->st, s, &e), 0);
    assert_int_equal(store_schedule_insert(fx->st, s, &e), -1); /* duplicate id */
    schedule_free(s);
}

static struct schedule_execution
mk_exec(const char *sid, int64_t fire, const char *status)
{
    struct schedule_execution x = { 0 };
    str_copy(x.schedule_id, sid, sizeof x.schedule_id);
    x.fire_time = fire;
    str_copy(x.status, status, sizeof x.status);
    x.created_at = x.updated_at = fire;
    return x;
}

/* Retention keeps a task of a run that is still going (a delayed step waits on it), and lets
 * it go once the run has ended. */
static void
test_prune_keeps_open_run_tasks(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    struct task *t = task_new();
    task_id_new(t->id);
    t->prompt = strdup("step 1");
    t->status = TASK_COMPLETED;
    t->priority = 1;
    t->created_at = t->updated_at = t->completed_at = T0;
    assert_int_equal(store_task_insert(fx->st, t, &e), 0);
    struct schedule *s = mk_schedule(9, "active", T0);
    put(fx->st, s);
    struct schedule_execution x = mk_exec(s->id, T0, "triggered");
    x.task_ids = json_pack("[s]", t->id);
    x.next_step = 2;
    x.wait_task = strdup(t->id);
    bool claimed = false;
    assert_int_equal(store_schedule_exec_insert(fx->st, &x, &claimed, &e), 0);
    assert_true(claimed);

    char **removed = NULL;
    assert_int_equal(store_task_prune(fx->st, T0 + 1000 * MIN_MS, &removed, &e), 0);
    assert_true(removed == NULL || removed[0] == NULL);
    free(removed);
    removed = NULL;
    assert_true(store_task_exists(fx->st, t->id));

    str_copy(x.status, "completed", sizeof x.status);
    assert_int_equal(store_schedule_exec_update(fx->st, &x, &e), 0);
    assert_int_equal(store_task_prune(fx->st, T0 + 1000 * MIN_MS, &removed, &e), 0);
    assert_non_null(removed);
    assert_string_equal(removed[0], t->id);
    assert_null(removed[1]);
    assert_false(store_task_exists(fx->st, t->id));
    free(removed[0]);
    free(removed);
    json_decref(x.task_ids);
    free(x.wait_task);
    schedule_free(s);
    task_free(t);
}

static void
test_claim_once(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    struct schedule *s = mk_schedule(3, "active", T0);
    put(fx->st, s);
    struct schedule_execution x = mk_exec(s->id, T0, "triggered");
    x.task_ids = json_pack("[s, s]", "task-a", "task-b");
    x.covers = json_pack("[I, I]", (json_int_t)(T0 - MIN_MS), (json_int_t)T0);
    bool claimed = false;
    assert_int_equal(store_schedule_exec_insert(fx->st, &x, &claimed, &e), 0);
    assert_true(claimed);
    assert_true(x.id > 0);
    struct schedule_execution y = mk_exec(s->id, T0, "missed");
    assert_int_equal(store_schedule_exec_insert(fx->st, &y, &claimed, &e), 0);
    assert_false(claimed); /* the same fire: already claimed, not an error */
    assert_int_equal(q_int(fx->st, "SELECT COUNT(*) FROM schedule_executions"), 1);

    int64_t id = 0;
    assert_int_equal(store_schedule_exec_by_task(fx->st, "task-b", &id, &e), 0);
    assert_int_equal(id, x.id);
    assert_int_equal(store_schedule_exec_by_task(fx->st, "task-zzz", &id, &e), 0);
    assert_int_equal(id, 0);

    /* update maps new tasks, keeps old mappings */
    json_array_append_new(x.task_ids, json_string("task-c"));
    x.next_step = 3;
    x.wait_task = strdup("task-b");
    x.resume_at = T0 + 5 * MIN_MS;
    x.error = strdup("note");
    assert_int_equal(store_schedule_exec_update(fx->st, &x, &e), 0);
    assert_int_equal(store_schedule_exec_by_task(fx->st, "task-c", &id, &e), 0);
    assert_int_equal(id, x.id);
    struct schedule_execution *l = store_schedule_exec_load(fx->st, x.id, &e);
    assert_non_null(l);
    assert_string_equal(l->status, "triggered");
    assert_int_equal(json_array_size(l->task_ids), 3);
    assert_int_equal(json_array_size(l->covers), 2);
    assert_int_equal(l->next_step, 3);
    assert_string_equal(l->wait_task, "task-b");
    assert_int_equal(l->resume_at, T0 + 5 * MIN_MS);
    assert_string_equal(l->error, "note");

    /* open and resume-due lists */
    int64_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(store_schedule_exec_open(fx->st, s->id, &ids, &n, &e), 0);
    assert_int_equal(n, 1);
    free(ids);
    assert_int_equal(store_schedule_exec_resume_due(fx->st, T0, &ids, &n, &e), 0);
    assert_int_equal(n, 0);
    free(ids);
    assert_int_equal(store_schedule_exec_resume_due(fx->st, T0 + 5 * MIN_MS, &ids, &n, &e), 0);
    assert_int_equal(n, 1);
    free(ids);

    /* the earliest wake is the delayed step, earlier than the schedule's next fire */
    int64_t wake = 0;
    assert_int_equal(store_schedule_next_wake(fx->st, &wake, &e), 0);
    assert_int_equal(wake, T0); /* the schedule's next_run_at T0 is earlier still */
    s->next_run_at = T0 + 60 * MIN_MS;
    s->updated_at = T0;
    assert_int_equal(store_schedule_update(fx->st, s, &e), 0);
    assert_int_equal(store_schedule_next_wake(fx->st, &wake, &e), 0);
    assert_int_equal(wake, T0 + 5 * MIN_MS);
    str_copy(x.status, "completed", sizeof x.status);
    assert_int_equal(store_schedule_exec_update(fx->st, &x, &e), 0);
    assert_int_equal(store_schedule_next_wake(fx->st, &wake, &e), 0);
    assert_int_equal(wake, T0 + 60 * MIN_MS); /* an ended run no longer wakes anyone */
    str_copy(s->status, "paused", sizeof s->status);
    assert_int_equal(store_schedule_update(fx->st, s, &e), 0);
    assert_int_equal(store_schedule_next_wake(fx->st, &wake, &e), 0);
    assert_int_equal(wake, 0);

    json_decref(x.task_ids);
    json_decref(x.covers);
    free(x.wait_task);
    free(x.error);
    schedule_execution_free(l);
    schedule_free(s);
}

static void
test_history_and_prune(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    struct schedule *s = mk_schedule(4, "active", T0);
    put(fx->st, s);
    bool claimed;
    for (int i = 0; i < 30; i++) {
        struct schedule_execution x = mk_exec(s->id, T0 + i * MIN_MS,
                                              i == 2  ? "triggered"
                                              : i % 2 ? "missed"
                                                      : "completed");
        assert_int_equal(store_schedule_exec_insert(fx->st, &x, &claimed, &e), 0);
        assert_true(claimed);
    }
    struct schedule_execution **v = NULL;
    assert_int_equal(store_schedule_exec_list(fx->st, s->id, 5, &v, &e), 0);
    int k = 0;
    for (; v[k]; k++) {
        assert_int_equal(v[k]->fire_time, T0 + (29 - k) * MIN_MS); /* newest first */
        schedule_execution_free(v[k]);
    }
    assert_int_equal(k, 5);
    free(v);
    assert_int_equal(store_schedule_exec_prune(fx->st, s->id, 10, &e), 0);
    /* the newest 10 stay, plus the older run that is still going */
    assert_int_equal(q_int(fx->st, "SELECT COUNT(*) FROM schedule_executions"), 11);
    assert_int_equal(q_int(fx->st, "SELECT COUNT(*) FROM schedule_executions WHERE status = "
                                   "'triggered'"),
                     1);
    assert_int_equal(store_schedule_exec_prune(fx->st, s->id, 0, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    assert_int_equal(store_schedule_exec_list(fx->st, s->id, 0, &v, &e), -1);
    schedule_free(s);
}

static void
test_due_list_cron_and_clock(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    struct schedule *a = mk_schedule(5, "active", T0 + 2 * MIN_MS);
    struct schedule *b = mk_schedule(6, "active", T0 + 1 * MIN_MS);
    struct schedule *c = mk_schedule(7, "paused", T0);
    struct schedule *d = mk_schedule(8, "active", T0 + 10 * MIN_MS);
    str_copy(d->type, "one_time", sizeof d->type);
    free(d->cron_expression);
    d->cron_expression = NULL;
    d->scheduled_at = T0 + 10 * MIN_MS;
    put(fx->st, a);
    put(fx->st, b);
    put(fx->st, c);
    put(fx->st, d);
    char **ids = NULL;
    assert_int_equal(store_schedule_due(fx->st, T0 + 2 * MIN_MS, 100, &ids, &e), 0);
    assert_int_equal(strv_len(ids), 2);
    assert_string_equal(ids[0], b->id); /* earliest first; paused ones never due */
    assert_string_equal(ids[1], a->id);
    strv_free(ids);
    assert_int_equal(store_schedule_due(fx->st, T0 + 2 * MIN_MS, 1, &ids, &e), 0);
    assert_int_equal(strv_len(ids), 1);
    strv_free(ids);
    assert_int_equal(store_schedule_due(fx->st, T0, 0, &ids, &e), -1);

    struct schedule **v = NULL;
    int64_t total = 0;
    assert_int_equal(store_schedule_list(fx->st, NULL, 2, 0, &v, &total, &e), 0);
    assert_int_equal(total, 4);
    assert_string_equal(v[0]->id, d->id); /* newest first */
    assert_string_equal(v[1]->id, c->id);
    assert_null(v[2]);
    for (int i = 0; v[i]; i++) {
        schedule_free(v[i]);
    }
    free(v);
    assert_int_equal(store_schedule_list(fx->st, "paused", 10, 0, &v, &total, &e), 0);
    assert_int_equal(total, 1);
    assert_string_equal(v[0]->id, c->id);
    schedule_free(v[0]);
    free(v);

    assert_int_equal(store_schedule_active_cron(fx->st, &v, &e), 0);
    int n = 0;
    for (; v[n]; n++) {
        assert_string_equal(v[n]->type, "cron");
        assert_null(v[n]->template); /* timing only */
        schedule_free(v[n]);
    }
    free(v);
    assert_int_equal(n, 2);

    assert_int_equal(store_schedule_set_next(fx->st, c->id, T0 + 1, T0, &e), 0);
    struct schedule *l = store_schedule_load(fx->st, c->id, &e);
    assert_int_equal(l->next_run_at, T0); /* paused: untouched */
    schedule_free(l);
    assert_int_equal(store_schedule_set_next(fx->st, a->id, T0 + 1, T0 + 50, &e), 0);
    l = store_schedule_load(fx->st, a->id, &e);
    assert_int_equal(l->next_run_at, T0 + 1);
    schedule_free(l);

    assert_true(store_schedule_written_after(fx->st, T0 + 10));
    assert_false(store_schedule_written_after(fx->st, T0 + 1000));
    ids = NULL;
    assert_int_equal(store_schedule_ids_by_status(fx->st, "active", &ids, &e), 0);
    assert_int_equal(strv_len(ids), 3);
    strv_free(ids);
    schedule_free(a);
    schedule_free(b);
    schedule_free(c);
    schedule_free(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_v2, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_schema_refuses, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_claim_once, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_prune_keeps_open_run_tasks, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_history_and_prune, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_due_list_cron_and_clock, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
