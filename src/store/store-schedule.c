/* Schedules and their executions: rows in, rows out, and the one conflict that matters (a fire
 * already claimed). Deciding when a schedule fires, what a missed fire means and which tasks a
 * run creates is the scheduler's job (core/sched.c); nothing here reads the clock.
 * Statements are prepared per call (a few microseconds each): the cache in store-private.h is
 * keyed by an enum this file does not own. */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store-private.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define STORE_SCHEDULE_COLS                                                                    \
    "id, status, schedule_type, cron_expression, timezone, scheduled_at, missed_run_policy, "  \
    "max_runs, run_count, last_run_at, next_run_at, expires_at, after_schedule_id, template, " \
    "steps, env, client_cwd, reason, created_at, updated_at"
#define STORE_EXEC_COLS                                                                     \
    "id, schedule_id, fire_time, status, executed_at, task_ids, covers, error, next_step, " \
    "wait_task, resume_at, created_at, updated_at"

static const char store_sql_schedule_insert[] =
    "INSERT INTO schedules (" STORE_SCHEDULE_COLS ") VALUES "
    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)";
static const char store_sql_schedule_update[] =
    "UPDATE schedules SET status = ?2, run_count = ?3, last_run_at = ?4, next_run_at = ?5, "
    "reason = ?6, env = ?7, updated_at = ?8 WHERE id = ?1";
static const char store_sql_schedule_load[] =
    "SELECT " STORE_SCHEDULE_COLS " FROM schedules WHERE id = ?1";
static const char store_sql_schedule_list_all[] =
    "SELECT " STORE_SCHEDULE_COLS " FROM schedules ORDER BY created_at DESC, id DESC "
    "LIMIT ?2 OFFSET ?3";
static const char store_sql_schedule_list_status[] =
    "SELECT " STORE_SCHEDULE_COLS " FROM schedules WHERE status = ?1 "
    "ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3";
static const char store_sql_schedule_count_all[] = "SELECT COUNT(*) FROM schedules";
static const char store_sql_schedule_count_status[] =
    "SELECT COUNT(*) FROM schedules WHERE status = ?1";
static const char store_sql_schedule_due[] =
    "SELECT id FROM schedules WHERE status = 'active' AND next_run_at <= ?1 "
    "ORDER BY next_run_at, id LIMIT ?2";
static const char store_sql_schedule_ids_status[] =
    "SELECT id FROM schedules WHERE status = ?1 ORDER BY next_run_at, id";
static const char store_sql_schedule_wake[] =
    "SELECT MIN(w) FROM (SELECT MIN(next_run_at) AS w FROM schedules WHERE status = 'active' "
    "UNION ALL SELECT MIN(resume_at) FROM schedule_executions WHERE resume_at IS NOT NULL "
    "AND status = 'triggered')";
static const char store_sql_schedule_written_after[] =
    "SELECT 1 FROM schedules WHERE status = 'active' AND updated_at > ?1 LIMIT 1";

static const char store_sql_exec_insert[] =
    "INSERT INTO schedule_executions (schedule_id, fire_time, status, executed_at, task_ids, "
    "covers, error, next_step, wait_task, resume_at, created_at, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
    "ON CONFLICT (schedule_id, fire_time) DO NOTHING";
static const char store_sql_exec_update[] =
    "UPDATE schedule_executions SET status = ?2, executed_at = ?3, task_ids = ?4, covers = ?5, "
    "error = ?6, next_step = ?7, wait_task = ?8, resume_at = ?9, updated_at = ?10 WHERE id = ?1";
static const char store_sql_exec_load[] =
    "SELECT " STORE_EXEC_COLS " FROM schedule_executions WHERE id = ?1";
static const char store_sql_exec_map[] =
    "INSERT INTO schedule_run_tasks (task_id, execution_id) VALUES (?1, ?2) "
    "ON CONFLICT (task_id) DO NOTHING";
static const char store_sql_exec_by_task[] =
    "SELECT execution_id FROM schedule_run_tasks WHERE task_id = ?1";
