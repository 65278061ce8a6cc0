/* The engine: the daemon's brain. Owns the queue and the pool of running tasks, starts each
 * task's supervisor, follows its output, records its end (checkpoint, dependents) and keeps
 * the store the single source of truth: every transition is committed before it is acted on
 * or acknowledged. Runs on the loop thread only. */
#ifndef CORE_ENGINE_H
#define CORE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/task.h"
#include "util/err.h"

struct engine;
struct rt;
struct store;
struct config;
struct sched;

/* Creates the engine for state directory home; exe is this binary (for supervisors). */
struct engine *engine_new(struct rt *rt, const char *home, const char *exe, struct err *e);
/* Reconciles the store with reality (adopts live supervisors, records the ends that happened
 * while no daemon ran, re-queues queued tasks, re-evaluates blocked ones) and starts work. */
int engine_start(struct engine *eng, struct err *e);
/* Stops watching; running agents keep running under their supervisors unless kill_tasks,
 * which cancels them (their ends are recorded when their supervisors report). */
void engine_stop(struct engine *eng, bool kill_tasks);
void engine_free(struct engine *eng);

/* Lifecycle events ("task.queued", "task.running", "task.completed", ...) for listeners such
 * as MCP logging notifications. data is borrowed for the call. */
typedef void (*engine_event_fn)(void *arg, const char *event, const json_t *data);
void engine_set_event_cb(struct engine *eng, engine_event_fn fn, void *arg);

struct store *engine_store(struct engine *eng);
struct rt *engine_rt(struct engine *eng);
struct sched *engine_sched(struct engine *eng);
/* Monotonic ms at which the engine was created. */
int64_t engine_started_mono(struct engine *eng);
const char *engine_home(struct engine *eng);
/* The daemon-wide configuration (defaults < file < daemon environment). */
const struct config *engine_config(struct engine *eng);
/* Re-reads config.json. */
void engine_reload_config(struct engine *eng);
/* Configuration as seen by one client: defaults < file < that client's environment. */
struct config *engine_client_config(struct engine *eng, const json_t *client_env);

/* Creates a task durably (with its dependency edges) and queues or blocks it. t->id,
 * created_at and status are filled in here. deps may be NULL. Inside the caller's transaction
 * the task is queued and announced when that commits, and never if it rolls back. */
int engine_task_submit(struct engine *eng, struct task *t, char *const *deps, struct err *e);
/* Cancels a queued, blocked or running task. A running one is stopped through its
 * supervisor; its end is recorded when the supervisor reports. */
int engine_task_cancel(struct engine *eng, const char *id, const char *reason, struct err *e);
/* Loads a task with the live details of a running one (agent pid, session id so far). */
struct task *engine_task_load(struct engine *eng, const char *id, struct err *e);
/* The newest meaningful output line of a running task, or NULL. Borrowed until the next
 * loop iteration. */
const char *engine_task_last_line(struct engine *eng, const char *id);
/* The directory holding a task's output files (caller frees). */
char *engine_task_dir(struct engine *eng, const char *id);
/* Why the head of the queue is waiting, or NULL when nothing waits. Borrowed. */
const char *engine_waiting_reason(struct engine *eng);

/* Called after every task state change, with the task id. */
typedef void (*engine_watch_fn)(void *arg, const char *task_id, enum task_status status);
struct engine_watcher;
struct engine_watcher *engine_watch(struct engine *eng, engine_watch_fn fn, void *arg);
void engine_unwatch(struct engine *eng, struct engine_watcher *w);

/* The pool: running, capacity, queued per priority, what limits it now. New reference. */
json_t *engine_pool_json(struct engine *eng);

#endif
