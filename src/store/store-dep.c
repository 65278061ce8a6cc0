/* Dependency edges between tasks: "task depends on dep". Stores and answers questions about
 * edges; does not decide what a failed dependency means for its dependents (core/ does), and
 * does not look for cycles (core/ does, from store_dep_each_open). */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store-private.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define STORE_TERMINAL "('completed','failed','cancelled')"
#define STORE_LIVE     "('queued','blocked','running')"

/* One edge; a dep that is already terminal is resolved at once with its status. Inserts
 * nothing when the dep does not exist (the caller tells that from a duplicate). */
static const char store_sql_dep_insert[] =
    "INSERT INTO task_dependencies (task_id, depends_on, created_at, resolved_at, resolution) "
    "SELECT ?1, id, ?3, CASE WHEN status IN " STORE_TERMINAL " THEN ?3 END, "
    "CASE WHEN status IN " STORE_TERMINAL " THEN status ELSE 'pending' END "
    "FROM tasks WHERE id = ?2 ON CONFLICT (task_id, depends_on) DO NOTHING";
static const char store_sql_dep_list[] =
    "SELECT depends_on FROM task_dependencies WHERE task_id = ?1 ORDER BY id";
static const char store_sql_dep_dependents[] =
    "SELECT task_id FROM task_dependencies WHERE depends_on = ?1 ORDER BY id";
static const char store_sql_dep_unmet[] =
    "SELECT d.depends_on FROM task_dependencies d JOIN tasks t ON t.id = d.depends_on "
    "WHERE d.task_id = ?1 AND t.status <> 'completed' ORDER BY d.id";
static const char store_sql_dep_resolve[] =
    "UPDATE task_dependencies SET resolution = ?2, resolved_at = ?3 "
    "WHERE depends_on = ?1 AND resolution = 'pending'";
/* Starts from the live tasks (status index), so its cost follows the live set, not history. */
static const char store_sql_dep_open[] =
    "SELECT d.task_id, d.depends_on FROM tasks a "
    "JOIN task_dependencies d ON d.task_id = a.id JOIN tasks b ON b.id = d.depends_on "
    "WHERE a.status IN " STORE_LIVE " AND b.status IN " STORE_LIVE;

/* Blocked dependents of ?1 whose dependencies have all completed become queued, at most ?3 of
 * them (-1: all), highest priority and oldest first: one statement per batch, so a task with a
 * thousand dependents releases the first few in a small transaction and the rest after.
 * CROSS JOIN keeps SQLite starting from the edges of ?1, so the cost follows the number of
 * dependents, not the number of blocked tasks (a 1,000-task chain has 999 of those). */
static const char store_sql_dep_unblock[] =
    "UPDATE tasks SET status = 'queued', updated_at = ?2 WHERE id IN ("
    "SELECT t.id FROM task_dependencies d CROSS JOIN tasks t ON t.id = d.task_id "
    "WHERE d.depends_on = ?1 AND t.status = 'blocked' "
    "AND NOT EXISTS (SELECT 1 FROM task_dependencies u JOIN tasks v ON v.id = u.depends_on "
    "WHERE u.task_id = t.id AND v.status <> 'completed') "
    "ORDER BY t.priority, t.queue_seq LIMIT ?3) "
    "RETURNING id, priority, agent, continue_from, queue_seq";

/* Inserts one edge, telling a missing dep from a duplicate edge. */
static int
store_dep_insert(struct store *st, const char *task_id, const char *dep, int64_t now, struct err *e)
{
    sqlite3_stmt *stmt = store_stmt(st, STORE_STMT_DEP_INSERT, store_sql_dep_insert, e);
    if (stmt == NULL) {
        return -1;
    }
    store_bind_text(stmt, 1, task_id);
    store_bind_text(stmt, 2, dep);
    sqlite3_bind_int64(stmt, 3, now);
    int rc = sqlite3_step(stmt);
    int changes = sqlite3_changes(st->db);
    if (rc != SQLITE_DONE) {
        store_fail(st, rc, e, "add dependency of task %s on %s", task_id, dep);
        store_stmt_done(stmt);
        return -1;
    }
    store_stmt_done(stmt);
    if (changes == 0 && !store_task_exists(st, dep)) {
        return err_set(e, ERR_NOTFOUND, "dependsOn: task %s does not exist", dep);
    }
    return 0; /* changes == 0 and the dep exists: the edge was already there */
}

/* Inserts the edges of task_id, all or none. */
int
store_dep_add(struct store *st, const char *task_id, char *const *deps, int64_t now, struct err *e)
{
    size_t n = deps != NULL ? strv_len(deps) : 0;
    if (n == 0) {
        return 0;
    }
    if (n > TASK_DEPS_MAX) {
        return err_set(e, ERR_INVALID, "dependsOn: at most %d dependencies", TASK_DEPS_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(deps[i], task_id) == 0) {
            return err_set(e, ERR_INVALID, "dependsOn: task %s cannot depend on itself", task_id);
        }
    }
    /* Nested in the caller's transaction when there is one, so a failure here undoes the
     * caller's insert of the task too; atomic on its own otherwise. */
    if (store_begin(st, e) != 0) {
        return -1;
    }
    if (!store_task_exists(st, task_id)) {
        err_set(e, ERR_NOTFOUND, "task %s does not exist", task_id);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (store_dep_insert(st, task_id, deps[i], now, e) != 0) {
            goto fail;
        }
    }
    return store_commit(st, e);
fail:
    store_rollback(st);
    return -1;
}