static const char store_sql_exec_open_all[] =
    "SELECT id FROM schedule_executions WHERE status = 'triggered' ORDER BY id";
static const char store_sql_exec_open_one[] =
    "SELECT id FROM schedule_executions WHERE status = 'triggered' AND schedule_id = ?1 "
    "ORDER BY id";
static const char store_sql_exec_resume_due[] =
    "SELECT id FROM schedule_executions WHERE resume_at IS NOT NULL AND resume_at <= ?1 "
    "AND status = 'triggered' ORDER BY resume_at, id";
static const char store_sql_exec_list[] =
    "SELECT " STORE_EXEC_COLS " FROM schedule_executions WHERE schedule_id = ?1 "
    "ORDER BY fire_time DESC LIMIT ?2";
/* Never deletes a run that goes on: the overlap check and afterSchedule read those. */
static const char store_sql_exec_prune[] =
    "DELETE FROM schedule_executions WHERE schedule_id = ?1 AND status <> 'triggered' "
    "AND fire_time < (SELECT fire_time FROM schedule_executions WHERE schedule_id = ?1 "
    "ORDER BY fire_time DESC LIMIT 1 OFFSET ?2)";

/* Prepares a one-off statement. */
static sqlite3_stmt *
store_schedule_prepare(struct store *st, const char *sql, struct err *e)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(stmt);
        store_fail(st, rc, e, "prepare \"%.60s\"", sql);
        return NULL;
    }
    return stmt;
}

