/* Task rows: insert, guarded update, load, list, counts, queue order and pruning. Every field
 * of struct task has a column; this file is the one place that maps between the two. It does
 * not decide which state changes are legal (core/task.c does); it only refuses to overwrite a
 * terminal row, the last line of defence against a late event clobbering a final state. */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store-private.h"
#include "util/str.h"
#include "util/xmalloc.h"

/* Column order shared by the insert, the update and every SELECT: the enum below is the index
 * of each (bind index = column + 1). */
#define STORE_TASK_COLUMNS                                                                      \
    "id, prompt, status, priority, agent, working_directory, timeout_ms, max_output_buffer, "   \
    "model, system_prompt, parent_task_id, retry_of, retry_count, continue_from, resume_mode, " \
    "resume_session, created_at, updated_at, started_at, completed_at, pid, pgid, proc_start, " \
    "supervisor_pid, supervisor_start, end_kind, exit_code, signal, reason, session_id, "       \
    "result_text, api_error, input_tokens, output_tokens, cost_usd, stdout_bytes, "             \
    "stderr_bytes, output_truncated, env, client_cwd, queue_seq"
/* The same for listings, which never show a task's environment: not decoding it keeps a page
 * of 50 queued tasks (whose env is still stored) cheap. */
#define STORE_TASK_LIST_COLUMNS                                                                 \
    "id, prompt, status, priority, agent, working_directory, timeout_ms, max_output_buffer, "   \
    "model, system_prompt, parent_task_id, retry_of, retry_count, continue_from, resume_mode, " \
    "resume_session, created_at, updated_at, started_at, completed_at, pid, pgid, proc_start, " \
    "supervisor_pid, supervisor_start, end_kind, exit_code, signal, reason, session_id, "       \
    "result_text, api_error, input_tokens, output_tokens, cost_usd, stdout_bytes, "             \
    "stderr_bytes, output_truncated, NULL, client_cwd, queue_seq"

enum {
    COL_ID,
    COL_PROMPT,
    COL_STATUS,
    COL_PRIORITY,
    COL_AGENT,
    COL_WORKING_DIRECTORY,
    COL_TIMEOUT_MS,
    COL_MAX_OUTPUT_BUFFER,
    COL_MODEL,
    COL_SYSTEM_PROMPT,
    COL_PARENT_TASK_ID,
    COL_RETRY_OF,
    COL_RETRY_COUNT,
    COL_CONTINUE_FROM,
    COL_RESUME_MODE,
    COL_RESUME_SESSION,
    COL_CREATED_AT,
    COL_UPDATED_AT,
    COL_STARTED_AT,
    COL_COMPLETED_AT,
    COL_PID,
    COL_PGID,
    COL_PROC_START,
    COL_SUPERVISOR_PID,
    COL_SUPERVISOR_START,
    COL_END_KIND,
    COL_EXIT_CODE,
    COL_SIGNAL,
    COL_REASON,
    COL_SESSION_ID,
    COL_RESULT_TEXT,
    COL_API_ERROR,
    COL_INPUT_TOKENS,
    COL_OUTPUT_TOKENS,
    COL_COST_USD,
    COL_STDOUT_BYTES,
    COL_STDERR_BYTES,
    COL_OUTPUT_TRUNCATED,
    COL_ENV,
    COL_CLIENT_CWD,
    COL_QUEUE_SEQ, /* assigned by the insert, never bound */
};

#define STORE_TERMINAL "('completed','failed','cancelled')"

/* queue_seq: one more than the highest in the table (UNIQUE index, so MAX is a seek). Only the
 * newest rows could ever be pruned away and reused, and those are terminal, so FIFO order
 * among tasks still waiting holds across restarts. */
static const char store_sql_task_insert[] =
    "INSERT INTO tasks (" STORE_TASK_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
    "?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, "
    "?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36, ?37, ?38, ?39, ?40, "
    "(SELECT COALESCE(MAX(queue_seq), 0) + 1 FROM tasks)) RETURNING queue_seq";

