/* The runtime: the engine's window on the event loop. Timers, deferred calls, supervisor
 * processes (spawned, or adopted after a daemon restart) and directory watches, without
 * exposing libuv to the layers above. All calls and callbacks happen on the loop thread. */
#ifndef RUNTIME_RT_H
#define RUNTIME_RT_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

struct rt;
struct rt_timer;
struct rt_proc;
struct rt_watch;

/* Wraps an existing uv_loop_t (passed as void * so callers need not include uv.h). */
struct rt *rt_new(void *uv_loop);
/* Frees the wrapper; every timer, proc and watch must be freed first. */
void rt_free(struct rt *rt);
void *rt_loop(struct rt *rt);

typedef void (*rt_fn)(void *arg);

/* A one-shot or repeating timer. Freed asynchronously (safe inside its own callback). */
struct rt_timer *rt_timer_new(struct rt *rt, rt_fn fn, void *arg);
void rt_timer_start(struct rt_timer *t, uint64_t timeout_ms, uint64_t repeat_ms);
void rt_timer_stop(struct rt_timer *t);
void rt_timer_free(struct rt_timer *t);

/* Runs fn(arg) once on the next loop iteration; several requests before it runs coalesce
 * into one call when fn and arg are the same. */
void rt_defer(struct rt *rt, rt_fn fn, void *arg);

/* Starts `exe __supervise dir` detached (own session), stdout/stderr to dir/supervisor.log.
 * on_exit(arg) runs once when the supervisor has ended. */
struct rt_proc *rt_proc_spawn(struct rt *rt, const char *exe, const char *dir, rt_fn on_exit,
                              void *arg, int *pid_out, struct err *e);
/* Watches a process that is not our child (a supervisor started by an earlier daemon) with a
 * pidfd; on_exit runs once when it ends. Fails with ERR_NOTFOUND if it is already gone. */
struct rt_proc *rt_proc_adopt(struct rt *rt, int pid, rt_fn on_exit, void *arg, struct err *e);
/* Stops watching (the process keeps running). Safe inside on_exit. */
void rt_proc_free(struct rt_proc *p);

/* Calls fn(arg) when anything in dir changes (inotify). */
struct rt_watch *rt_watch_dir(struct rt *rt, const char *dir, rt_fn fn, void *arg,
                              struct err *e);
void rt_watch_free(struct rt_watch *w);

#endif