/* Encodes a JSON value for a TEXT column (NULL stays NULL); caller frees. */
static char *
store_schedule_dump(const json_t *v)
{
    return v != NULL ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

/* Decodes a JSON TEXT column; NULL for SQL NULL or text that does not parse. */
static json_t *
store_schedule_col_json(sqlite3_stmt *stmt, int col)
{
    const char *s = (const char *)sqlite3_column_text(stmt, col);
    if (s == NULL) {
        return NULL;
    }
    json_error_t je;
    return json_loadb(s, (size_t)sqlite3_column_bytes(stmt, col), JSON_DECODE_ANY, &je);
}

static void
store_schedule_col_word(sqlite3_stmt *stmt, int col, char out[SCHEDULE_WORD_MAX])
{
    const char *s = (const char *)sqlite3_column_text(stmt, col);
    str_copy(out, s ? s : "", SCHEDULE_WORD_MAX);
}

/* Frees a schedule; NULL is allowed. */
void
schedule_free(struct schedule *s)
{
    if (s == NULL) {
        return;
    }
    free(s->cron_expression);
    free(s->timezone);
    free(s->after_schedule_id);
    json_decref(s->template);
    json_decref(s->steps);
    json_decref(s->env);
    free(s->client_cwd);
    free(s->reason);
    free(s);
}

/* Frees an execution; NULL is allowed. */
void
schedule_execution_free(struct schedule_execution *x)
{
    if (x == NULL) {
        return;
    }
    json_decref(x->task_ids);
    json_decref(x->covers);
    free(x->error);
    free(x->wait_task);
    free(x);
}

/* Reads the current row of a schedule query. */
static struct schedule *
store_schedule_row(sqlite3_stmt *stmt, struct err *e)
{
    struct schedule *s = xcalloc(1, sizeof *s);
    const char *id = (const char *)sqlite3_column_text(stmt, 0);
    str_copy(s->id, id ? id : "", sizeof s->id);
    store_schedule_col_word(stmt, 1, s->status);
    store_schedule_col_word(stmt, 2, s->type);
    s->cron_expression = store_col_text(stmt, 3);
    s->timezone = store_col_text(stmt, 4);
    s->scheduled_at = store_col_int64(stmt, 5, 0);
    store_schedule_col_word(stmt, 6, s->policy);
    s->max_runs = store_col_int64(stmt, 7, 0);
    s->run_count = store_col_int64(stmt, 8, 0);
    s->last_run_at = store_col_int64(stmt, 9, 0);
    s->next_run_at = store_col_int64(stmt, 10, 0);
    s->expires_at = store_col_int64(stmt, 11, 0);
    s->after_schedule_id = store_col_text(stmt, 12);
    s->template = store_schedule_col_json(stmt, 13);
    s->steps = store_schedule_col_json(stmt, 14);
    s->env = store_schedule_col_json(stmt, 15);
    s->client_cwd = store_col_text(stmt, 16);
    s->reason = store_col_text(stmt, 17);
    s->created_at = store_col_int64(stmt, 18, 0);
    s->updated_at = store_col_int64(stmt, 19, 0);
    if (!json_is_object(s->template)) {
        err_set(e, ERR_STORE, "schedule %s: its stored template is not a JSON object", s->id);
        schedule_free(s);
        return NULL;
    }
    return s;
}

static int
store_schedule_check(const struct schedule *s, struct err *e)
{
    if (!json_is_object(s->template)) {
        return err_set(e, ERR_INVALID, "schedule %s: template: must be an object", s->id);
    }
    if (s->steps != NULL && !json_is_array(s->steps)) {
        return err_set(e, ERR_INVALID, "schedule %s: steps: must be an array", s->id);
    }
    if (s->env != NULL && !json_is_object(s->env)) {
        return err_set(e, ERR_INVALID, "schedule %s: env: must be an object", s->id);
    }
    return 0;
}

/* Inserts a schedule row. */
int
store_schedule_insert(struct store *st, const struct schedule *s, struct err *e)
{
    if (store_schedule_check(s, e) != 0) {
        return -1;
    }
    sqlite3_stmt *stmt = store_schedule_prepare(st, store_sql_schedule_insert, e);
    if (stmt == NULL) {
        return -1;
    }
    char *tmpl = store_schedule_dump(s->template);
    char *steps = store_schedule_dump(s->steps);
    char *env = store_schedule_dump(s->env);
    store_bind_text(stmt, 1, s->id);
    store_bind_text(stmt, 2, s->status);
    store_bind_text(stmt, 3, s->type);
    store_bind_text(stmt, 4, s->cron_expression);
    store_bind_text(stmt, 5, s->timezone ? s->timezone : "UTC");
    store_bind_int64_or_null(stmt, 6, s->scheduled_at, 0);
    store_bind_text(stmt, 7, s->policy);
    store_bind_int64_or_null(stmt, 8, s->max_runs, 0);
    sqlite3_bind_int64(stmt, 9, s->run_count);
    store_bind_int64_or_null(stmt, 10, s->last_run_at, 0);
    store_bind_int64_or_null(stmt, 11, s->next_run_at, 0);
    store_bind_int64_or_null(stmt, 12, s->expires_at, 0);
    store_bind_text(stmt, 13, s->after_schedule_id);
    store_bind_text(stmt, 14, tmpl);
    store_bind_text(stmt, 15, steps);
    store_bind_text(stmt, 16, env);
    store_bind_text(stmt, 17, s->client_cwd);
    store_bind_text(stmt, 18, s->reason);
    sqlite3_bind_int64(stmt, 19, s->created_at);
    sqlite3_bind_int64(stmt, 20, s->updated_at);
    int rc = sqlite3_step(stmt);
    int ret = 0;
    if (rc != SQLITE_DONE) {
        ret = store_fail(st, rc, e, "insert schedule %s", s->id);
    }
    sqlite3_finalize(stmt);
    free(tmpl);
    free(steps);
    free(env);
    return ret;
}

/* Writes the mutable fields of a schedule. */
int
store_schedule_update(struct store *st, const struct schedule *s, struct err *e)
{
    if (s->env != NULL && !json_is_object(s->env)) {
        return err_set(e, ERR_INVALID, "schedule %s: env: must be an object", s->id);
    }
    sqlite3_stmt *stmt = store_schedule_prepare(st, store_sql_schedule_update, e);
    if (stmt == NULL) {
        return -1;
    }
    char *env = store_schedule_dump(s->env);
    store_bind_text(stmt, 1, s->id);
    store_bind_text(stmt, 2, s->status);
    sqlite3_bind_int64(stmt, 3, s->run_count);
    store_bind_int64_or_null(stmt, 4, s->last_run_at, 0);
    store_bind_int64_or_null(stmt, 5, s->next_run_at, 0);
    store_bind_text(stmt, 6, s->reason);
    store_bind_text(stmt, 7, env);
    sqlite3_bind_int64(stmt, 8, s->updated_at);
    int rc = sqlite3_step(stmt);
    int ret = 0;
    if (rc != SQLITE_DONE) {
        ret = store_fail(st, rc, e, "update schedule %s", s->id);
    } else if (sqlite3_changes(st->db) == 0) {
        ret = err_set(e, ERR_NOTFOUND, "schedule %s does not exist", s->id);
    }
    sqlite3_finalize(stmt);
    free(env);
    return ret;
}

/* Loads one schedule. */
struct schedule *
store_schedule_load(struct store *st, const char *id, struct err *e)
{
    struct schedule *s = NULL;
    sqlite3_stmt *stmt = store_schedule_prepare(st, store_sql_schedule_load, e);
    if (stmt == NULL) {
        return NULL;
    }
    store_bind_text(stmt, 1, id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        s = store_schedule_row(stmt, e);
    } else if (rc == SQLITE_DONE) {
        err_set(e, ERR_NOTFOUND, "schedule %s does not exist", id);
    } else {
        store_fail(st, rc, e, "load schedule %s", id);
    }
    sqlite3_finalize(stmt);
    return s;
}

/* Runs a single-integer query with an optional text parameter. */
static int
store_schedule_int_query(struct store *st, const char *sql, const char *param, int64_t *out,
                         struct err *e)
{
    sqlite3_stmt *stmt = store_schedule_prepare(st, sql, e);
    if (stmt == NULL) {
        return -1;
    }
    if (param != NULL) {
        store_bind_text(stmt, 1, param);
    }
    int rc = sqlite3_step(stmt);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        *out = store_col_int64(stmt, 0, 0);
    } else if (rc == SQLITE_DONE) {
        *out = 0;
    } else {
        ret = store_fail(st, rc, e, "count schedules");
    }
    sqlite3_finalize(stmt);
    return ret;
}