/* Everything but id, created_at and queue_seq; the WHERE is the terminal guard. */
static const char store_sql_task_update[] =
    "UPDATE tasks SET prompt = ?2, status = ?3, priority = ?4, agent = ?5, "
    "working_directory = ?6, timeout_ms = ?7, max_output_buffer = ?8, model = ?9, "
    "system_prompt = ?10, parent_task_id = ?11, retry_of = ?12, retry_count = ?13, "
    "continue_from = ?14, resume_mode = ?15, resume_session = ?16, updated_at = ?18, "
    "started_at = ?19, completed_at = ?20, pid = ?21, pgid = ?22, proc_start = ?23, "
    "supervisor_pid = ?24, supervisor_start = ?25, end_kind = ?26, exit_code = ?27, "
    "signal = ?28, reason = ?29, session_id = ?30, result_text = ?31, api_error = ?32, "
    "input_tokens = ?33, output_tokens = ?34, cost_usd = ?35, stdout_bytes = ?36, "
    "stderr_bytes = ?37, output_truncated = ?38, env = ?39, client_cwd = ?40 "
    "WHERE id = ?1 AND (status NOT IN " STORE_TERMINAL " OR status = ?3)";

static const char store_sql_task_load[] = "SELECT " STORE_TASK_COLUMNS " FROM tasks WHERE id = ?1";
static const char store_sql_task_status[] = "SELECT status FROM tasks WHERE id = ?1";
static const char store_sql_task_list_all[] =
    "SELECT " STORE_TASK_LIST_COLUMNS " FROM tasks "
    "ORDER BY created_at DESC, queue_seq DESC LIMIT ?1 OFFSET ?2";
static const char store_sql_task_list_status[] =
    "SELECT " STORE_TASK_LIST_COLUMNS " FROM tasks WHERE status = ?3 "
    "ORDER BY created_at DESC, queue_seq DESC LIMIT ?1 OFFSET ?2";
/* Counts come from task_status_counts, kept by triggers (see store-schema.c). */
static const char store_sql_task_count_all[] = "SELECT SUM(n) FROM task_status_counts";
static const char store_sql_task_count_status[] =
    "SELECT n FROM task_status_counts WHERE status = ?1";
static const char store_sql_task_count_by_status[] = "SELECT status, n FROM task_status_counts";
static const char store_sql_task_ids_queue[] =
    "SELECT id FROM tasks WHERE status = ?1 ORDER BY priority, queue_seq";
static const char store_sql_task_ids_created[] =
    "SELECT id FROM tasks WHERE status = ?1 ORDER BY created_at, queue_seq";
/* Ended before the cutoff (a terminal task without completed_at counts from its last update),
 * nobody still waiting depends on it, and it is not part of a schedule run still going (a
 * delayed pipeline step waits on it, or needs it to settle the run). Edges and checkpoints go
 * by ON DELETE CASCADE. */
static const char store_sql_task_prune[] =
    "DELETE FROM tasks WHERE status IN " STORE_TERMINAL
    " AND COALESCE(completed_at, updated_at) < ?1 AND NOT EXISTS ("
    "SELECT 1 FROM task_dependencies d JOIN tasks x ON x.id = d.task_id "
    "WHERE d.depends_on = tasks.id AND x.status NOT IN " STORE_TERMINAL ") AND NOT EXISTS ("
    "SELECT 1 FROM schedule_run_tasks r JOIN schedule_executions x ON x.id = r.execution_id "
    "WHERE r.task_id = tasks.id AND x.status = 'triggered') RETURNING id";

