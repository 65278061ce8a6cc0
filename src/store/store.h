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
/* Runs fn(arg) once what the current transaction wrote is durable: at once outside a
 * transaction, else right after the outermost commit succeeds, in the order registered. When
 * the transaction rolls back instead, drop(arg) runs (drop may be NULL). Lets a caller nested
 * in someone else's transaction announce its work only if it lands. */
typedef void (*store_hook_fn)(void *arg);
void store_after_commit(struct store *st, store_hook_fn fn, store_hook_fn drop, void *arg);
/* Whether a transaction is open (store_begin not yet matched). */
bool store_in_transaction(const struct store *st);

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
 * matching the filter without limit/offset. Prompts are loaded in full, environments never
 * (t->env stays NULL: listings show none). A bad filter is
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
/* Moves at most limit (<= 0: every) blocked dependents of dep_id whose dependencies have all
 * completed to queued, highest priority and oldest first, in one statement (call it after
 * dep_id itself is recorded completed). *out is a NULL-terminated array (NULL when none), in
 * queue order, of partial tasks holding id, status, priority, agent, continue_from, queue_seq
 * and updated_at; free each with task_free. Fewer than limit returned: none is left. */
int store_dep_unblock(struct store *st, const char *dep_id, int64_t now, int limit,
                      struct task ***out, struct err *e);
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

/* ---- schedules ----
 * Schedules and their executions (one row per fire time: run, missed or skipped). Status,
 * type and policy are stored by name; the CHECK constraints refuse anything else. The
 * execution row's UNIQUE (schedule_id, fire_time) is what claims a fire exactly once. */

#define SCHEDULE_ID_PREFIX "schedule-"
#define SCHEDULE_ID_LEN    45 /* "schedule-" + 36 */
#define SCHEDULE_WORD_MAX  16 /* status, type, policy names */

struct schedule {
    char id[SCHEDULE_ID_LEN + 1];
    char status[SCHEDULE_WORD_MAX]; /* active | paused | completed | cancelled | expired */
    char type[SCHEDULE_WORD_MAX];   /* cron | one_time */
    char policy[SCHEDULE_WORD_MAX]; /* skip | catchup | fail */
    char *cron_expression;          /* cron only */
    char *timezone;                 /* IANA name */
    int64_t scheduled_at;           /* one_time: the fire; cron: optional start; 0 = unset */
    int64_t max_runs;               /* 0 = unlimited */
    int64_t run_count;
    int64_t last_run_at; /* times: UTC epoch ms, 0 = unset */
    int64_t next_run_at;
    int64_t expires_at;
    char *after_schedule_id;
    json_t *template; /* the task settings as JSON {prompt, priority, agent, ...}; required */
    json_t *steps;    /* pipelines: array of resolved step objects; NULL otherwise */
    json_t *env;      /* the creating client's environment: secret, never shown */
    char *client_cwd;
    char *reason; /* why it was cancelled, expired or completed early */
    int64_t created_at;
    int64_t updated_at;
};

struct schedule_execution {
    int64_t id;
    char schedule_id[SCHEDULE_ID_LEN + 1];
    int64_t fire_time;
    /* triggered (its run goes on) | completed | failed | cancelled | missed | skipped */
    char status[SCHEDULE_WORD_MAX];
    int64_t executed_at; /* 0 = unset */
    json_t *task_ids;    /* array of task id strings, or NULL */
    json_t *covers;      /* catch-up: array of the fire times (ms) it covers, or NULL */
    char *error;
    int next_step;     /* pipelines: 1-based number of the first step not created yet,
                        * 0 = none pending */
    char *wait_task;   /* the task whose completion starts next_step, or NULL */
    int64_t resume_at; /* when next_step is due, 0 = not yet known */
    int64_t created_at;
    int64_t updated_at;
};

void schedule_free(struct schedule *s);
void schedule_execution_free(struct schedule_execution *x);

/* Inserts a schedule (every field). ERR_INVALID when template is not an object or steps/env
 * have the wrong type; ERR_STORE for a duplicate id or a value the schema refuses. */