/* Loads a page of schedules, newest first. */
int
store_schedule_list(struct store *st, const char *status, int limit, int offset,
                    struct schedule ***out, int64_t *total, struct err *e)
{
    if (limit < 1 || limit > 1000) {
        return err_set(e, ERR_INVALID, "limit: must be between 1 and 1000 (got %d)", limit);
    }
    if (offset < 0) {
        return err_set(e, ERR_INVALID, "offset: must be at least 0 (got %d)", offset);
    }
    sqlite3_stmt *stmt = store_schedule_prepare(
        st, status ? store_sql_schedule_list_status : store_sql_schedule_list_all, e);
    if (stmt == NULL) {
        return -1;
    }
    if (status) {
        store_bind_text(stmt, 1, status);
    }
    sqlite3_bind_int(stmt, 2, limit);
    sqlite3_bind_int(stmt, 3, offset);
    size_t n = 0;
    struct schedule **v = xcalloc((size_t)limit + 1, sizeof *v);
    int rc;
    int ret = -1;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct schedule *s = store_schedule_row(stmt, e);
        if (s == NULL) {
            goto out;
        }
        v[n++] = s;
    }
    if (rc != SQLITE_DONE) {
        store_fail(st, rc, e, "list schedules");
        goto out;
    }
    if (total != NULL && store_schedule_int_query(st,
                                                  status ? store_sql_schedule_count_status
                                                         : store_sql_schedule_count_all,
                                                  status, total, e) != 0) {
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(stmt);
    if (ret != 0) {
        for (size_t i = 0; i < n; i++) {
            schedule_free(v[i]);
        }
        free(v);
        return -1;
    }
    *out = v;
    return 0;
}