/* Binds every column but queue_seq. env_text is t->env encoded (or NULL). */
static int
store_task_bind(sqlite3_stmt *stmt, const struct task *t, const char *env_text)
{
    int rc = SQLITE_OK;
#define B(expr)                \
    do {                       \
        if (rc == SQLITE_OK) { \
            rc = (expr);       \
        }                      \
    } while (0)
    B(store_bind_text(stmt, COL_ID + 1, t->id));
    B(store_bind_text(stmt, COL_PROMPT + 1, t->prompt));
    B(store_bind_text(stmt, COL_STATUS + 1, task_status_name(t->status)));
    B(sqlite3_bind_int(stmt, COL_PRIORITY + 1, t->priority));
    B(store_bind_text(stmt, COL_AGENT + 1, t->agent));
    B(store_bind_text(stmt, COL_WORKING_DIRECTORY + 1, t->working_directory));
    B(sqlite3_bind_int64(stmt, COL_TIMEOUT_MS + 1, t->timeout_ms));
    B(sqlite3_bind_int64(stmt, COL_MAX_OUTPUT_BUFFER + 1, t->max_output_buffer));
    B(store_bind_text(stmt, COL_MODEL + 1, t->model));
    B(store_bind_text(stmt, COL_SYSTEM_PROMPT + 1, t->system_prompt));
    B(store_bind_text(stmt, COL_PARENT_TASK_ID + 1, t->parent_task_id));
    B(store_bind_text(stmt, COL_RETRY_OF + 1, t->retry_of));
    B(sqlite3_bind_int(stmt, COL_RETRY_COUNT + 1, t->retry_count));
    B(store_bind_text(stmt, COL_CONTINUE_FROM + 1, t->continue_from));
    B(store_bind_text(stmt, COL_RESUME_MODE + 1, t->resume_mode));
    B(store_bind_text(stmt, COL_RESUME_SESSION + 1, t->resume_session));
    B(sqlite3_bind_int64(stmt, COL_CREATED_AT + 1, t->created_at));
    B(sqlite3_bind_int64(stmt, COL_UPDATED_AT + 1, t->updated_at));
    B(store_bind_int64_or_null(stmt, COL_STARTED_AT + 1, t->started_at, 0));
    B(store_bind_int64_or_null(stmt, COL_COMPLETED_AT + 1, t->completed_at, 0));
    B(store_bind_int64_or_null(stmt, COL_PID + 1, t->pid, 0));
    B(store_bind_int64_or_null(stmt, COL_PGID + 1, t->pgid, 0));
    B(store_bind_int64_or_null(stmt, COL_PROC_START + 1, t->proc_start, 0));
    B(store_bind_int64_or_null(stmt, COL_SUPERVISOR_PID + 1, t->supervisor_pid, 0));
    B(store_bind_int64_or_null(stmt, COL_SUPERVISOR_START + 1, t->supervisor_start, 0));
    B(store_bind_text(stmt, COL_END_KIND + 1, task_end_name(t->end)));
    if (t->has_exit_code) {
        B(sqlite3_bind_int(stmt, COL_EXIT_CODE + 1, t->exit_code));
    } else {
        B(sqlite3_bind_null(stmt, COL_EXIT_CODE + 1));
    }
    B(sqlite3_bind_int(stmt, COL_SIGNAL + 1, t->signal));
    B(store_bind_text(stmt, COL_REASON + 1, t->reason));
    B(store_bind_text(stmt, COL_SESSION_ID + 1, t->session_id));
    B(store_bind_text(stmt, COL_RESULT_TEXT + 1, t->result_text));
    B(store_bind_text(stmt, COL_API_ERROR + 1, t->api_error));
    B(t->input_tokens < 0 ? sqlite3_bind_null(stmt, COL_INPUT_TOKENS + 1)
                          : sqlite3_bind_int64(stmt, COL_INPUT_TOKENS + 1, t->input_tokens));
    B(t->output_tokens < 0 ? sqlite3_bind_null(stmt, COL_OUTPUT_TOKENS + 1)
                           : sqlite3_bind_int64(stmt, COL_OUTPUT_TOKENS + 1, t->output_tokens));
    B(t->cost_usd < 0 ? sqlite3_bind_null(stmt, COL_COST_USD + 1)
                      : sqlite3_bind_double(stmt, COL_COST_USD + 1, t->cost_usd));
    B(sqlite3_bind_int64(stmt, COL_STDOUT_BYTES + 1, t->stdout_bytes));
    B(sqlite3_bind_int64(stmt, COL_STDERR_BYTES + 1, t->stderr_bytes));
    B(sqlite3_bind_int(stmt, COL_OUTPUT_TRUNCATED + 1, t->output_truncated ? 1 : 0));
    B(store_bind_text(stmt, COL_ENV + 1, env_text));
    B(store_bind_text(stmt, COL_CLIENT_CWD + 1, t->client_cwd));
#undef B
    return rc;
}