/* Runs an id-list query keyed by one task id. */
static int
store_dep_ids(struct store *st, enum store_stmt_id id, const char *sql, const char *task_id,
              char ***out, const char *what, struct err *e)
{
    sqlite3_stmt *stmt = store_stmt(st, id, sql, e);
    if (stmt == NULL) {
        return -1;
    }
    store_bind_text(stmt, 1, task_id);
    int ret = store_collect_ids(st, stmt, out, what, e);
    store_stmt_done(stmt);
    if (ret != 0) {
        err_wrap(e, "task %s", task_id);
    }
    return ret;
}

/* Lists the ids task_id depends on, in the order they were added. */
int
store_dep_list(struct store *st, const char *task_id, char ***out, struct err *e)
{
    return store_dep_ids(st, STORE_STMT_DEP_LIST, store_sql_dep_list, task_id, out,
                         "list dependencies", e);
}

/* Lists the ids that depend on task_id. */
int
store_dep_dependents(struct store *st, const char *task_id, char ***out, struct err *e)
{
    return store_dep_ids(st, STORE_STMT_DEP_DEPENDENTS, store_sql_dep_dependents, task_id, out,
                         "list dependents", e);
}

/* Lists the dependencies of task_id that have not completed. */
int
store_dep_unmet(struct store *st, const char *task_id, char ***out, struct err *e)
{
    return store_dep_ids(st, STORE_STMT_DEP_UNMET, store_sql_dep_unmet, task_id, out,
                         "list unmet dependencies", e);
}

/* Marks every pending edge pointing at dep_id resolved with the dep's final status. */
int
store_dep_resolve(struct store *st, const char *dep_id, const char *resolution, int64_t now,
                  struct err *e)
{
    enum task_status s;
    if (task_status_parse(resolution, &s) != 0 || !task_status_is_terminal(s)) {
        return err_set(e, ERR_INVALID, "resolution: must be completed, failed or cancelled");
    }
    sqlite3_stmt *stmt = store_stmt(st, STORE_STMT_DEP_RESOLVE, store_sql_dep_resolve, e);
    if (stmt == NULL) {
        return -1;
    }
    store_bind_text(stmt, 1, dep_id);
    store_bind_text(stmt, 2, resolution);
    sqlite3_bind_int64(stmt, 3, now);
    int rc = sqlite3_step(stmt);
    int ret = 0;
    if (rc != SQLITE_DONE) {
        ret = store_fail(st, rc, e, "resolve dependencies on task %s", dep_id);
    }
    store_stmt_done(stmt);
    return ret;
}

/* Calls fn for every edge whose two tasks are both live. The rows are read first and fn runs
 * after the statement is reset, so fn may call back into the store. */
int
store_dep_each_open(struct store *st, int (*fn)(void *arg, const char *task_id, const char *dep_id),
                    void *arg, struct err *e)
{
    sqlite3_stmt *stmt = store_stmt(st, STORE_STMT_DEP_OPEN, store_sql_dep_open, e);
    char **pairs = NULL;
    size_t n = 0, cap = 0;
    int rc, ret = -1;
    if (stmt == NULL) {
        return -1;
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (n + 2 > cap) {
            cap = cap == 0 ? 32 : cap * 2;
            pairs = xrealloc(pairs, cap * sizeof *pairs);
        }
        pairs[n++] = store_col_text(stmt, 0);
        pairs[n++] = store_col_text(stmt, 1);
    }
    if (rc != SQLITE_DONE) {
        store_fail(st, rc, e, "list open dependencies");
        store_stmt_done(stmt);
        goto out;
    }
    store_stmt_done(stmt);
    for (size_t i = 0; i < n; i += 2) {
        if (fn(arg, pairs[i], pairs[i + 1]) != 0) {
            break;
        }
    }
    ret = 0;
out:
    for (size_t i = 0; i < n; i++) {
        free(pairs[i]);
    }
    free(pairs);
    return ret;
}

static int
store_dep_cmp_queue_order(const void *a, const void *b)
{
    const struct task *x = *(struct task *const *)a, *y = *(struct task *const *)b;
    if (x->priority != y->priority) {
        return x->priority < y->priority ? -1 : 1;
    }
    return x->queue_seq < y->queue_seq ? -1 : x->queue_seq > y->queue_seq;
}

/* Queues at most limit blocked dependents of dep_id that have nothing left to wait for. */
int
store_dep_unblock(struct store *st, const char *dep_id, int64_t now, int limit,
                  struct task ***out, struct err *e)
{
    sqlite3_stmt *stmt = store_stmt(st, STORE_STMT_DEP_UNBLOCK, store_sql_dep_unblock, e);
    struct task **v = NULL;
    size_t n = 0;
    int rc;
    if (stmt == NULL) {
        return -1;
    }
    store_bind_text(stmt, 1, dep_id);
    sqlite3_bind_int64(stmt, 2, now);
    sqlite3_bind_int(stmt, 3, limit > 0 ? limit : -1);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct task *t = task_new();
        str_copy(t->id, (const char *)sqlite3_column_text(stmt, 0), sizeof t->id);
        t->priority = sqlite3_column_int(stmt, 1);
        t->agent = store_col_text(stmt, 2);
        t->continue_from = store_col_text(stmt, 3);
        t->queue_seq = sqlite3_column_int64(stmt, 4);
        t->status = TASK_QUEUED;
        t->updated_at = now;
        v = xrealloc(v, (n + 2) * sizeof *v);
        v[n++] = t;
        v[n] = NULL;
    }
    if (rc != SQLITE_DONE) {
        store_fail(st, rc, e, "unblock the dependents of task %s", dep_id);
        store_stmt_done(stmt);
        for (size_t i = 0; i < n; i++) {
            task_free(v[i]);
        }
        free(v);
        return -1;
    }
    store_stmt_done(stmt);
    if (n > 1) {
        qsort(v, n, sizeof *v, store_dep_cmp_queue_order); /* RETURNING has no order */
    }
    *out = v;
    return 0;
}