/* Lists the ids of due schedules. */
int
store_schedule_due(struct store *st, int64_t now, int limit, char ***out, struct err *e)
{
    if (limit < 1 || limit > 1000) {
        return err_set(e, ERR_INVALID, "limit: must be between 1 and 1000 (got %d)", limit);
    }
    sqlite3_stmt *stmt = store_schedule_prepare(st, store_sql_schedule_due, e);
    if (stmt == NULL) {
        return -1;
    }
    sqlite3_bind_int64(stmt, 1, now);
    sqlite3_bind_int(stmt, 2, limit);
    int ret = store_collect_ids(st, stmt, out, "list due schedules", e);
    sqlite3_finalize(stmt);
    return ret;
}

/* Lists the ids of schedules in one status. */
int
store_schedule_ids_by_status(struct store *st, const char *status, char ***out, struct err *e)
{
    sqlite3_stmt *stmt = store_schedule_prepare(st, store_sql_schedule_ids_status, e);
    if (stmt == NULL) {
        return -1;
    }
    store_bind_text(stmt, 1, status);
    int ret = store_collect_ids(st, stmt, out, "list schedules", e);
    sqlite3_finalize(stmt);
    return ret;
}

/* Finds the earliest instant the scheduler must wake for. */
int
store_schedule_next_wake(struct store *st, int64_t *when, struct err *e)
{
    return store_schedule_int_query(st, store_sql_schedule_wake, NULL, when, e);
}

/* True when an active schedule was written after now. */
bool
store_schedule_written_after(struct store *st, int64_t now)
{
    struct err e;
    sqlite3_stmt *stmt = store_schedule_prepare(st, store_sql_schedule_written_after, &e);
    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_int64(stmt, 1, now);
    bool found = sqlite3_step(stmt) == SQLITE_ROW;
    sqlite3_finalize(stmt);
    return found;
}

static const char store_sql_schedule_active_cron[] =
    "SELECT id, status, schedule_type, cron_expression, timezone, scheduled_at, next_run_at, "
    "expires_at FROM schedules WHERE status = 'active' AND schedule_type = 'cron' ORDER BY id";
static const char store_sql_schedule_set_next[] =
    "UPDATE schedules SET next_run_at = ?2, updated_at = ?3 WHERE id = ?1 AND status = 'active'";

/* Loads the timing fields of every active cron schedule. */
int
store_schedule_active_cron(struct store *st, struct schedule ***out, struct err *e)
{
    sqlite3_stmt *stmt = store_schedule_prepare(st, store_sql_schedule_active_cron, e);
    if (stmt == NULL) {
        return -1;
    }
    size_t n = 0, cap = 16;
    struct schedule **v = xmalloc(cap * sizeof *v);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (n + 1 >= cap) {
            cap *= 2;
            v = xrealloc(v, cap * sizeof *v);
        }
        struct schedule *s = xcalloc(1, sizeof *s);
        const char *id = (const char *)sqlite3_column_text(stmt, 0);
        str_copy(s->id, id ? id : "", sizeof s->id);
        store_schedule_col_word(stmt, 1, s->status);
        store_schedule_col_word(stmt, 2, s->type);
        s->cron_expression = store_col_text(stmt, 3);
        s->timezone = store_col_text(stmt, 4);
        s->scheduled_at = store_col_int64(stmt, 5, 0);
        s->next_run_at = store_col_int64(stmt, 6, 0);
        s->expires_at = store_col_int64(stmt, 7, 0);
        v[n++] = s;
    }
    v[n] = NULL;
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        for (size_t i = 0; i < n; i++) {
            schedule_free(v[i]);
        }
        free(v);
        return store_fail(st, rc, e, "list active cron schedules");
    }
    *out = v;
    return 0;
}

/* Moves the next fire of an active schedule. */
int
store_schedule_set_next(struct store *st, const char *id, int64_t next, int64_t now, struct err *e)
{
    sqlite3_stmt *stmt = store_schedule_prepare(st, store_sql_schedule_set_next, e);
    if (stmt == NULL) {
        return -1;
    }
    store_bind_text(stmt, 1, id);
    store_bind_int64_or_null(stmt, 2, next, 0);
    sqlite3_bind_int64(stmt, 3, now);
    int rc = sqlite3_step(stmt);
    int ret = 0;
    if (rc != SQLITE_DONE) {
        ret = store_fail(st, rc, e, "move the next fire of schedule %s", id);
    }
    sqlite3_finalize(stmt);
    return ret;
}