/* Builds a task from the current row of a SELECT of STORE_TASK_COLUMNS. */
static struct task *
store_task_from_row(sqlite3_stmt *stmt, struct err *e)
{
    struct task *t = task_new();
    const char *id = (const char *)sqlite3_column_text(stmt, COL_ID);
    const char *status = (const char *)sqlite3_column_text(stmt, COL_STATUS);
    const char *end = (const char *)sqlite3_column_text(stmt, COL_END_KIND);

    str_copy(t->id, id != NULL ? id : "", sizeof t->id);
    if (task_status_parse(status, &t->status) != 0) {
        err_set(e, ERR_STORE, "load task %s: unknown status '%s'", t->id,
                status != NULL ? status : "");
        goto fail;
    }
    if (task_end_parse(end, &t->end) != 0) {
        err_set(e, ERR_STORE, "load task %s: unknown end '%s'", t->id, end != NULL ? end : "");
        goto fail;
    }
    t->prompt = store_col_text(stmt, COL_PROMPT);
    t->priority = sqlite3_column_int(stmt, COL_PRIORITY);
    t->agent = store_col_text(stmt, COL_AGENT);
    t->working_directory = store_col_text(stmt, COL_WORKING_DIRECTORY);
    t->timeout_ms = store_col_int64(stmt, COL_TIMEOUT_MS, 0);
    t->max_output_buffer = store_col_int64(stmt, COL_MAX_OUTPUT_BUFFER, 0);
    t->model = store_col_text(stmt, COL_MODEL);
    t->system_prompt = store_col_text(stmt, COL_SYSTEM_PROMPT);
    t->parent_task_id = store_col_text(stmt, COL_PARENT_TASK_ID);
    t->retry_of = store_col_text(stmt, COL_RETRY_OF);
    t->retry_count = (int)store_col_int64(stmt, COL_RETRY_COUNT, 0);
    t->continue_from = store_col_text(stmt, COL_CONTINUE_FROM);
    t->resume_mode = store_col_text(stmt, COL_RESUME_MODE);
    t->resume_session = store_col_text(stmt, COL_RESUME_SESSION);
    t->created_at = store_col_int64(stmt, COL_CREATED_AT, 0);
    t->updated_at = store_col_int64(stmt, COL_UPDATED_AT, 0);
    t->started_at = store_col_int64(stmt, COL_STARTED_AT, 0);
    t->completed_at = store_col_int64(stmt, COL_COMPLETED_AT, 0);
    t->queue_seq = store_col_int64(stmt, COL_QUEUE_SEQ, 0);
    t->pid = (int)store_col_int64(stmt, COL_PID, 0);
    t->pgid = (int)store_col_int64(stmt, COL_PGID, 0);
    t->proc_start = store_col_int64(stmt, COL_PROC_START, 0);
    t->supervisor_pid = (int)store_col_int64(stmt, COL_SUPERVISOR_PID, 0);
    t->supervisor_start = store_col_int64(stmt, COL_SUPERVISOR_START, 0);
    t->has_exit_code = sqlite3_column_type(stmt, COL_EXIT_CODE) != SQLITE_NULL;
    t->exit_code = t->has_exit_code ? sqlite3_column_int(stmt, COL_EXIT_CODE) : 0;
    t->signal = (int)store_col_int64(stmt, COL_SIGNAL, 0);
    t->reason = store_col_text(stmt, COL_REASON);
    t->session_id = store_col_text(stmt, COL_SESSION_ID);
    t->result_text = store_col_text(stmt, COL_RESULT_TEXT);
    t->api_error = store_col_text(stmt, COL_API_ERROR);
    t->input_tokens = store_col_int64(stmt, COL_INPUT_TOKENS, -1);
    t->output_tokens = store_col_int64(stmt, COL_OUTPUT_TOKENS, -1);
    t->cost_usd = sqlite3_column_type(stmt, COL_COST_USD) == SQLITE_NULL
                      ? -1.0
                      : sqlite3_column_double(stmt, COL_COST_USD);
    t->stdout_bytes = store_col_int64(stmt, COL_STDOUT_BYTES, 0);
    t->stderr_bytes = store_col_int64(stmt, COL_STDERR_BYTES, 0);
    t->output_truncated = store_col_int64(stmt, COL_OUTPUT_TRUNCATED, 0) != 0;
    t->client_cwd = store_col_text(stmt, COL_CLIENT_CWD);
    if (sqlite3_column_type(stmt, COL_ENV) != SQLITE_NULL) {
        const char *text = (const char *)sqlite3_column_text(stmt, COL_ENV);
        size_t len = (size_t)sqlite3_column_bytes(stmt, COL_ENV);
        json_error_t je;
        t->env = json_loadb(text, len, 0, &je);
        if (!json_is_object(t->env)) {
            err_set(e, ERR_STORE, "load task %s: env is not a JSON object", t->id);
            goto fail;
        }
    }
    return t;
fail:
    task_free(t);
    return NULL;
}

