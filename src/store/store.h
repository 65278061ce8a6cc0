/* The store: the only code that knows SQLite. Opens the database (WAL, busy timeout, foreign
 * keys, STRICT tables), applies versioned migrations in a transaction, and reads and writes
 * tasks, dependency edges and checkpoints. Every function that changes more than one row does
 * it in one transaction. Not thread-safe: one store per thread (the daemon's loop thread). */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/task.h"
#include "util/err.h"

struct store;

/* Opens (creating if needed) the database at path and migrates it to the latest schema.
 * path ":memory:" is allowed for tests. */
struct store *store_open(const char *path, struct err *e);
void store_close(struct store *st);
/* The schema version after migrations. */
int store_schema_version(struct store *st);

/* Transactions nest by counting: only the outermost begin/commit touch SQLite. begin takes the
 * write lock at once (BEGIN IMMEDIATE). A rollback at any level dooms the whole transaction:
 * the outer levels' commits then fail (ERR_STORE) and the outermost level rolls back. After a
 * failed outermost commit the transaction is already rolled back; a store_rollback after it is
 * a harmless no-op, as is one with no transaction open. */
int store_begin(struct store *st, struct err *e);
int store_commit(struct store *st, struct err *e);
void store_rollback(struct store *st);

/* Inserts a new task row (all fields of t; t->queue_seq is assigned and written back: one
 * more than any stored task, so FIFO within a priority survives restarts). ERR_INVALID when
 * t->prompt is NULL or t->env is not an object; ERR_STORE for a duplicate id or a value the
 * schema refuses (status/priority/end out of range). */
int store_task_insert(struct store *st, struct task *t, struct err *e);
/* Writes every mutable field of t (status, times, process, end, stream results, output
 * accounting, prompt, env; all but id, created_at and queue_seq). Guarded: fails with
 * ERR_STATE if the stored row is already terminal and t is a different status (so a terminal
 * state is never overwritten); ERR_NOTFOUND when there is no such row. */
int store_task_update(struct store *st, const struct task *t, struct err *e);
/* Loads one task; ERR_NOTFOUND when absent. Caller frees with task_free. */
struct task *store_task_load(struct store *st, const char *id, struct err *e);
/* True when the task is stored; false when it is not or the read fails. */
bool store_task_exists(struct store *st, const char *id);

struct task_filter {
    int status; /* -1 = any, else enum task_status */
    int limit;  /* 1..1000 */
    int offset; /* >= 0 */
};
/* Loads tasks newest first (created_at DESC, then queue_seq DESC: insertion order breaks ties
 * within a millisecond). *out is a NULL-terminated array of owned tasks (free each with
 * task_free, then the array with free). *total (total may be NULL) is the number of tasks
 * matching the filter without limit/offset. Prompts are loaded in full. A bad filter is
 * ERR_INVALID naming the field. Uses an index: cost follows limit + offset, not the table. */
int store_task_list(struct store *st, const struct task_filter *f, struct task ***out,
                    int64_t *total, struct err *e);
/* Counts tasks per status into counts[TASK_STATUS_COUNT], in constant time (the counters are
 * kept by triggers). */
int store_task_count_by_status(struct store *st, int64_t counts[TASK_STATUS_COUNT], struct err *e);
/* Ids of tasks in a given status, in queue order (priority ASC, queue_seq ASC) for queued and
 * blocked, oldest first (created_at, queue_seq) otherwise. NULL-terminated, owned strings
 * (strv_free). */
int store_task_ids_by_status(struct store *st, enum task_status status, char ***out, struct err *e);

/* Dependency edges (task depends on dep). */
/* Inserts the edges for task, all or none (nested in the caller's transaction when there is
 * one, so a failure dooms it). task must exist (ERR_NOTFOUND); every dep must exist
 * (ERR_NOTFOUND "dependsOn: task <id> does not exist"); a task depending on itself or more than
 * TASK_DEPS_MAX deps is ERR_INVALID; an edge that is already there is kept as it is. The
 * resolution of an edge to an already-terminal task is filled in at once. deps may be NULL. */
int store_dep_add(struct store *st, const char *task_id, char *const *deps, int64_t now,
                  struct err *e);
/* The ids task depends on (NULL-terminated, strv_free). */
int store_dep_list(struct store *st, const char *task_id, char ***out, struct err *e);
/* The ids depending on task (NULL-terminated, strv_free). */
int store_dep_dependents(struct store *st, const char *task_id, char ***out, struct err *e);
/* The dependencies of task that are not yet completed (NULL-terminated, strv_free). */
int store_dep_unmet(struct store *st, const char *task_id, char ***out, struct err *e);
/* Marks the still-pending edges pointing at dep_id resolved with the dep's final status name
 * (completed | failed | cancelled, else ERR_INVALID). */
int store_dep_resolve(struct store *st, const char *dep_id, const char *resolution, int64_t now,
                      struct err *e);
/* All edges (task, dep) whose both ends are non-terminal, for cycle checks: calls fn for each.
 * Kept small by construction: terminal tasks cannot take part in a new cycle. fn returns 0 to
 * go on, anything else to stop early (not an error). The edges are read before fn runs, so fn
 * may call the store. */
int store_dep_each_open(struct store *st,
                        int (*fn)(void *arg, const char *task_id, const char *dep_id), void *arg,
                        struct err *e);

/* Checkpoints: one row per terminal transition of a task. */
struct checkpoint {
    char task_id[TASK_ID_LEN + 1];
    char *status; /* completed | failed | cancelled */
    char *reason;
    bool has_exit_code;
    int exit_code;
    char *output_tail; /* last 50 lines of stdout */
    char *error_tail;  /* last 50 lines of stderr */
    char *result_text;
    char *session_id;
    char *git_branch;
    char *git_commit;
    json_t *git_changed; /* array of strings, at most 100; NULL when not a git repository */
    int64_t created_at;
};
void checkpoint_free(struct checkpoint *c);
/* Saves c (borrowed). ERR_INVALID when status is not terminal or git_changed is not an array
 * of at most 100 strings; ERR_NOTFOUND when the task does not exist. */
int store_checkpoint_save(struct store *st, const struct checkpoint *c, struct err *e);
/* The latest checkpoint of a task, or NULL with ERR_NOTFOUND. */
struct checkpoint *store_checkpoint_load(struct store *st, const char *task_id, struct err *e);

/* Removes terminal tasks that ended before cutoff (completed_at, or updated_at when unset) and
 * have no non-terminal dependents, with their edges and checkpoints; writes the removed ids
 * into *removed (NULL-terminated, strv_free) so their files can go too. One statement. */
int store_task_prune(struct store *st, int64_t cutoff, char ***removed, struct err *e);

#endif
