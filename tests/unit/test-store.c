/* Unit tests for store/: schema and pragmas, task rows, queue order, dependency edges,
 * checkpoints, pruning, nested transactions and error reporting. Each test gets its own
 * database in a fresh mkdtemp directory under $TMPDIR, removed afterwards. */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* cmocka.h needs the headers above first. */
#include <cmocka.h>

#include <sqlite3.h>

#include "core/task.h"
#include "store/store-private.h"
#include "store/store.h"
#include "util/str.h"

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
    snprintf(fx->dir, sizeof fx->dir, "%s/test-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
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

static void
fx_reopen(struct fx *fx)
{
    struct err e = { 0 };
    store_close(fx->st);
    fx->st = store_open(fx->path, &e);
    if (fx->st == NULL) {
        fail_msg("reopen: %s", e.msg);
    }
}

/* One integer from a raw query on the store's connection. */
static int64_t
q_int(struct store *st, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    int64_t v = -999;
    assert_int_equal(sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL), SQLITE_OK);
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        v = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    return v;
}

/* One text value (copied into out) from a raw query. */
static void
q_text(struct store *st, const char *sql, char *out, size_t size)
{
    sqlite3_stmt *stmt = NULL;
    out[0] = '\0';
    assert_int_equal(sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL), SQLITE_OK);
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != NULL) {
        str_copy(out, (const char *)sqlite3_column_text(stmt, 0), size);
    }
    sqlite3_finalize(stmt);
}

static struct task *
mk_task(const char *prompt, int priority, int64_t created_at)
{
    struct task *t = task_new();
    task_id_new(t->id);
    t->prompt = strdup(prompt);
    t->priority = priority;
    t->created_at = created_at;
    t->updated_at = created_at;
    return t;
}

/* Inserts a task and returns its id in id_out (which may be NULL). */
static void
put_task(struct store *st, const char *prompt, int priority, int64_t created_at,
         enum task_status status, char id_out[TASK_ID_LEN + 1])
{
    struct err e = { 0 };
    struct task *t = mk_task(prompt, priority, created_at);
    t->status = status;
    if (task_status_is_terminal(status)) {
        t->completed_at = created_at;
    }
    if (store_task_insert(st, t, &e) != 0) {
        fail_msg("insert: %s", e.msg);
    }
    if (id_out != NULL) {
        memcpy(id_out, t->id, TASK_ID_LEN + 1);
    }
    task_free(t);
}

static enum task_status
stored_status(struct store *st, const char *id)
{
    struct err e = { 0 };
    struct task *t = store_task_load(st, id, &e);
    if (t == NULL) {
        fail_msg("load %s: %s", id, e.msg);
    }
    enum task_status s = t->status;
    task_free(t);
    return s;
}

static void
assert_strv(char **got, const char *const *want, size_t n)
{
    assert_non_null(got);
    assert_int_equal(strv_len(got), n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(got[i], want[i]);
    }
}

/* ---- schema and pragmas ---- */

static void
test_pragmas(void **state)
{
    struct fx *fx = *state;
    char mode[32];
    struct stat sb;
    q_text(fx->st, "PRAGMA journal_mode", mode, sizeof mode);
    assert_string_equal(mode, "wal");
    assert_int_equal(q_int(fx->st, "PRAGMA foreign_keys"), 1);
    assert_int_equal(q_int(fx->st, "PRAGMA synchronous"), 1); /* NORMAL */
    assert_int_equal(q_int(fx->st, "PRAGMA busy_timeout"), 5000);
    assert_int_equal(stat(fx->path, &sb), 0);
    assert_int_equal(sb.st_mode & 077, 0); /* holds client environments: owner only */

    /* Every table is STRICT. */
    assert_int_equal(q_int(fx->st, "SELECT COUNT(*) FROM pragma_table_list "
                                   "WHERE schema = 'main' AND name NOT LIKE 'sqlite_%' "
                                   "AND strict = 0"),
                     0);
    assert_int_equal(q_int(fx->st, "SELECT COUNT(*) FROM pragma_table_list WHERE schema = 'main' "
                                   "AND name IN ('tasks', 'task_dependencies', "
                                   "'task_checkpoints', 'schema_migrations') AND strict = 1"),
                     4);
}

static void
test_migrations_idempotent(void **state)
{
    struct fx *fx = *state;
    /* Every migration applied once, recorded once. */
    int latest = store_schema_version(fx->st);
    assert_true(latest >= 2);
    assert_int_equal(q_int(fx->st, "SELECT COUNT(*) FROM schema_migrations"), latest);
    char desc[128];
    q_text(fx->st, "SELECT description FROM schema_migrations WHERE version = 1", desc,
           sizeof desc);
    assert_true(strlen(desc) > 0);
    assert_true(q_int(fx->st, "SELECT MIN(applied_at) FROM schema_migrations") > 0);

    char id[TASK_ID_LEN + 1];
    put_task(fx->st, "survives reopen", 1, 100, TASK_QUEUED, id);
    fx_reopen(fx);
    fx_reopen(fx);
    assert_int_equal(store_schema_version(fx->st), latest);
    assert_int_equal(q_int(fx->st, "SELECT COUNT(*) FROM schema_migrations"), latest);
    assert_true(store_task_exists(fx->st, id));
}