/* ---- executions ---- */

static int
store_schedule_exec_check(const struct schedule_execution *x, struct err *e)
{
    if (x->task_ids != NULL && !json_is_array(x->task_ids)) {
        return err_set(e, ERR_INVALID, "execution of %s: task_ids: must be an array",
                       x->schedule_id);
    }
    if (x->covers != NULL && !json_is_array(x->covers)) {
        return err_set(e, ERR_INVALID, "execution of %s: covers: must be an array", x->schedule_id);
    }
    return 0;
}

/* Maps each task of x to x (a task already mapped keeps its run). */
static int
store_schedule_exec_map(struct store *st, const struct schedule_execution *x, struct err *e)
{
    if (json_array_size(x->task_ids) == 0) {
        return 0;
    }
    sqlite3_stmt *stmt = store_schedule_prepare(st, store_sql_exec_map, e);
    if (stmt == NULL) {
        return -1;
    }
    int ret = 0;
    size_t i;
    json_t *v;
    json_array_foreach(x->task_ids, i, v)
    {
        if (!json_is_string(v)) {
            ret = err_set(e, ERR_INVALID, "execution %lld: task_ids: must hold strings",
                          (long long)x->id);
            break;
        }
        sqlite3_reset(stmt);
        store_bind_text(stmt, 1, json_string_value(v));
        sqlite3_bind_int64(stmt, 2, x->id);
        int rc = sqlite3_step(stmt);
        if (rc != SQLITE_DONE) {
            ret = store_fail(st, rc, e, "map task %s to execution %lld", json_string_value(v),
                             (long long)x->id);
            break;
        }
    }
    sqlite3_finalize(stmt);
    return ret;
}

/* Binds an execution's state (status through resume_at, the order both statements use) from
 * parameter first on. tasks and covers are the JSON texts of task_ids and covers. */
static void
store_schedule_exec_bind_state(sqlite3_stmt *stmt, int first,
                               const struct schedule_execution *x, const char *tasks,
                               const char *covers)
{
    store_bind_text(stmt, first, x->status);
    store_bind_int64_or_null(stmt, first + 1, x->executed_at, 0);
    store_bind_text(stmt, first + 2, tasks);
    store_bind_text(stmt, first + 3, covers);
    store_bind_text(stmt, first + 4, x->error);
    sqlite3_bind_int(stmt, first + 5, x->next_step);
    store_bind_text(stmt, first + 6, x->wait_task);
    store_bind_int64_or_null(stmt, first + 7, x->resume_at, 0);
}

/* Claims a fire by inserting its execution row. */
int
store_schedule_exec_insert(struct store *st, struct schedule_execution *x, bool *claimed,
                           struct err *e)
{
    *claimed = false;
    if (store_schedule_exec_check(x, e) != 0) {
        return -1;
    }
    sqlite3_stmt *stmt = store_schedule_prepare(st, store_sql_exec_insert, e);
    if (stmt == NULL) {
        return -1;
    }
    char *tasks = store_schedule_dump(x->task_ids);
    char *covers = store_schedule_dump(x->covers);
    store_bind_text(stmt, 1, x->schedule_id);
    sqlite3_bind_int64(stmt, 2, x->fire_time);
    store_schedule_exec_bind_state(stmt, 3, x, tasks, covers);
    sqlite3_bind_int64(stmt, 11, x->created_at);
    sqlite3_bind_int64(stmt, 12, x->updated_at);
    int rc = sqlite3_step(stmt);
    int ret = 0;
    if (rc != SQLITE_DONE) {
        ret = store_fail(st, rc, e, "record fire of schedule %s", x->schedule_id);
    } else if (sqlite3_changes(st->db) > 0) {
        *claimed = true;
        x->id = sqlite3_last_insert_rowid(st->db);
    }
    sqlite3_finalize(stmt);
    free(tasks);
    free(covers);
    if (ret == 0 && *claimed) {
        ret = store_schedule_exec_map(st, x, e);
    }
    return ret;
}