int store_schedule_insert(struct store *st, const struct schedule *s, struct err *e);
/* Writes the mutable fields: status, run_count, last_run_at, next_run_at, reason, env,
 * updated_at. ERR_NOTFOUND when there is no such row. */
int store_schedule_update(struct store *st, const struct schedule *s, struct err *e);
/* Loads one schedule; ERR_NOTFOUND when absent. Free with schedule_free. */
struct schedule *store_schedule_load(struct store *st, const char *id, struct err *e);
/* Loads schedules newest first, all or one status (NULL = any); limit 1..1000, offset >= 0.
 * *out is NULL-terminated (free each with schedule_free, then the array); *total (may be NULL)
 * counts the matches without limit/offset. */
int store_schedule_list(struct store *st, const char *status, int limit, int offset,
                        struct schedule ***out, int64_t *total, struct err *e);
/* Ids of active schedules with next_run_at <= now, earliest first, at most limit (1..1000). */
int store_schedule_due(struct store *st, int64_t now, int limit, char ***out, struct err *e);
/* Ids of schedules in status (all of them; for start-up and clock-jump passes). */
int store_schedule_ids_by_status(struct store *st, const char *status, char ***out, struct err *e);
/* The earliest instant the scheduler must wake for: the smallest next_run_at of an active
 * schedule or resume_at of an execution still running; 0 when there is none. */
int store_schedule_next_wake(struct store *st, int64_t *when, struct err *e);
/* True when some active schedule was last written after now (the wall clock went back while
 * no daemon watched). */
bool store_schedule_written_after(struct store *st, int64_t now);

/* Every active cron schedule with only its timing fields filled (id, status, type,
 * cron_expression, timezone, scheduled_at, next_run_at, expires_at), so a clock-jump pass
 * parses no templates or environments. NULL-terminated; free each with schedule_free. */
int store_schedule_active_cron(struct store *st, struct schedule ***out, struct err *e);
/* Sets next_run_at (0 = none) and updated_at of an active schedule; no-op for other states. */
int store_schedule_set_next(struct store *st, const char *id, int64_t next, int64_t now,
                            struct err *e);

/* Claims a fire: inserts x (x->id is filled in) unless (schedule_id, fire_time) is already
 * there, which sets *claimed false and is not an error. Maps x->task_ids to x. */
int store_schedule_exec_insert(struct store *st, struct schedule_execution *x, bool *claimed,
                               struct err *e);
/* Writes status, executed_at, task_ids (mapping new ones), covers, error, next_step,
 * wait_task, resume_at and updated_at of x. ERR_NOTFOUND when absent. */
int store_schedule_exec_update(struct store *st, const struct schedule_execution *x, struct err *e);
/* Loads one execution; ERR_NOTFOUND when absent. */
struct schedule_execution *store_schedule_exec_load(struct store *st, int64_t id, struct err *e);
/* The execution a task was created by; *id = 0 when none. */
int store_schedule_exec_by_task(struct store *st, const char *task_id, int64_t *id, struct err *e);
/* Ids of executions still running (status triggered), of one schedule or of all (NULL). */
int store_schedule_exec_open(struct store *st, const char *schedule_id, int64_t **ids, size_t *n,
                             struct err *e);
/* Ids of running executions whose delayed pipeline steps are due (resume_at <= now). */
int store_schedule_exec_resume_due(struct store *st, int64_t now, int64_t **ids, size_t *n,
                                   struct err *e);
/* The executions of a schedule, newest fire first, at most limit (1..1000). NULL-terminated;
 * free each with schedule_execution_free, then the array. */
int store_schedule_exec_list(struct store *st, const char *schedule_id, int limit,
                             struct schedule_execution ***out, struct err *e);
/* Keeps the newest keep ended executions of a schedule, deleting older ones. */
int store_schedule_exec_prune(struct store *st, const char *schedule_id, int keep, struct err *e);

#endif
