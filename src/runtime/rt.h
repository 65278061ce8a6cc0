/* The runtime: the engine's window on the event loop. Timers, deferred calls, supervisor
 * processes (spawned, or adopted after a daemon restart) and directory watches, without
 * exposing libuv to the layers above. All calls and callbacks happen on the loop thread. */
#ifndef RUNTIME_RT_H
#define RUNTIME_RT_H

#include <stdbool.h>
#include <stddef.h>
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

/* ---- running a short command and capturing its output ---- */

struct rt_capture;

/* What a finished capture saw. The buffers are borrowed for the callback only. */
struct rt_capture_result {
    int exit_status; /* the exit code, or -1 when a signal ended the process */
    int term_signal; /* the signal that ended it, 0 when it exited */
    bool timed_out;  /* killed (SIGKILL to its process group) because timeout_ms passed */
    bool truncated;  /* output beyond max_bytes was read and dropped */
    const char *out; /* stdout, NUL-terminated, at most max_bytes */
    size_t out_len;
    const char *err; /* stderr, likewise */
    size_t err_len;
};

typedef void (*rt_capture_cb)(void *arg, const struct rt_capture_result *res);

/* Runs argv (argv[0] a path; no shell, no PATH search) with environment envp (NULL-terminated
 * "K=V"; NULL = an empty environment) in its own process group, stdin from /dev/null, and
 * collects up to max_bytes of stdout and of stderr without blocking the loop. cb runs once, on
 * the loop, after the process has ended and both pipes are drained, or after timeout_ms when
 * the group is killed then. On failure to start (ERR_NOTFOUND when argv[0] does not exist,
 * ERR_IO otherwise) returns NULL with e set and cb is never called. */
struct rt_capture *rt_run_capture(struct rt *rt, char *const *argv, char *const *envp,
                                  uint64_t timeout_ms, size_t max_bytes, rt_capture_cb cb,
                                  void *arg, struct err *e);
/* Gives up on a capture whose callback has not run: its process group is killed, the callback
 * never runs, memory is released once libuv has closed the handles. Must not be called from
 * or after the callback. */
void rt_capture_cancel(struct rt_capture *c);

/* Calls fn(arg) whenever the wall clock (CLOCK_REALTIME) is set, and when the machine resumes
 * from suspend (the kernel reports both to a timerfd armed with TFD_TIMER_CANCEL_ON_SET).
 * Monotonic timers cannot see either. */
struct rt_clock_watch;
struct rt_clock_watch *rt_clock_watch(struct rt *rt, rt_fn fn, void *arg, struct err *e);
void rt_clock_watch_free(struct rt_clock_watch *w);

#endif