/* Writes the mutable fields of an execution. */
int
store_schedule_exec_update(struct store *st, const struct schedule_execution *x, struct err *e)
{
    if (store_schedule_exec_check(x, e) != 0) {
        return -1;
    }
    sqlite3_stmt *stmt = store_schedule_prepare(st, store_sql_exec_update, e);
    if (stmt == NULL) {
        return -1;
    }
    char *tasks = store_schedule_dump(x->task_ids);
    char *covers = store_schedule_dump(x->covers);
    sqlite3_bind_int64(stmt, 1, x->id);
    store_schedule_exec_bind_state(stmt, 2, x, tasks, covers);
    sqlite3_bind_int64(stmt, 10, x->updated_at);
    int rc = sqlite3_step(stmt);
    int ret = 0;
    if (rc != SQLITE_DONE) {
        ret = store_fail(st, rc, e, "update execution %lld", (long long)x->id);
    } else if (sqlite3_changes(st->db) == 0) {
        ret = err_set(e, ERR_NOTFOUND, "execution %lld does not exist", (long long)x->id);
    }
    sqlite3_finalize(stmt);
    free(tasks);
    free(covers);
    if (ret == 0) {
        ret = store_schedule_exec_map(st, x, e);
    }
    return ret;
}

/* Reads the current row of an execution query. */
static struct schedule_execution *
store_schedule_exec_row(sqlite3_stmt *stmt)
{
    struct schedule_execution *x = xcalloc(1, sizeof *x);
    x->id = sqlite3_column_int64(stmt, 0);
    const char *sid = (const char *)sqlite3_column_text(stmt, 1);
    str_copy(x->schedule_id, sid ? sid : "", sizeof x->schedule_id);
    x->fire_time = sqlite3_column_int64(stmt, 2);
    store_schedule_col_word(stmt, 3, x->status);
    x->executed_at = store_col_int64(stmt, 4, 0);
    x->task_ids = store_schedule_col_json(stmt, 5);
    if (x->task_ids != NULL && !json_is_array(x->task_ids)) {
        json_decref(x->task_ids);
        x->task_ids = NULL;
    }
    x->covers = store_schedule_col_json(stmt, 6);
    if (x->covers != NULL && !json_is_array(x->covers)) {
        json_decref(x->covers);
        x->covers = NULL;
    }
    x->error = store_col_text(stmt, 7);
    x->next_step = sqlite3_column_int(stmt, 8);
    x->wait_task = store_col_text(stmt, 9);
    x->resume_at = store_col_int64(stmt, 10, 0);
    x->created_at = store_col_int64(stmt, 11, 0);
    x->updated_at = store_col_int64(stmt, 12, 0);
    return x;
}

/* Loads one execution. */
struct schedule_execution *
store_schedule_exec_load(struct store *st, int64_t id, struct err *e)
{
    struct schedule_execution *x = NULL;
    sqlite3_stmt *stmt = store_schedule_prepare(st, store_sql_exec_load, e);
    if (stmt == NULL) {
        return NULL;
    }
    sqlite3_bind_int64(stmt, 1, id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        x = store_schedule_exec_row(stmt);
    } else if (rc == SQLITE_DONE) {
        err_set(e, ERR_NOTFOUND, "execution %lld does not exist", (long long)id);
    } else {
        store_fail(st, rc, e, "load execution %lld", (long long)id);
    }
    sqlite3_finalize(stmt);
    return x;
}

/* Finds the execution that created a task. */
int
store_schedule_exec_by_task(struct store *st, const char *task_id, int64_t *id, struct err *e)
{
    sqlite3_stmt *stmt = store_schedule_prepare(st, store_sql_exec_by_task, e);
    if (stmt == NULL) {
        return -1;
    }
    store_bind_text(stmt, 1, task_id);
    int rc = sqlite3_step(stmt);
    int ret = 0;
    *id = 0;
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(stmt, 0);
    } else if (rc != SQLITE_DONE) {
        ret = store_fail(st, rc, e, "find the run of task %s", task_id);
    }
    sqlite3_finalize(stmt);
    return ret;
}