static void
test_newer_schema_refused(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    assert_int_equal(sqlite3_exec(store_db(fx->st),
                                  "INSERT INTO schema_migrations VALUES (99, 1, 'future')", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    store_close(fx->st);
    fx->st = store_open(fx->path, &e);
    assert_null(fx->st);
    assert_int_equal(e.code, ERR_STORE);
    assert_non_null(strstr(e.msg, "newer"));
    assert_non_null(strstr(e.msg, fx->path));
}

static void
test_open_errors_and_memory(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    char bad[400];
    snprintf(bad, sizeof bad, "%s/no/such/dir/beat.db", fx->dir);
    assert_null(store_open(bad, &e));
    assert_int_equal(e.code, ERR_STORE);
    assert_non_null(strstr(e.msg, "open database"));
    assert_non_null(strstr(e.msg, bad));

    assert_null(store_open(NULL, &e));
    assert_int_equal(e.code, ERR_INVALID);

    /* A file that is not a database. */
    char junk[400];
    snprintf(junk, sizeof junk, "%s/junk.db", fx->dir);
    FILE *f = fopen(junk, "w");
    assert_non_null(f);
    for (int i = 0; i < 200; i++) {
        fputs("this is not an SQLite database, just text. ", f);
    }
    fclose(f);
    assert_null(store_open(junk, &e));
    assert_int_equal(e.code, ERR_STORE);
    assert_non_null(strstr(e.msg, "not a database"));
    unlink(junk);

    struct store *mem = store_open(":memory:", &e);
    assert_non_null(mem);
    assert_true(store_schema_version(mem) >= 2);
    put_task(mem, "in memory", 0, 1, TASK_QUEUED, NULL);
    int64_t counts[TASK_STATUS_COUNT];
    assert_int_equal(store_task_count_by_status(mem, counts, &e), 0);
    assert_int_equal(counts[TASK_QUEUED], 1);
    store_close(mem);
    store_close(NULL);
}

/* ---- task rows ---- */

/* A prompt of exactly TASK_PROMPT_MAX bytes of mixed 1-4 byte UTF-8. */
static char *
big_prompt(void)
{
    static const char *const pieces[] = { "a", "é", "€", "𝄞", "\n", "日本" };
    char *p = malloc(TASK_PROMPT_MAX + 1);
    size_t n = 0;
    for (size_t i = 0;; i++) {
        const char *s = pieces[i % 6];
        size_t l = strlen(s);
        if (n + l > TASK_PROMPT_MAX) {
            break;
        }
        memcpy(p + n, s, l);
        n += l;
    }
    while (n < TASK_PROMPT_MAX) {
        p[n++] = 'z';
    }
    p[n] = '\0';
    return p;
}

static void
fill_all(struct task *t, int k)
{
    char buf[64];
#define S(field, name)                                 \
    do {                                               \
        free(t->field);                                \
        snprintf(buf, sizeof buf, "%s-%d-ü", name, k); \
        t->field = strdup(buf);                        \
    } while (0)
    S(agent, "agent");
    S(working_directory, "/work dir");
    S(model, "model");
    S(system_prompt, "system 'quoted' \"prompt\"");
    S(parent_task_id, "parent");
    S(retry_of, "retry-of");
    S(continue_from, "continue");
    S(resume_mode, "session");
    S(resume_session, "resume-session");
    S(reason, "reason");
    S(session_id, "session-id");
    S(result_text, "result");
    S(api_error, "api error");
    S(client_cwd, "/client/cwd");
#undef S
    t->status = TASK_RUNNING;
    t->priority = k % 3;
    t->timeout_ms = 1000 + k;
    t->max_output_buffer = 5000000000LL + k; /* > 32 bits */
    t->retry_count = 2 + k;
    t->updated_at = 1700000000123LL + k;
    t->started_at = 1700000000200LL + k;
    t->completed_at = 1700000000300LL + k;
    t->pid = 4242 + k;
    t->pgid = 4243 + k;
    t->proc_start = 987654321012LL + k;
    t->supervisor_pid = 4240 + k;
    t->supervisor_start = 987654320000LL + k;
    t->end = TASK_END_SIGNALED;
    t->has_exit_code = true;
    t->exit_code = k == 0 ? 0 : 137; /* exit code 0 must survive (it is not "unset") */
    t->signal = 9;
    t->input_tokens = 0; /* zero is a known count, not unknown */
    t->output_tokens = 123456789012LL + k;
    t->cost_usd = 0.0;
    t->stdout_bytes = 1LL << 40;
    t->stderr_bytes = 17 + k;
    t->output_truncated = true;
    json_decref(t->env);
    t->env = json_pack("{s:s, s:s, s:s}", "PATH", "/usr/bin:/bin", "LANG", "de_DE.UTF-8", "GRÜSSE",
                       "€ \"quoted\" \\ \n");
}

static void
assert_same_task(const struct task *a, const struct task *b)
{
    assert_string_equal(a->id, b->id);
#define STR(f)                               \
    do {                                     \
        if (a->f == NULL || b->f == NULL) {  \
            assert_ptr_equal(a->f, b->f);    \
        } else {                             \
            assert_string_equal(a->f, b->f); \
        }                                    \
    } while (0)
    STR(prompt);
    STR(agent);
    STR(working_directory);
    STR(model);
    STR(system_prompt);
    STR(parent_task_id);
    STR(retry_of);
    STR(continue_from);
    STR(resume_mode);
    STR(resume_session);
    STR(reason);
    STR(session_id);
    STR(result_text);
    STR(api_error);
    STR(client_cwd);
#undef STR
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->priority, b->priority);
    assert_int_equal(a->timeout_ms, b->timeout_ms);
    assert_int_equal(a->max_output_buffer, b->max_output_buffer);
    assert_int_equal(a->retry_count, b->retry_count);
    assert_int_equal(a->created_at, b->created_at);
    assert_int_equal(a->updated_at, b->updated_at);
    assert_int_equal(a->started_at, b->started_at);
    assert_int_equal(a->completed_at, b->completed_at);
    assert_int_equal(a->queue_seq, b->queue_seq);
    assert_int_equal(a->pid, b->pid);
    assert_int_equal(a->pgid, b->pgid);
    assert_int_equal(a->proc_start, b->proc_start);
    assert_int_equal(a->supervisor_pid, b->supervisor_pid);
    assert_int_equal(a->supervisor_start, b->supervisor_start);
    assert_int_equal(a->end, b->end);
    assert_int_equal(a->has_exit_code, b->has_exit_code);
    assert_int_equal(a->exit_code, b->exit_code);
    assert_int_equal(a->signal, b->signal);
    assert_int_equal(a->input_tokens, b->input_tokens);
    assert_int_equal(a->output_tokens, b->output_tokens);
    assert_true(a->cost_usd == b->cost_usd);
    assert_int_equal(a->stdout_bytes, b->stdout_bytes);
    assert_int_equal(a->stderr_bytes, b->stderr_bytes);
    assert_int_equal(a->output_truncated, b->output_truncated);
    if (a->env == NULL || b->env == NULL) {
        assert_ptr_equal(a->env, b->env);
    } else {
        assert_true(json_equal(a->env, b->env));
    }
}

static void
test_roundtrip_every_field(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    struct task *t = task_new();
    task_id_new(t->id);
    t->prompt = big_prompt();
    t->created_at = 1700000000000LL;
    fill_all(t, 0);
    t->status = TASK_QUEUED;
    t->queue_seq = 777; /* ignored: the store assigns it */
    assert_int_equal(store_task_insert(fx->st, t, &e), 0);
    assert_int_equal(t->queue_seq, 1);

    struct task *l = store_task_load(fx->st, t->id, &e);
    assert_non_null(l);
    assert_int_equal(strlen(l->prompt), TASK_PROMPT_MAX);
    assert_same_task(t, l);
    task_free(l);

    /* The same after a reopen (nothing lives only in the statement cache). */
    fx_reopen(fx);
    l = store_task_load(fx->st, t->id, &e);
    assert_non_null(l);
    assert_same_task(t, l);
    task_free(l);
    task_free(t);
}

static void
test_roundtrip_nulls(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    struct task *t = task_new();
    task_id_new(t->id);
    t->prompt = strdup("");
    assert_int_equal(store_task_insert(fx->st, t, &e), 0);
    struct task *l = store_task_load(fx->st, t->id, &e);
    assert_non_null(l);
    assert_same_task(t, l);
    assert_null(l->agent);
    assert_null(l->env);
    assert_false(l->has_exit_code);
    assert_int_equal(l->input_tokens, -1);
    assert_int_equal(l->output_tokens, -1);
    assert_true(l->cost_usd < 0);
    assert_int_equal(l->started_at, 0);
    assert_int_equal(l->pid, 0);
    task_free(l);

    /* Unset values are SQL NULL in the file, so queries like "completed_at IS NULL" work. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT (started_at IS NULL) + (completed_at IS NULL) + (pid IS NULL) + "
             "(exit_code IS NULL) + (input_tokens IS NULL) + (cost_usd IS NULL) + "
             "(env IS NULL) + (agent IS NULL) FROM tasks WHERE id = '%s'",
             t->id);
    assert_int_equal(q_int(fx->st, sql), 8);
    task_free(t);
}

static void
test_insert_errors(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    struct task *t = mk_task("p", 1, 10);
    assert_int_equal(store_task_insert(fx->st, t, &e), 0);
    /* Same id again: a database error naming what was being done. */
    assert_int_equal(store_task_insert(fx->st, t, &e), -1);
    assert_int_equal(e.code, ERR_STORE);
    char want[128];
    snprintf(want, sizeof want, "insert task %s: ", t->id);
    assert_true(str_has_prefix(e.msg, want));
    assert_non_null(strstr(e.msg, "UNIQUE"));

    struct task *np = mk_task("x", 1, 10);
    free(np->prompt);
    np->prompt = NULL;
    assert_int_equal(store_task_insert(fx->st, np, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    assert_non_null(strstr(e.msg, "prompt"));

    /* Out-of-range values are refused by the schema, not stored. */
    struct task *bp = mk_task("x", 7, 10);
    assert_int_equal(store_task_insert(fx->st, bp, &e), -1);
    assert_int_equal(e.code, ERR_STORE);
    assert_false(store_task_exists(fx->st, bp->id));

    assert_null(store_task_load(fx->st, "task-00000000-0000-4000-8000-000000000000", &e));
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_string_equal(e.msg, "task task-00000000-0000-4000-8000-000000000000 does not exist");
    task_free(t);
    task_free(np);
    task_free(bp);
}

static void
test_update_every_field(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    struct task *t = mk_task("first prompt", 2, 500);
    assert_int_equal(store_task_insert(fx->st, t, &e), 0);
    free(t->prompt);
    t->prompt = strdup("second prompt ✓");
    fill_all(t, 1);
    assert_int_equal(store_task_update(fx->st, t, &e), 0);
    struct task *l = store_task_load(fx->st, t->id, &e);
    assert_non_null(l);
    assert_same_task(t, l);
    task_free(l);

    /* Clearing fields writes NULLs back. */
    struct task *c = task_new();
    memcpy(c->id, t->id, sizeof c->id);
    c->prompt = strdup("third");
    c->status = TASK_RUNNING;
    c->created_at = t->created_at;
    c->queue_seq = t->queue_seq;
    assert_int_equal(store_task_update(fx->st, c, &e), 0);
    l = store_task_load(fx->st, t->id, &e);
    assert_non_null(l);
    assert_same_task(c, l);
    task_free(l);

    /* created_at and queue_seq are not changed by an update. */
    c->created_at = 1;
    c->queue_seq = 99;
    assert_int_equal(store_task_update(fx->st, c, &e), 0);
    l = store_task_load(fx->st, t->id, &e);
    assert_int_equal(l->created_at, 500);
    assert_int_equal(l->queue_seq, t->queue_seq);
    task_free(l);
    task_free(c);
    task_free(t);
}

static void
test_update_guard(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    struct task *t = mk_task("guarded", 1, 10);
    assert_int_equal(store_task_insert(fx->st, t, &e), 0);
    assert_int_equal(task_transition(t, TASK_RUNNING, 20, &e), 0);
    assert_int_equal(store_task_update(fx->st, t, &e), 0);
    assert_int_equal(task_transition(t, TASK_COMPLETED, 30, &e), 0);
    assert_int_equal(store_task_update(fx->st, t, &e), 0);

    /* A late event must not overwrite the terminal state... */
    t->status = TASK_FAILED;
    assert_int_equal(store_task_update(fx->st, t, &e), -1);
    assert_int_equal(e.code, ERR_STATE);
    char want[160];
    snprintf(want, sizeof want, "task %s is already completed and cannot become failed", t->id);
    assert_string_equal(e.msg, want);
    t->status = TASK_RUNNING;
    assert_int_equal(store_task_update(fx->st, t, &e), -1);
    assert_int_equal(e.code, ERR_STATE);
    assert_int_equal(stored_status(fx->st, t->id), TASK_COMPLETED);

    /* ...but a terminal row can still be completed with more detail in the same status. */
    t->status = TASK_COMPLETED;
    t->result_text = strdup("late result");
    assert_int_equal(store_task_update(fx->st, t, &e), 0);
    struct task *l = store_task_load(fx->st, t->id, &e);
    assert_string_equal(l->result_text, "late result");
    task_free(l);

    /* Updating a task that does not exist. */
    struct task *ghost = mk_task("ghost", 1, 10);
    assert_int_equal(store_task_update(fx->st, ghost, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    task_free(ghost);
    task_free(t);
}

/* ---- listing and counting ---- */

static void
test_list_order_filter_paging(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    char ids[30][TASK_ID_LEN + 1];
    /* created_at: 0,0,0,1,1,1,... so ties must fall back to insertion order (newest first). */
    for (int i = 0; i < 30; i++) {
        put_task(fx->st, "list", i % 3, 1000 + i / 3, i % 2 ? TASK_COMPLETED : TASK_QUEUED, ids[i]);
    }
    struct task **v = NULL;
    int64_t total = -1;
    struct task_filter f = { .status = -1, .limit = 10, .offset = 0 };
    assert_int_equal(store_task_list(fx->st, &f, &v, &total, &e), 0);
    assert_int_equal(total, 30);
    for (int i = 0; i < 10; i++) {
        assert_non_null(v[i]);
        assert_string_equal(v[i]->id, ids[29 - i]);
        assert_string_equal(v[i]->prompt, "list");
        task_free(v[i]);
    }
    assert_null(v[10]);
    free(v);

    f.offset = 25;
    assert_int_equal(store_task_list(fx->st, &f, &v, &total, &e), 0);
    assert_int_equal(total, 30);
    for (int i = 0; i < 5; i++) {
        assert_string_equal(v[i]->id, ids[4 - i]);
        task_free(v[i]);
    }
    assert_null(v[5]);
    free(v);

    f.offset = 30;
    assert_int_equal(store_task_list(fx->st, &f, &v, NULL, &e), 0);
    assert_null(v[0]);
    free(v);

    /* Status filter: the completed ones are the odd indexes. */
    f = (struct task_filter){ .status = TASK_COMPLETED, .limit = 4, .offset = 1 };
    assert_int_equal(store_task_list(fx->st, &f, &v, &total, &e), 0);
    assert_int_equal(total, 15);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(v[i]->id, ids[27 - 2 * i]);
        assert_int_equal(v[i]->status, TASK_COMPLETED);
        task_free(v[i]);
    }
    assert_null(v[4]);
    free(v);

    f = (struct task_filter){ .status = TASK_RUNNING, .limit = 1000, .offset = 0 };
    assert_int_equal(store_task_list(fx->st, &f, &v, &total, &e), 0);
    assert_int_equal(total, 0);
    assert_null(v[0]);
    free(v);

    /* Bad filters name the field. */
    static const struct task_filter bad[] = {
        { .status = -1, .limit = 0, .offset = 0 },  { .status = -1, .limit = 1001, .offset = 0 },
        { .status = -1, .limit = 5, .offset = -1 }, { .status = 6, .limit = 5, .offset = 0 },
        { .status = -2, .limit = 5, .offset = 0 },
    };
    static const char *const field[] = { "limit", "limit", "offset", "status", "status" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = NULL;
        assert_int_equal(store_task_list(fx->st, &bad[i], &v, &total, &e), -1);
        assert_int_equal(e.code, ERR_INVALID);
        assert_true(str_has_prefix(e.msg, field[i]));
        assert_null(v);
    }
}

/* The trigger-kept counters agree with a real count of the rows. */
static void
assert_counts_exact(struct store *st)
{
    struct err e = { 0 };
    int64_t counts[TASK_STATUS_COUNT];
    char sql[128];
    assert_int_equal(store_task_count_by_status(st, counts, &e), 0);
    for (int i = 0; i < TASK_STATUS_COUNT; i++) {
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM tasks WHERE status = '%s'",
                 task_status_name((enum task_status)i));
        assert_int_equal(counts[i], q_int(st, sql));
    }
}

static void
test_count_by_status(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    int64_t counts[TASK_STATUS_COUNT];
    assert_int_equal(store_task_count_by_status(fx->st, counts, &e), 0);
    for (int i = 0; i < TASK_STATUS_COUNT; i++) {
        assert_int_equal(counts[i], 0);
    }
    static const int want[TASK_STATUS_COUNT] = { 5, 1, 2, 7, 3, 4 };
    for (int s = 0; s < TASK_STATUS_COUNT; s++) {
        for (int i = 0; i < want[s]; i++) {
            put_task(fx->st, "c", 1, 10 + i, (enum task_status)s, NULL);
        }
    }
    assert_int_equal(store_task_count_by_status(fx->st, counts, &e), 0);
    for (int i = 0; i < TASK_STATUS_COUNT; i++) {
        assert_int_equal(counts[i], want[i]);
    }
    assert_counts_exact(fx->st);

    /* The counters follow status changes, same-status updates, rollbacks and deletes. */
    char id[TASK_ID_LEN + 1];
    put_task(fx->st, "moves", 1, 10, TASK_QUEUED, id);
    struct task *t = store_task_load(fx->st, id, &e);
    assert_int_equal(task_transition(t, TASK_RUNNING, 11, &e), 0);
    assert_int_equal(store_task_update(fx->st, t, &e), 0);
    t->stdout_bytes = 5;
    assert_int_equal(store_task_update(fx->st, t, &e), 0);
    assert_counts_exact(fx->st);
    assert_int_equal(store_begin(fx->st, &e), 0);
    assert_int_equal(task_transition(t, TASK_COMPLETED, 12, &e), 0);
    assert_int_equal(store_task_update(fx->st, t, &e), 0);
    put_task(fx->st, "rolled back", 1, 10, TASK_FAILED, NULL);
    store_rollback(fx->st);
    assert_counts_exact(fx->st);
    assert_int_equal(store_task_count_by_status(fx->st, counts, &e), 0);
    assert_int_equal(counts[TASK_RUNNING], want[TASK_RUNNING] + 1);
    assert_int_equal(counts[TASK_FAILED], want[TASK_FAILED]);
    assert_int_equal(store_task_update(fx->st, t, &e), 0);
    char **removed = NULL;
    assert_int_equal(store_task_prune(fx->st, 1000, &removed, &e), 0);
    assert_int_equal(strv_len(removed), 15);
    strv_free(removed);
    assert_counts_exact(fx->st);
    assert_int_equal(store_task_count_by_status(fx->st, counts, &e), 0);
    assert_int_equal(counts[TASK_COMPLETED] + counts[TASK_FAILED] + counts[TASK_CANCELLED], 0);
    task_free(t);
}

static void
test_ids_by_status_queue_order(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    /* Submitted in this order (same created_at, so only queue_seq orders within a priority). */
    static const int prio[] = { 2, 1, 0, 2, 0, 1, 2, 0 };
    char ids[8][TASK_ID_LEN + 1];
    for (int i = 0; i < 8; i++) {
        put_task(fx->st, "q", prio[i], 50, TASK_QUEUED, ids[i]);
    }
    char done1[TASK_ID_LEN + 1], done2[TASK_ID_LEN + 1];
    put_task(fx->st, "d", 0, 70, TASK_COMPLETED, done2);
    put_task(fx->st, "d", 2, 60, TASK_COMPLETED, done1);

    const char *want[] = { ids[2], ids[4], ids[7], ids[1], ids[5], ids[0], ids[3], ids[6] };
    char **got = NULL;
    assert_int_equal(store_task_ids_by_status(fx->st, TASK_QUEUED, &got, &e), 0);
    assert_strv(got, want, 8);
    strv_free(got);

    /* Stable across a restart, and new work goes behind older work of its priority. */
    fx_reopen(fx);
    char late[TASK_ID_LEN + 1];
    put_task(fx->st, "late", 0, 10 /* an earlier clock must not matter */, TASK_QUEUED, late);
    const char *want2[] = { ids[2], ids[4], ids[7], late, ids[1], ids[5], ids[0], ids[3], ids[6] };
    assert_int_equal(store_task_ids_by_status(fx->st, TASK_QUEUED, &got, &e), 0);
    assert_strv(got, want2, 9);
    strv_free(got);

    /* Other statuses come oldest first. */
    const char *want3[] = { done1, done2 };
    assert_int_equal(store_task_ids_by_status(fx->st, TASK_COMPLETED, &got, &e), 0);
    assert_strv(got, want3, 2);
    strv_free(got);

    assert_int_equal(store_task_ids_by_status(fx->st, TASK_RUNNING, &got, &e), 0);
    assert_strv(got, NULL, 0);
    strv_free(got);
}

/* ---- dependencies ---- */

static void
test_deps_basic(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    char a[TASK_ID_LEN + 1], b[TASK_ID_LEN + 1], c[TASK_ID_LEN + 1], d[TASK_ID_LEN + 1];
    put_task(fx->st, "a", 1, 1, TASK_QUEUED, a);
    put_task(fx->st, "b", 1, 2, TASK_QUEUED, b);
    put_task(fx->st, "c", 1, 3, TASK_QUEUED, c);
    put_task(fx->st, "d", 1, 4, TASK_QUEUED, d);
    char *c_deps[] = { a, b, NULL };
    char *d_deps[] = { a, NULL };
    assert_int_equal(store_dep_add(fx->st, c, c_deps, 100, &e), 0);
    assert_int_equal(store_dep_add(fx->st, d, d_deps, 100, &e), 0);
    /* Adding the same edge again is harmless. */
    assert_int_equal(store_dep_add(fx->st, d, d_deps, 101, &e), 0);
    assert_int_equal(q_int(fx->st, "SELECT COUNT(*) FROM task_dependencies"), 3);
    assert_int_equal(q_int(fx->st,
                           "SELECT COUNT(*) FROM task_dependencies WHERE resolution = 'pending' "
                           "AND resolved_at IS NULL AND created_at = 100"),
                     3);

    char **v = NULL;
    assert_int_equal(store_dep_list(fx->st, c, &v, &e), 0);
    assert_strv(v, (const char *[]){ a, b }, 2);
    strv_free(v);
    assert_int_equal(store_dep_dependents(fx->st, a, &v, &e), 0);
    assert_strv(v, (const char *[]){ c, d }, 2);
    strv_free(v);
    assert_int_equal(store_dep_dependents(fx->st, c, &v, &e), 0);
    assert_strv(v, NULL, 0);
    strv_free(v);
    assert_int_equal(store_dep_unmet(fx->st, c, &v, &e), 0);
    assert_strv(v, (const char *[]){ a, b }, 2);
    strv_free(v);

    /* a completes: it is met for c and d, and its edges are resolved. */
    struct task *ta = store_task_load(fx->st, a, &e);
    assert_int_equal(task_transition(ta, TASK_RUNNING, 200, &e), 0);
    assert_int_equal(task_transition(ta, TASK_COMPLETED, 300, &e), 0);
    assert_int_equal(store_task_update(fx->st, ta, &e), 0);
    assert_int_equal(store_dep_resolve(fx->st, a, "completed", 300, &e), 0);
    task_free(ta);
    assert_int_equal(store_dep_unmet(fx->st, c, &v, &e), 0);
    assert_strv(v, (const char *[]){ b }, 1);
    strv_free(v);
    assert_int_equal(store_dep_unmet(fx->st, d, &v, &e), 0);
    assert_strv(v, NULL, 0);
    strv_free(v);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM task_dependencies WHERE depends_on = '%s' "
             "AND resolution = 'completed' AND resolved_at = 300",
             a);
    assert_int_equal(q_int(fx->st, sql), 2);

    /* b fails: still unmet (only completed counts as met). */
    struct task *tb = store_task_load(fx->st, b, &e);
    assert_int_equal(task_transition(tb, TASK_FAILED, 400, &e), 0);
    assert_int_equal(store_task_update(fx->st, tb, &e), 0);
    assert_int_equal(store_dep_resolve(fx->st, b, "failed", 400, &e), 0);
    task_free(tb);
    assert_int_equal(store_dep_unmet(fx->st, c, &v, &e), 0);
    assert_strv(v, (const char *[]){ b }, 1);
    strv_free(v);

    /* A resolution is a final status. */
    assert_int_equal(store_dep_resolve(fx->st, b, "running", 400, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    assert_true(str_has_prefix(e.msg, "resolution"));
    assert_int_equal(store_dep_resolve(fx->st, b, NULL, 400, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
}

/* Completes a stored task (queued -> running -> completed) and resolves its edges. */
static void
complete_task(struct store *st, const char *id, int64_t at)
{
    struct err e = { 0 };
    struct task *t = store_task_load(st, id, &e);
    assert_non_null(t);
    assert_int_equal(task_transition(t, TASK_RUNNING, at, &e), 0);
    assert_int_equal(task_transition(t, TASK_COMPLETED, at, &e), 0);
    assert_int_equal(store_task_update(st, t, &e), 0);
    assert_int_equal(store_dep_resolve(st, id, "completed", at, &e), 0);
    task_free(t);
}

/* Ids of a NULL-terminated task array, in order, then frees it. */
static size_t
take_ids(struct task **v, char ids[][TASK_ID_LEN + 1], size_t max)
{
    size_t n = 0;
    for (; v && v[n]; n++) {
        assert_true(n < max);
        assert_int_equal(v[n]->status, TASK_QUEUED);
        memcpy(ids[n], v[n]->id, TASK_ID_LEN + 1);
        task_free(v[n]);
    }
    free(v);
    return n;
}

static void
test_dep_unblock_batches(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    char a[TASK_ID_LEN + 1], b[TASK_ID_LEN + 1], d[6][TASK_ID_LEN + 1], got[8][TASK_ID_LEN + 1];
    const int prio[6] = { 2, 1, 2, 0, 1, 2 };
    put_task(fx->st, "a", 1, 1, TASK_QUEUED, a);
    put_task(fx->st, "b", 1, 2, TASK_QUEUED, b);
    for (int i = 0; i < 6; i++) {
        put_task(fx->st, "dependent", prio[i], 10 + i, TASK_BLOCKED, d[i]);
        char *deps[] = { a, i == 5 ? b : NULL, NULL };
        assert_int_equal(store_dep_add(fx->st, d[i], deps, 10, &e), 0);
    }
    /* Nothing is released before a completes. */
    struct task **v = NULL;
    assert_int_equal(store_dep_unblock(fx->st, a, 20, 2, &v, &e), 0);
    assert_null(v);

    complete_task(fx->st, a, 30);
    /* Batches come highest priority first, then oldest: d3 (P0), d1, d4 (P1), d0, d2 (P2). */
    assert_int_equal(store_dep_unblock(fx->st, a, 40, 2, &v, &e), 0);
    assert_int_equal(take_ids(v, got, 8), 2);
    assert_string_equal(got[0], d[3]);
    assert_string_equal(got[1], d[1]);
    assert_int_equal(stored_status(fx->st, d[3]), TASK_QUEUED);
    assert_int_equal(stored_status(fx->st, d[4]), TASK_BLOCKED);
    assert_int_equal(store_dep_unblock(fx->st, a, 41, 2, &v, &e), 0);
    assert_int_equal(take_ids(v, got, 8), 2);
    assert_string_equal(got[0], d[4]);
    assert_string_equal(got[1], d[0]);
    /* A short batch means none is left: d5 still waits for b. */
    assert_int_equal(store_dep_unblock(fx->st, a, 42, 2, &v, &e), 0);
    assert_int_equal(take_ids(v, got, 8), 1);
    assert_string_equal(got[0], d[2]);
    assert_int_equal(stored_status(fx->st, d[5]), TASK_BLOCKED);
    assert_int_equal(q_int(fx->st, "SELECT n FROM task_status_counts WHERE status = 'blocked'"), 1);
    assert_int_equal(q_int(fx->st, "SELECT n FROM task_status_counts WHERE status = 'queued'"), 6);

    /* b completes: d5 is released with no limit (0), and only once. */
    complete_task(fx->st, b, 50);
    assert_int_equal(store_dep_unblock(fx->st, b, 60, 0, &v, &e), 0);
    assert_int_equal(take_ids(v, got, 8), 1);
    assert_string_equal(got[0], d[5]);
    assert_int_equal(store_dep_unblock(fx->st, b, 61, 0, &v, &e), 0);
    assert_null(v);
}

static void
test_dep_unknown_rolls_back(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    char a[TASK_ID_LEN + 1], t[TASK_ID_LEN + 1];
    char ghost[TASK_ID_LEN + 1];
    task_id_new(ghost);
    put_task(fx->st, "a", 1, 1, TASK_QUEUED, a);

    /* Inside the caller's transaction: the task insert goes too. */
    assert_int_equal(store_begin(fx->st, &e), 0);
    put_task(fx->st, "t", 1, 2, TASK_QUEUED, t);
    char *deps[] = { a, ghost, NULL };
    assert_int_equal(store_dep_add(fx->st, t, deps, 5, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    char want[128];
    snprintf(want, sizeof want, "dependsOn: task %s does not exist", ghost);
    assert_string_equal(e.msg, want);
    store_rollback(fx->st);
    assert_false(store_task_exists(fx->st, t));
    assert_true(store_task_exists(fx->st, a));
    assert_int_equal(q_int(fx->st, "SELECT COUNT(*) FROM task_dependencies"), 0);

    /* On its own: none of the edges are written, not even the valid first one. */
    put_task(fx->st, "t", 1, 2, TASK_QUEUED, t);
    assert_int_equal(store_dep_add(fx->st, t, deps, 5, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_int_equal(q_int(fx->st, "SELECT COUNT(*) FROM task_dependencies"), 0);
    assert_true(store_task_exists(fx->st, t));

    /* A task cannot depend on itself; the dependent must exist. */
    char *self[] = { t, NULL };
    assert_int_equal(store_dep_add(fx->st, t, self, 5, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    assert_true(str_has_prefix(e.msg, "dependsOn"));
    char *ok[] = { a, NULL };
    assert_int_equal(store_dep_add(fx->st, ghost, ok, 5, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_int_equal(q_int(fx->st, "SELECT COUNT(*) FROM task_dependencies"), 0);

    /* Too many. */
    char *many[TASK_DEPS_MAX + 2];
    for (int i = 0; i < TASK_DEPS_MAX + 1; i++) {
        many[i] = a;
    }
    many[TASK_DEPS_MAX + 1] = NULL;
    assert_int_equal(store_dep_add(fx->st, t, many, 5, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);

    /* No deps is not an error. */
    char *none[] = { NULL };
    assert_int_equal(store_dep_add(fx->st, t, none, 5, &e), 0);
    assert_int_equal(store_dep_add(fx->st, t, NULL, 5, &e), 0);
}

static void
test_dep_on_terminal_resolved_at_once(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    char done[TASK_ID_LEN + 1], failed[TASK_ID_LEN + 1], live[TASK_ID_LEN + 1], t[TASK_ID_LEN + 1];
    put_task(fx->st, "done", 1, 1, TASK_COMPLETED, done);
    put_task(fx->st, "failed", 1, 1, TASK_FAILED, failed);
    put_task(fx->st, "live", 1, 1, TASK_RUNNING, live);
    put_task(fx->st, "t", 1, 2, TASK_QUEUED, t);
    char *deps[] = { done, failed, live, NULL };
    assert_int_equal(store_dep_add(fx->st, t, deps, 777, &e), 0);
    char sql[256], res[32];
    const char *ids[] = { done, failed, live };
    const char *want[] = { "completed", "failed", "pending" };
    for (int i = 0; i < 3; i++) {
        snprintf(sql, sizeof sql,
                 "SELECT resolution FROM task_dependencies WHERE depends_on = '%s'", ids[i]);
        q_text(fx->st, sql, res, sizeof res);
        assert_string_equal(res, want[i]);
        snprintf(sql, sizeof sql,
                 "SELECT COALESCE(resolved_at, -1) FROM task_dependencies WHERE depends_on = '%s'",
                 ids[i]);
        assert_int_equal(q_int(fx->st, sql), i < 2 ? 777 : -1);
    }
    char **v = NULL;
    assert_int_equal(store_dep_unmet(fx->st, t, &v, &e), 0);
    assert_strv(v, (const char *[]){ failed, live }, 2);
    strv_free(v);
}

struct pairs {
    int n;
    char task[8][TASK_ID_LEN + 1];
    char dep[8][TASK_ID_LEN + 1];
    struct store *st;
};

static int
collect_pair(void *arg, const char *task_id, const char *dep_id)
{
    struct pairs *p = arg;
    if (p->n >= 8) {
        return 1;
    }
    /* Calling back into the store from the callback is allowed. */
    assert_true(store_task_exists(p->st, task_id));
    str_copy(p->task[p->n], task_id, sizeof p->task[0]);
    str_copy(p->dep[p->n], dep_id, sizeof p->dep[0]);
    p->n++;
    return 0;
}

static int
stop_at_first(void *arg, const char *task_id, const char *dep_id)
{
    (void)task_id;
    (void)dep_id;
    (*(int *)arg)++;
    return 1;
}

static void
test_dep_each_open(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    char q1[TASK_ID_LEN + 1], q2[TASK_ID_LEN + 1], r[TASK_ID_LEN + 1], b[TASK_ID_LEN + 1],
        done[TASK_ID_LEN + 1], x[TASK_ID_LEN + 1];
    put_task(fx->st, "q1", 1, 1, TASK_QUEUED, q1);
    put_task(fx->st, "q2", 1, 1, TASK_QUEUED, q2);
    put_task(fx->st, "r", 1, 1, TASK_RUNNING, r);
    put_task(fx->st, "b", 1, 1, TASK_BLOCKED, b);
    put_task(fx->st, "done", 1, 1, TASK_COMPLETED, done);
    put_task(fx->st, "x", 1, 1, TASK_CANCELLED, x);
    char *b_deps[] = { q1, r, done, NULL }; /* two open edges, one to a terminal task */
    char *x_deps[] = { q2, NULL };          /* from a terminal task: not open */
    char *q2_deps[] = { q1, NULL };         /* open */
    assert_int_equal(store_dep_add(fx->st, b, b_deps, 1, &e), 0);
    assert_int_equal(store_dep_add(fx->st, x, x_deps, 1, &e), 0);
    assert_int_equal(store_dep_add(fx->st, q2, q2_deps, 1, &e), 0);

    struct pairs p = { .st = fx->st };
    assert_int_equal(store_dep_each_open(fx->st, collect_pair, &p, &e), 0);
    assert_int_equal(p.n, 3);
    int seen = 0;
    for (int i = 0; i < p.n; i++) {
        if (strcmp(p.task[i], b) == 0 && strcmp(p.dep[i], q1) == 0) {
            seen |= 1;
        } else if (strcmp(p.task[i], b) == 0 && strcmp(p.dep[i], r) == 0) {
            seen |= 2;
        } else if (strcmp(p.task[i], q2) == 0 && strcmp(p.dep[i], q1) == 0) {
            seen |= 4;
        } else {
            fail_msg("unexpected open edge %s -> %s", p.task[i], p.dep[i]);
        }
    }
    assert_int_equal(seen, 7);

    int calls = 0;
    assert_int_equal(store_dep_each_open(fx->st, stop_at_first, &calls, &e), 0);
    assert_int_equal(calls, 1);
}

/* ---- checkpoints ---- */

static void
test_checkpoints(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    char t[TASK_ID_LEN + 1];
    put_task(fx->st, "t", 1, 1, TASK_FAILED, t);

    assert_null(store_checkpoint_load(fx->st, t, &e));
    assert_int_equal(e.code, ERR_NOTFOUND);

    struct checkpoint c1 = { .status = "failed",
                             .reason = "exit 1",
                             .has_exit_code = true,
                             .exit_code = 0,
                             .output_tail = "out\nlines ✓",
                             .created_at = 10 };
    str_copy(c1.task_id, t, sizeof c1.task_id);
    assert_int_equal(store_checkpoint_save(fx->st, &c1, &e), 0);
    struct checkpoint *l = store_checkpoint_load(fx->st, t, &e);
    assert_non_null(l);
    assert_string_equal(l->task_id, t);
    assert_string_equal(l->status, "failed");
    assert_string_equal(l->reason, "exit 1");
    assert_true(l->has_exit_code);
    assert_int_equal(l->exit_code, 0);
    assert_string_equal(l->output_tail, "out\nlines ✓");
    assert_null(l->error_tail);
    assert_null(l->git_changed);
    assert_null(l->git_branch);
    assert_int_equal(l->created_at, 10);
    checkpoint_free(l);

    /* A later checkpoint is the one loaded, even with the same created_at. */
    struct checkpoint c2 = { .status = "completed",
                             .error_tail = "err",
                             .result_text = "r",
                             .session_id = "s",
                             .git_branch = "main",
                             .git_commit = "abc123",
                             .created_at = 10 };
    str_copy(c2.task_id, t, sizeof c2.task_id);
    c2.git_changed = json_pack("[s,s]", "src/a.c", "docs/ü.md");
    assert_int_equal(store_checkpoint_save(fx->st, &c2, &e), 0);
    l = store_checkpoint_load(fx->st, t, &e);
    assert_non_null(l);
    assert_string_equal(l->status, "completed");
    assert_false(l->has_exit_code);
    assert_null(l->reason);
    assert_string_equal(l->error_tail, "err");
    assert_string_equal(l->result_text, "r");
    assert_string_equal(l->session_id, "s");
    assert_string_equal(l->git_branch, "main");
    assert_string_equal(l->git_commit, "abc123");
    assert_true(json_equal(l->git_changed, c2.git_changed));
    checkpoint_free(l);
    checkpoint_free(NULL);

    /* Refusals. */
    c2.status = "running";
    assert_int_equal(store_checkpoint_save(fx->st, &c2, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    c2.status = "completed";
    json_array_append_new(c2.git_changed, json_integer(3));
    assert_int_equal(store_checkpoint_save(fx->st, &c2, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    json_array_clear(c2.git_changed);
    for (int i = 0; i < 101; i++) {
        json_array_append_new(c2.git_changed, json_string("f"));
    }
    assert_int_equal(store_checkpoint_save(fx->st, &c2, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    json_decref(c2.git_changed);
    c2.git_changed = NULL;
    task_id_new(c2.task_id);
    assert_int_equal(store_checkpoint_save(fx->st, &c2, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_int_equal(q_int(fx->st, "SELECT COUNT(*) FROM task_checkpoints"), 2);
}

/* ---- pruning ---- */

static void
test_prune(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    char old_with_live[TASK_ID_LEN + 1], waiting[TASK_ID_LEN + 1], old_alone[TASK_ID_LEN + 1],
        recent[TASK_ID_LEN + 1], old_dep[TASK_ID_LEN + 1], old_dependent[TASK_ID_LEN + 1],
        queued_old[TASK_ID_LEN + 1];
    put_task(fx->st, "old, a live task waits on it", 1, 100, TASK_COMPLETED, old_with_live);
    put_task(fx->st, "waiting", 1, 100, TASK_BLOCKED, waiting);
    put_task(fx->st, "old alone", 1, 100, TASK_FAILED, old_alone);
    put_task(fx->st, "recent", 1, 5000, TASK_COMPLETED, recent);
    put_task(fx->st, "old dep of a finished task", 1, 100, TASK_COMPLETED, old_dep);
    put_task(fx->st, "old finished dependent", 1, 200, TASK_CANCELLED, old_dependent);
    put_task(fx->st, "old but never ran", 1, 100, TASK_QUEUED, queued_old);
    char *w_deps[] = { old_with_live, NULL };
    char *d_deps[] = { old_dep, NULL };
    assert_int_equal(store_dep_add(fx->st, waiting, w_deps, 1, &e), 0);
    assert_int_equal(store_dep_add(fx->st, old_dependent, d_deps, 1, &e), 0);
    struct checkpoint c = { .status = "failed", .created_at = 100 };
    str_copy(c.task_id, old_alone, sizeof c.task_id);
    assert_int_equal(store_checkpoint_save(fx->st, &c, &e), 0);

    char **removed = NULL;
    assert_int_equal(store_task_prune(fx->st, 1000, &removed, &e), 0);
    assert_int_equal(strv_len(removed), 3);
    int seen = 0;
    for (char **r = removed; *r; r++) {
        if (strcmp(*r, old_alone) == 0) {
            seen |= 1;
        } else if (strcmp(*r, old_dep) == 0) {
            seen |= 2;
        } else if (strcmp(*r, old_dependent) == 0) {
            seen |= 4;
        } else {
            fail_msg("pruned %s", *r);
        }
    }
    assert_int_equal(seen, 7);
    strv_free(removed);
    assert_true(store_task_exists(fx->st, old_with_live));
    assert_true(store_task_exists(fx->st, waiting));
    assert_true(store_task_exists(fx->st, recent));
    assert_true(store_task_exists(fx->st, queued_old));
    assert_false(store_task_exists(fx->st, old_alone));
    /* Edges and checkpoints of removed tasks went with them. */
    assert_int_equal(q_int(fx->st, "SELECT COUNT(*) FROM task_dependencies"), 1);
    assert_int_equal(q_int(fx->st, "SELECT COUNT(*) FROM task_checkpoints"), 0);
    assert_int_equal(q_int(fx->st, "PRAGMA foreign_key_check"), -999); /* no rows */
    assert_counts_exact(fx->st);

    /* Nothing more to do. */
    assert_int_equal(store_task_prune(fx->st, 1000, &removed, &e), 0);
    assert_int_equal(strv_len(removed), 0);
    strv_free(removed);
}

/* ---- transactions and errors ---- */

static void
test_nested_transactions(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    char id[TASK_ID_LEN + 1];

    /* Inner commit, outer rollback: nothing stays. */
    assert_int_equal(store_begin(fx->st, &e), 0);
    assert_int_equal(store_begin(fx->st, &e), 0);
    put_task(fx->st, "x", 1, 1, TASK_QUEUED, id);
    assert_int_equal(store_commit(fx->st, &e), 0);
    assert_int_equal(sqlite3_get_autocommit(store_db(fx->st)), 0); /* still open */
    store_rollback(fx->st);
    assert_false(store_task_exists(fx->st, id));
    assert_int_equal(sqlite3_get_autocommit(store_db(fx->st)), 1);

    /* Inner rollback dooms the outer commit. */
    assert_int_equal(store_begin(fx->st, &e), 0);
    assert_int_equal(store_begin(fx->st, &e), 0);
    put_task(fx->st, "y", 1, 1, TASK_QUEUED, id);
    store_rollback(fx->st);
    assert_int_equal(store_commit(fx->st, &e), -1);
    assert_int_equal(e.code, ERR_STORE);
    assert_false(store_task_exists(fx->st, id));
    assert_int_equal(sqlite3_get_autocommit(store_db(fx->st)), 1);

    /* A plain transaction commits, and the store is usable afterwards. */
    assert_int_equal(store_begin(fx->st, &e), 0);
    put_task(fx->st, "z", 1, 1, TASK_QUEUED, id);
    assert_int_equal(store_commit(fx->st, &e), 0);
    assert_true(store_task_exists(fx->st, id));

    /* Unbalanced calls. */
    assert_int_equal(store_commit(fx->st, &e), -1);
    assert_int_equal(e.code, ERR_INTERNAL);
    store_rollback(fx->st); /* no-op */
    assert_true(store_task_exists(fx->st, id));
}

/* Records hook calls as letters: upper case when run, lower case when dropped. */
struct hook_log {
    char seen[16];
    size_t n;
};
struct hook_arg {
    struct hook_log *log;
    char name;
};

static void
hook_ran(void *arg)
{
    struct hook_arg *h = arg;
    h->log->seen[h->log->n++] = h->name;
}

static void
hook_dropped(void *arg)
{
    struct hook_arg *h = arg;
    h->log->seen[h->log->n++] = (char)(h->name - 'A' + 'a');
}

static void
test_after_commit_hooks(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    struct hook_log log = { 0 };
    struct hook_arg a = { &log, 'A' }, b = { &log, 'B' }, c = { &log, 'C' }, d = { &log, 'D' },
                    f = { &log, 'F' };

    /* Outside a transaction: at once. */
    assert_false(store_in_transaction(fx->st));
    store_after_commit(fx->st, hook_ran, hook_dropped, &a);
    assert_string_equal(log.seen, "A");

    /* Nested: only after the outermost commit, in order. */
    assert_int_equal(store_begin(fx->st, &e), 0);
    store_after_commit(fx->st, hook_ran, hook_dropped, &b);
    assert_int_equal(store_begin(fx->st, &e), 0);
    assert_true(store_in_transaction(fx->st));
    store_after_commit(fx->st, hook_ran, hook_dropped, &c);
    assert_int_equal(store_commit(fx->st, &e), 0);
    assert_string_equal(log.seen, "A");
    assert_int_equal(store_commit(fx->st, &e), 0);
    assert_string_equal(log.seen, "ABC");
    assert_false(store_in_transaction(fx->st));

    /* Rolled back: dropped, never run. */
    assert_int_equal(store_begin(fx->st, &e), 0);
    store_after_commit(fx->st, hook_ran, hook_dropped, &d);
    store_rollback(fx->st);
    assert_string_equal(log.seen, "ABCd");

    /* An inner rollback dooms the outer commit: dropped there. */
    assert_int_equal(store_begin(fx->st, &e), 0);
    assert_int_equal(store_begin(fx->st, &e), 0);
    store_after_commit(fx->st, hook_ran, hook_dropped, &f);
    store_rollback(fx->st);
    assert_string_equal(log.seen, "ABCd");
    assert_int_equal(store_commit(fx->st, &e), -1);
    assert_string_equal(log.seen, "ABCdf");

    /* A transaction still open at close: dropped, not leaked. */
    assert_int_equal(store_begin(fx->st, &e), 0);
    store_after_commit(fx->st, hook_ran, hook_dropped, &a);
    fx_reopen(fx);
    assert_string_equal(log.seen, "ABCdfa");
}

static void
test_busy_error_names_the_work(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    sqlite3 *other = NULL;
    assert_int_equal(sqlite3_open(fx->path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_busy_timeout(store_db(fx->st), 1); /* don't wait the real 5 s */
    struct task *t = mk_task("blocked by another writer", 1, 1);
    assert_int_equal(store_task_insert(fx->st, t, &e), -1);
    assert_int_equal(e.code, ERR_STORE);
    char want[128];
    snprintf(want, sizeof want, "insert task %s: database is locked", t->id);
    assert_string_equal(e.msg, want);
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    /* The cached statement recovers. */
    assert_int_equal(store_task_insert(fx->st, t, &e), 0);
    task_free(t);
}

static void
test_disk_full_message(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    int64_t pages = q_int(fx->st, "PRAGMA page_count");
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", (long long)pages + 2);
    q_int(fx->st, sql);
    char *p = big_prompt();
    int rc = 0;
    for (int i = 0; i < 10 && rc == 0; i++) {
        struct task *t = mk_task(p, 1, i);
        rc = store_task_insert(fx->st, t, &e);
        task_free(t);
    }
    free(p);
    assert_int_equal(rc, -1);
    assert_int_equal(e.code, ERR_STORE);
    assert_true(str_has_prefix(e.msg, "insert task task-"));
    assert_non_null(strstr(e.msg, "disk is full"));
}

/* ---- the hot paths use indexes ---- */

static void
assert_plan_indexed(struct store *st, enum store_stmt_id id)
{
    sqlite3_stmt *cached = st->stmts[id];
    assert_non_null(cached);
    char *sql = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sqlite3_sql(cached));
    sqlite3_stmt *plan = NULL;
    assert_int_equal(sqlite3_prepare_v2(store_db(st), sql, -1, &plan, NULL), SQLITE_OK);
    while (sqlite3_step(plan) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(plan, 3);
        if (strstr(detail, "TEMP B-TREE") != NULL ||
            (strncmp(detail, "SCAN tasks", 10) == 0 && strstr(detail, "INDEX") == NULL)) {
            fail_msg("statement %d: plan step \"%s\" for %s", (int)id, detail, sqlite3_sql(cached));
        }
    }
    sqlite3_finalize(plan);
    sqlite3_free(sql);
}

static double
ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void
test_ten_thousand_tasks(void **state)
{
    struct fx *fx = *state;
    struct err e = { 0 };
    assert_int_equal(store_begin(fx->st, &e), 0);
    for (int i = 0; i < 10000; i++) {
        enum task_status s = i % 10 == 0 ? TASK_QUEUED : i % 10 == 1 ? TASK_FAILED : TASK_COMPLETED;
        put_task(fx->st, "a typical prompt of some length, asking an agent to do a thing", i % 3,
                 1700000000000LL + i, s, NULL);
    }
    assert_int_equal(store_commit(fx->st, &e), 0);

    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct task **v = NULL;
    int64_t total = 0, counts[TASK_STATUS_COUNT];
    struct task_filter f = { .status = -1, .limit = 50, .offset = 0 };
    assert_int_equal(store_task_list(fx->st, &f, &v, &total, &e), 0);
    assert_int_equal(store_task_count_by_status(fx->st, counts, &e), 0);
    double ms = ms_since(&t0);
    assert_int_equal(total, 10000);
    assert_int_equal(counts[TASK_QUEUED], 1000);
    assert_int_equal(counts[TASK_FAILED], 1000);
    assert_int_equal(counts[TASK_COMPLETED], 8000);
    for (int i = 0; v[i]; i++) {
        task_free(v[i]);
    }
    free(v);
    print_message("list 50 + count of 10k tasks: %.3f ms\n", ms);
    /* The budget is 5 ms for the whole `beat status`; this generous bound only catches a full
     * scan-and-sort regression, and holds under sanitizers. The plans below are the real check. */
    assert_true(ms < 100.0);

    f.status = TASK_FAILED;
    assert_int_equal(store_task_list(fx->st, &f, &v, &total, &e), 0);
    assert_int_equal(total, 1000);
    for (int i = 0; v[i]; i++) {
        task_free(v[i]);
    }
    free(v);
    char **ids = NULL;
    assert_int_equal(store_task_ids_by_status(fx->st, TASK_QUEUED, &ids, &e), 0);
    assert_int_equal(strv_len(ids), 1000);
    strv_free(ids);
    assert_int_equal(store_task_ids_by_status(fx->st, TASK_FAILED, &ids, &e), 0);
    strv_free(ids);

    assert_plan_indexed(fx->st, STORE_STMT_TASK_LIST_ALL);
    assert_plan_indexed(fx->st, STORE_STMT_TASK_LIST_STATUS);
    assert_plan_indexed(fx->st, STORE_STMT_TASK_COUNT_STATUS);
    assert_plan_indexed(fx->st, STORE_STMT_TASK_COUNT_BY_STATUS);
    assert_plan_indexed(fx->st, STORE_STMT_TASK_IDS_QUEUE);
    assert_plan_indexed(fx->st, STORE_STMT_TASK_IDS_CREATED);
    assert_plan_indexed(fx->st, STORE_STMT_TASK_INSERT);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_pragmas),
        T(test_migrations_idempotent),
        T(test_newer_schema_refused),
        T(test_open_errors_and_memory),
        T(test_roundtrip_every_field),
        T(test_roundtrip_nulls),
        T(test_insert_errors),
        T(test_update_every_field),
        T(test_update_guard),
        T(test_list_order_filter_paging),
        T(test_count_by_status),
        T(test_ids_by_status_queue_order),
        T(test_deps_basic),
        T(test_dep_unblock_batches),
        T(test_dep_unknown_rolls_back),
        T(test_dep_on_terminal_resolved_at_once),
        T(test_dep_each_open),
        T(test_checkpoints),
        T(test_prune),
        T(test_nested_transactions),
        T(test_after_commit_hooks),
        T(test_busy_error_names_the_work),
        T(test_disk_full_message),
        T(test_ten_thousand_tasks),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
