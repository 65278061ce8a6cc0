/* Checkpoints: what a task left behind when it reached a terminal state (output tails, result,
 * git state), one row per terminal transition. Stores and loads them; gathering the git state
 * and the tails is the caller's job. */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store-private.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define STORE_CHECKPOINT_GIT_CHANGED_MAX 100

/* Inserts nothing when the task does not exist, which the caller reports as not found. */
static const char store_sql_checkpoint_insert[] =
    "INSERT INTO task_checkpoints (task_id, status, reason, exit_code, output_tail, "
    "error_tail, result_text, session_id, git_branch, git_commit, git_changed, created_at) "
    "SELECT id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12 FROM tasks WHERE id = ?1";
static const char store_sql_checkpoint_load[] =
    "SELECT task_id, status, reason, exit_code, output_tail, error_tail, result_text, "
    "session_id, git_branch, git_commit, git_changed, created_at FROM task_checkpoints "
    "WHERE task_id = ?1 ORDER BY id DESC LIMIT 1";

/* Frees a checkpoint and everything it owns; NULL is allowed. */
void
checkpoint_free(struct checkpoint *c)
{
    if (c == NULL) {
        return;
    }
    free(c->status);
    free(c->reason);
    free(c->output_tail);
    free(c->error_tail);
    free(c->result_text);
    free(c->session_id);
    free(c->git_branch);
    free(c->git_commit);
    json_decref(c->git_changed);
    free(c);
}

/* Checks git_changed: NULL, or an array of at most 100 strings. */
static int
store_checkpoint_check_changed(const json_t *changed, struct err *e)
{
    if (changed == NULL) {
        return 0;
    }
    if (!json_is_array(changed)) {
        return err_set(e, ERR_INVALID, "checkpoint git_changed: must be an array of strings");
    }
    if (json_array_size(changed) > STORE_CHECKPOINT_GIT_CHANGED_MAX) {
        return err_set(e, ERR_INVALID, "checkpoint git_changed: at most %d entries",
                       STORE_CHECKPOINT_GIT_CHANGED_MAX);
    }
    size_t i;
    json_t *v;
    json_array_foreach(changed, i, v)
    {
        if (!json_is_string(v)) {
            return err_set(e, ERR_INVALID, "checkpoint git_changed: must be an array of strings");
        }
    }
    return 0;
}

/* Saves a checkpoint of a stored task. */
int
store_checkpoint_save(struct store *st, const struct checkpoint *c, struct err *e)
{
    sqlite3_stmt *stmt = NULL;
    char *changed = NULL;
    int ret = -1, rc;
    enum task_status s;

    if (task_status_parse(c->status, &s) != 0 || !task_status_is_terminal(s)) {
        return err_set(e, ERR_INVALID,
                       "checkpoint of task %s: status: must be completed, failed or cancelled",
                       c->task_id);
    }
    if (store_checkpoint_check_changed(c->git_changed, e) != 0) {
        return err_wrap(e, "task %s", c->task_id);
    }
    stmt = store_stmt(st, STORE_STMT_CHECKPOINT_INSERT, store_sql_checkpoint_insert, e);
    if (stmt == NULL) {
        goto out;
    }
    if (c->git_changed != NULL) {
        changed = json_dumps(c->git_changed, JSON_COMPACT);
        if (changed == NULL) {
            abort(); /* only on out-of-memory: the array was checked above */
        }
    }
    store_bind_text(stmt, 1, c->task_id);
    store_bind_text(stmt, 2, c->status);
    store_bind_text(stmt, 3, c->reason);
    if (c->has_exit_code) {
        sqlite3_bind_int(stmt, 4, c->exit_code);
    }
    store_bind_text(stmt, 5, c->output_tail);
    store_bind_text(stmt, 6, c->error_tail);
    store_bind_text(stmt, 7, c->result_text);
    store_bind_text(stmt, 8, c->session_id);
    store_bind_text(stmt, 9, c->git_branch);
    store_bind_text(stmt, 10, c->git_commit);
    store_bind_text(stmt, 11, changed);
    sqlite3_bind_int64(stmt, 12, c->created_at);
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) {
        store_fail(st, rc, e, "save checkpoint of task %s", c->task_id);
        goto out;
    }
    if (sqlite3_changes(st->db) == 0) {
        err_set(e, ERR_NOTFOUND, "save checkpoint: task %s does not exist", c->task_id);
        goto out;
    }
    ret = 0;
out:
    store_stmt_done(stmt);
    free(changed);
    return ret;
}

/* Loads the latest checkpoint of a task, or NULL with ERR_NOTFOUND. */
struct checkpoint *
store_checkpoint_load(struct store *st, const char *task_id, struct err *e)
{
    struct checkpoint *c = NULL;
    sqlite3_stmt *stmt = store_stmt(st, STORE_STMT_CHECKPOINT_LOAD, store_sql_checkpoint_load, e);
    if (stmt == NULL) {
        return NULL;
    }
    store_bind_text(stmt, 1, task_id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) {
        err_set(e, ERR_NOTFOUND, "task %s has no checkpoint", task_id);
        goto out;
    }
    if (rc != SQLITE_ROW) {
        store_fail(st, rc, e, "load checkpoint of task %s", task_id);
        goto out;
    }
    c = xcalloc(1, sizeof *c);
    const char *id = (const char *)sqlite3_column_text(stmt, 0);
    str_copy(c->task_id, id != NULL ? id : "", sizeof c->task_id);
    c->status = store_col_text(stmt, 1);
    c->reason = store_col_text(stmt, 2);
    c->has_exit_code = sqlite3_column_type(stmt, 3) != SQLITE_NULL;
    c->exit_code = c->has_exit_code ? sqlite3_column_int(stmt, 3) : 0;
    c->output_tail = store_col_text(stmt, 4);
    c->error_tail = store_col_text(stmt, 5);
    c->result_text = store_col_text(stmt, 6);
    c->session_id = store_col_text(stmt, 7);
    c->git_branch = store_col_text(stmt, 8);
    c->git_commit = store_col_text(stmt, 9);
    if (sqlite3_column_type(stmt, 10) != SQLITE_NULL) {
        json_error_t je;
        c->git_changed = json_loadb((const char *)sqlite3_column_text(stmt, 10),
                                    (size_t)sqlite3_column_bytes(stmt, 10), 0, &je);
        if (!json_is_array(c->git_changed)) {
            err_set(e, ERR_STORE, "load checkpoint of task %s: git_changed is not a JSON array",
                    task_id);
            checkpoint_free(c);
            c = NULL;
            goto out;
        }
    }
    c->created_at = store_col_int64(stmt, 11, 0);
out:
    store_stmt_done(stmt);
    return c;
}