/* Steps stmt collecting column 0 as integers. */
static int
store_schedule_collect_ints(struct store *st, sqlite3_stmt *stmt, int64_t **out, size_t *n,
                            const char *what, struct err *e)
{
    size_t len = 0, cap = 8;
    int64_t *v = xmalloc(cap * sizeof *v);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (len == cap) {
            cap *= 2;
            v = xrealloc(v, cap * sizeof *v);
        }
        v[len++] = sqlite3_column_int64(stmt, 0);
    }
    if (rc != SQLITE_DONE) {
        free(v);
        return store_fail(st, rc, e, "%s", what);
    }
    *out = v;
    *n = len;
    return 0;
}

/* Lists the executions still running. */
int
store_schedule_exec_open(struct store *st, const char *schedule_id, int64_t **ids, size_t *n,
                         struct err *e)
{
    sqlite3_stmt *stmt = store_schedule_prepare(
        st, schedule_id ? store_sql_exec_open_one : store_sql_exec_open_all, e);
    if (stmt == NULL) {
        return -1;
    }
    if (schedule_id) {
        store_bind_text(stmt, 1, schedule_id);
    }
    int ret = store_schedule_collect_ints(st, stmt, ids, n, "list running executions", e);
    sqlite3_finalize(stmt);
    return ret;
}

/* Lists the executions whose delayed steps are due. */
int
store_schedule_exec_resume_due(struct store *st, int64_t now, int64_t **ids, size_t *n,
                               struct err *e)
{
    sqlite3_stmt *stmt = store_schedule_prepare(st, store_sql_exec_resume_due, e);
    if (stmt == NULL) {
        return -1;
    }
    sqlite3_bind_int64(stmt, 1, now);
    int ret = store_schedule_collect_ints(st, stmt, ids, n, "list due pipeline steps", e);
    sqlite3_finalize(stmt);
    return ret;
}

/* Lists the executions of a schedule, newest fire first. */
int
store_schedule_exec_list(struct store *st, const char *schedule_id, int limit,
                         struct schedule_execution ***out, struct err *e)
{
    if (limit < 1 || limit > 1000) {
        return err_set(e, ERR_INVALID, "limit: must be between 1 and 1000 (got %d)", limit);
    }
    sqlite3_stmt *stmt = store_schedule_prepare(st, store_sql_exec_list, e);
    if (stmt == NULL) {
        return -1;
    }
    store_bind_text(stmt, 1, schedule_id);
    sqlite3_bind_int(stmt, 2, limit);
    struct schedule_execution **v = xcalloc((size_t)limit + 1, sizeof *v);
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        v[n++] = store_schedule_exec_row(stmt);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        for (size_t i = 0; i < n; i++) {
            schedule_execution_free(v[i]);
        }
        free(v);
        return store_fail(st, rc, e, "list executions of schedule %s", schedule_id);
    }
    *out = v;
    return 0;
}

/* Deletes the ended executions of a schedule beyond the newest keep. */
int
store_schedule_exec_prune(struct store *st, const char *schedule_id, int keep, struct err *e)
{
    if (keep < 1) {
        return err_set(e, ERR_INVALID, "keep: must be at least 1 (got %d)", keep);
    }
    sqlite3_stmt *stmt = store_schedule_prepare(st, store_sql_exec_prune, e);
    if (stmt == NULL) {
        return -1;
    }
    store_bind_text(stmt, 1, schedule_id);
    sqlite3_bind_int(stmt, 2, keep - 1);
    int rc = sqlite3_step(stmt);
    int ret = 0;
    if (rc != SQLITE_DONE) {
        ret = store_fail(st, rc, e, "prune executions of schedule %s", schedule_id);
    }
    sqlite3_finalize(stmt);
    return ret;
}