/* Encodes t->env for its column; NULL when there is none. Caller frees. */
static char *
store_task_env_text(const struct task *t)
{
    if (t->env == NULL) {
        return NULL;
    }
    char *s = json_dumps(t->env, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL) {
        abort(); /* jansson fails to encode a value it built only on out-of-memory */
    }
    return s;
}

/* Checks what the schema cannot say well. */
static int
store_task_check(const struct task *t, const char *what, struct err *e)
{
    if (t->id[0] == '\0') {
        return err_set(e, ERR_INVALID, "%s: id: required", what);
    }
    if (t->prompt == NULL) {
        return err_set(e, ERR_INVALID, "%s %s: prompt: required", what, t->id);
    }
    if (t->env != NULL && !json_is_object(t->env)) {
        return err_set(e, ERR_INVALID, "%s %s: env: must be a JSON object", what, t->id);
    }
    return 0;
}

/* Inserts a new task row and writes the assigned queue_seq back into t. */
int
store_task_insert(struct store *st, struct task *t, struct err *e)
{
    char *env_text = NULL;
    sqlite3_stmt *stmt = NULL;
    int ret = -1, rc;

    if (store_task_check(t, "insert task", e) != 0) {
        return -1;
    }
    stmt = store_stmt(st, STORE_STMT_TASK_INSERT, store_sql_task_insert, e);
    if (stmt == NULL) {
        goto out;
    }
    env_text = store_task_env_text(t);
    rc = store_task_bind(stmt, t, env_text);
    if (rc != SQLITE_OK) {
        store_fail(st, rc, e, "insert task %s", t->id);
        goto out;
    }
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
        store_fail(st, rc, e, "insert task %s", t->id);
        goto out;
    }
    t->queue_seq = sqlite3_column_int64(stmt, 0);
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) {
        store_fail(st, rc, e, "insert task %s", t->id);
        goto out;
    }
    ret = 0;
out:
    store_stmt_done(stmt);
    free(env_text);
    return ret;
}

/* Reads a task's stored status; 0 when found, 1 when absent, -1 on error. */
static int
store_task_status(struct store *st, const char *id, enum task_status *out, struct err *e)
{
    int ret = -1;
    sqlite3_stmt *stmt = store_stmt(st, STORE_STMT_TASK_STATUS, store_sql_task_status, e);
    if (stmt == NULL) {
        return -1;
    }
    store_bind_text(stmt, 1, id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) {
        ret = 1;
    } else if (rc != SQLITE_ROW) {
        store_fail(st, rc, e, "read status of task %s", id);
    } else if (task_status_parse((const char *)sqlite3_column_text(stmt, 0), out) != 0) {
        err_set(e, ERR_STORE, "read status of task %s: unknown status", id);
    } else {
        ret = 0;
    }
    store_stmt_done(stmt);
    return ret;
}

/* Writes every mutable field of t, refusing to turn a terminal row into another status. */
int
store_task_update(struct store *st, const struct task *t, struct err *e)
{
    char *env_text = NULL;
    sqlite3_stmt *stmt = NULL;
    int ret = -1, rc, changes;

    if (store_task_check(t, "update task", e) != 0) {
        return -1;
    }
    stmt = store_stmt(st, STORE_STMT_TASK_UPDATE, store_sql_task_update, e);
    if (stmt == NULL) {
        goto out;
    }
    env_text = store_task_env_text(t);
    rc = store_task_bind(stmt, t, env_text);
    if (rc != SQLITE_OK) {
        store_fail(st, rc, e, "update task %s", t->id);
        goto out;
    }
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) {
        store_fail(st, rc, e, "update task %s", t->id);
        goto out;
    }
    changes = sqlite3_changes(st->db);
    store_stmt_done(stmt);
    stmt = NULL;
    if (changes == 0) {
        enum task_status stored = TASK_QUEUED;
        int found = store_task_status(st, t->id, &stored, e);
        if (found == 0) {
            err_set(e, ERR_STATE, "task %s is already %s and cannot become %s", t->id,
                    task_status_name(stored), task_status_name(t->status));
        } else if (found == 1) {
            err_set(e, ERR_NOTFOUND, "task %s does not exist", t->id);
        }
        goto out;
    }
    ret = 0;
out:
    store_stmt_done(stmt);
    free(env_text);
    return ret;
}

/* Loads one task; ERR_NOTFOUND when absent. */
struct task *
store_task_load(struct store *st, const char *id, struct err *e)
{
    struct task *t = NULL;
    sqlite3_stmt *stmt = store_stmt(st, STORE_STMT_TASK_LOAD, store_sql_task_load, e);
    if (stmt == NULL) {
        return NULL;
    }
    store_bind_text(stmt, 1, id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        t = store_task_from_row(stmt, e);
    } else if (rc == SQLITE_DONE) {
        err_set(e, ERR_NOTFOUND, "task %s does not exist", id);
    } else {
        store_fail(st, rc, e, "load task %s", id);
    }
    store_stmt_done(stmt);
    return t;
}

/* True when a task with this id is stored (false also when the read fails). */
bool
store_task_exists(struct store *st, const char *id)
{
    enum task_status s;
    return store_task_status(st, id, &s, NULL) == 0;
}

/* Runs a single-row COUNT statement that has its parameters bound. */
static int
store_task_count_one(struct store *st, sqlite3_stmt *stmt, int64_t *out, struct err *e)
{
    int rc = sqlite3_step(stmt);
    int ret = 0;
    if (rc != SQLITE_ROW) {
        ret = store_fail(st, rc, e, "count tasks");
    } else {
        *out = sqlite3_column_int64(stmt, 0);
    }
    store_stmt_done(stmt);
    return ret;
}

/* Loads a page of tasks newest first, and how many match the filter in all. */
int
store_task_list(struct store *st, const struct task_filter *f, struct task ***out, int64_t *total,
                struct err *e)
{
    struct task **v = NULL;
    sqlite3_stmt *stmt = NULL;
    size_t n = 0;
    int ret = -1, rc;
    bool by_status = f->status >= 0;

    if (f->status < -1 || f->status >= TASK_STATUS_COUNT) {
        return err_set(e, ERR_INVALID, "status: must be a task status or -1 (any)");
    }
    if (f->limit < 1 || f->limit > 1000) {
        return err_set(e, ERR_INVALID, "limit: must be between 1 and 1000");
    }
    if (f->offset < 0) {
        return err_set(e, ERR_INVALID, "offset: must be 0 or more");
    }

    if (total != NULL) {
        stmt = by_status
                   ? store_stmt(st, STORE_STMT_TASK_COUNT_STATUS, store_sql_task_count_status, e)
                   : store_stmt(st, STORE_STMT_TASK_COUNT_ALL, store_sql_task_count_all, e);
        if (stmt == NULL) {
            return -1;
        }
        if (by_status) {
            store_bind_text(stmt, 1, task_status_name((enum task_status)f->status));
        }
        if (store_task_count_one(st, stmt, total, e) != 0) {
            return -1;
        }
    }

    stmt = by_status ? store_stmt(st, STORE_STMT_TASK_LIST_STATUS, store_sql_task_list_status, e)
                     : store_stmt(st, STORE_STMT_TASK_LIST_ALL, store_sql_task_list_all, e);
    if (stmt == NULL) {
        return -1;
    }
    sqlite3_bind_int(stmt, 1, f->limit);
    sqlite3_bind_int(stmt, 2, f->offset);
    if (by_status) {
        store_bind_text(stmt, 3, task_status_name((enum task_status)f->status));
    }
    v = xcalloc((size_t)f->limit + 1, sizeof *v);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW && n < (size_t)f->limit) {
        v[n] = store_task_from_row(stmt, e);
        if (v[n] == NULL) {
            goto out;
        }
        n++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        store_fail(st, rc, e, "list tasks");
        goto out;
    }
    *out = v;
    v = NULL;
    ret = 0;
out:
    store_stmt_done(stmt);
    if (v != NULL) {
        for (size_t i = 0; i < n; i++) {
            task_free(v[i]);
        }
        free(v);
    }
    return ret;
}

/* Counts tasks per status in one query over the trigger-kept counters. */
int
store_task_count_by_status(struct store *st, int64_t counts[TASK_STATUS_COUNT], struct err *e)
{
    sqlite3_stmt *stmt =
        store_stmt(st, STORE_STMT_TASK_COUNT_BY_STATUS, store_sql_task_count_by_status, e);
    int rc, ret = 0;
    if (stmt == NULL) {
        return -1;
    }
    for (int i = 0; i < TASK_STATUS_COUNT; i++) {
        counts[i] = 0;
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        enum task_status s;
        if (task_status_parse((const char *)sqlite3_column_text(stmt, 0), &s) == 0) {
            counts[s] = sqlite3_column_int64(stmt, 1);
        }
    }
    if (rc != SQLITE_DONE) {
        ret = store_fail(st, rc, e, "count tasks by status");
    }
    store_stmt_done(stmt);
    return ret;
}

/* Ids in one status: queue order for queued and blocked, oldest first otherwise. */
int
store_task_ids_by_status(struct store *st, enum task_status status, char ***out, struct err *e)
{
    bool queue = status == TASK_QUEUED || status == TASK_BLOCKED;
    sqlite3_stmt *stmt =
        queue ? store_stmt(st, STORE_STMT_TASK_IDS_QUEUE, store_sql_task_ids_queue, e)
              : store_stmt(st, STORE_STMT_TASK_IDS_CREATED, store_sql_task_ids_created, e);
    if (stmt == NULL) {
        return -1;
    }
    store_bind_text(stmt, 1, task_status_name(status));
    int ret = store_collect_ids(st, stmt, out, "list task ids", e);
    store_stmt_done(stmt);
    return ret;
}

/* Deletes terminal tasks ended before cutoff that no waiting task depends on. */
int
store_task_prune(struct store *st, int64_t cutoff, char ***removed, struct err *e)
{
    sqlite3_stmt *stmt = store_stmt(st, STORE_STMT_TASK_PRUNE, store_sql_task_prune, e);
    if (stmt == NULL) {
        return -1;
    }
    sqlite3_bind_int64(stmt, 1, cutoff);
    int ret = store_collect_ids(st, stmt, removed, "prune tasks", e);
    store_stmt_done(stmt);
    return ret;
}
