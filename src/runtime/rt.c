/* The runtime over libuv: handle lifetimes (free only after close callbacks), pidfd-based
 * watching of processes that are not our children, and coalesced deferred calls. */
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "runtime/rt.h"
#include "runtime/supervise.h"
#include "util/log.h"
#include "util/xmalloc.h"

struct rt_defer_req {
    rt_fn fn;
    void *arg;
    struct rt_defer_req *next;
};

struct rt {
    uv_loop_t *loop;
    uv_idle_t idle; /* runs deferred calls; active only while some are pending */
    struct rt_defer_req *pending;
};

struct rt_timer {
    uv_timer_t handle;
    rt_fn fn;
    void *arg;
};

struct rt_proc {
    union {
        uv_process_t process;
        uv_poll_t poll;
    } h;
    bool adopted;
    bool exited;
    bool freed;
    int pidfd;
    rt_fn on_exit;
    void *arg;
};

struct rt_watch {
    uv_fs_event_t handle;
    rt_fn fn;
    void *arg;
};

static void
rt_idle_cb(uv_idle_t *idle)
{
    struct rt *rt = idle->data;
    struct rt_defer_req *list = rt->pending;
    rt->pending = NULL;
    uv_idle_stop(&rt->idle);
    while (list) {
        struct rt_defer_req *next = list->next;
        list->fn(list->arg);
        free(list);
        list = next;
    }
}

/* Wraps a loop. */
struct rt *
rt_new(void *uv_loop)
{
    struct rt *rt = xcalloc(1, sizeof *rt);
    rt->loop = uv_loop;
    uv_idle_init(rt->loop, &rt->idle);
    rt->idle.data = rt;
    uv_unref((uv_handle_t *)&rt->idle);
    return rt;
}

static void
rt_free_close_cb(uv_handle_t *h)
{
    free(h->data);
}

/* Frees the wrapper (after its idle handle closes). */
void
rt_free(struct rt *rt)
{
    if (rt == NULL) {
        return;
    }
    while (rt->pending) {
        struct rt_defer_req *next = rt->pending->next;
        free(rt->pending);
        rt->pending = next;
    }
    rt->idle.data = rt;
    uv_close((uv_handle_t *)&rt->idle, rt_free_close_cb);
}

/* The wrapped loop. */
void *
rt_loop(struct rt *rt)
{
    return rt->loop;
}

static void
rt_timer_cb(uv_timer_t *h)
{
    struct rt_timer *t = h->data;
    t->fn(t->arg);
}

/* Creates a timer. */
struct rt_timer *
rt_timer_new(struct rt *rt, rt_fn fn, void *arg)
{
    struct rt_timer *t = xcalloc(1, sizeof *t);
    uv_timer_init(rt->loop, &t->handle);
    t->handle.data = t;
    t->fn = fn;
    t->arg = arg;
    return t;
}

/* Starts or restarts a timer. */
void
rt_timer_start(struct rt_timer *t, uint64_t timeout_ms, uint64_t repeat_ms)
{
    uv_timer_start(&t->handle, rt_timer_cb, timeout_ms, repeat_ms);
}

/* Stops a timer. */
void
rt_timer_stop(struct rt_timer *t)
{
    uv_timer_stop(&t->handle);
}

/* Frees a timer after its handle closes. */
void
rt_timer_free(struct rt_timer *t)
{
    if (t == NULL) {
        return;
    }
    uv_timer_stop(&t->handle);
    t->handle.data = t;
    uv_close((uv_handle_t *)&t->handle, rt_free_close_cb);
}

/* Defers a call to the next loop iteration, coalescing duplicates. */
void
rt_defer(struct rt *rt, rt_fn fn, void *arg)
{
    struct rt_defer_req **tail = &rt->pending;
    for (; *tail; tail = &(*tail)->next) {
        if ((*tail)->fn == fn && (*tail)->arg == arg) {
            return;
        }
    }
    struct rt_defer_req *r = xcalloc(1, sizeof *r);
    r->fn = fn;
    r->arg = arg;
    *tail = r;
    uv_idle_start(&rt->idle, rt_idle_cb);
}

static void
rt_proc_close_cb(uv_handle_t *h)
{
    struct rt_proc *p = h->data;
    if (p->pidfd >= 0) {
        close(p->pidfd);
    }
    free(p);
}

static void
rt_proc_exited(struct rt_proc *p)
{
    if (p->exited) {
        return;
    }
    p->exited = true;
    if (!p->freed) {
        p->on_exit(p->arg);
    }
}

static void
rt_proc_exit_cb(uv_process_t *h, int64_t status, int sig)
{
    struct rt_proc *p = h->data;
    log_debug("rt: supervisor pid=%d ended status=%lld signal=%d", h->pid, (long long)status,
              sig);
    rt_proc_exited(p);
}

static void
rt_proc_poll_cb(uv_poll_t *h, int status, int events)
{
    struct rt_proc *p = h->data;
    (void)status, (void)events;
    uv_poll_stop(h);
    rt_proc_exited(p);
}

/* Spawns a supervisor. */
struct rt_proc *
rt_proc_spawn(struct rt *rt, const char *exe, const char *dir, rt_fn on_exit, void *arg,
              int *pid_out, struct err *e)
{
    char *log_path = xasprintf("%s/supervisor.log", dir);
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    free(log_path);
    if (log_fd < 0) {
        err_sys(e, ERR_IO, "open supervisor log in %s", dir);
        return NULL;
    }
    struct rt_proc *p = xcalloc(1, sizeof *p);
    char *args[] = { (char *)exe, SUPERVISE_MODE_ARG, (char *)dir, NULL };
    uv_stdio_container_t stdio[3] = {
        { .flags = UV_IGNORE },
        { .flags = UV_INHERIT_FD, .data.fd = log_fd },
        { .flags = UV_INHERIT_FD, .data.fd = log_fd },
    };
    uv_process_options_t opts = {
        .exit_cb = rt_proc_exit_cb,
        .file = exe,
        .args = args,
        .cwd = dir,
        .flags = UV_PROCESS_DETACHED,
        .stdio_count = 3,
        .stdio = stdio,
    };
    p->pidfd = -1;
    p->on_exit = on_exit;
    p->arg = arg;
    p->h.process.data = p;
    int rc = uv_spawn(rt->loop, &p->h.process, &opts);
    close(log_fd);
    if (rc != 0) {
        err_set(e, ERR_IO, "start supervisor %s: %s", exe, uv_strerror(rc));
        free(p);
        return NULL;
    }
    *pid_out = p->h.process.pid;
    return p;
}

/* Watches a process that is not our child. */
struct rt_proc *
rt_proc_adopt(struct rt *rt, int pid, rt_fn on_exit, void *arg, struct err *e)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) {
        err_sys(e, errno == ESRCH ? ERR_NOTFOUND : ERR_IO, "watch pid %d", pid);
        return NULL;
    }
    struct rt_proc *p = xcalloc(1, sizeof *p);
    p->adopted = true;
    p->pidfd = fd;
    p->on_exit = on_exit;
    p->arg = arg;
    uv_poll_init(rt->loop, &p->h.poll, fd);
    p->h.poll.data = p;
    uv_poll_start(&p->h.poll, UV_READABLE, rt_proc_poll_cb);
    return p;
}

/* Stops watching a process. */
void
rt_proc_free(struct rt_proc *p)
{
    if (p == NULL || p->freed) {
        return;
    }
    p->freed = true;
    if (p->adopted) {
        uv_poll_stop(&p->h.poll);
        uv_close((uv_handle_t *)&p->h.poll, rt_proc_close_cb);
    } else {
        uv_close((uv_handle_t *)&p->h.process, rt_proc_close_cb);
    }
}

static void
rt_watch_cb(uv_fs_event_t *h, const char *name, int events, int status)
{
    struct rt_watch *w = h->data;
    (void)name, (void)events, (void)status;
    w->fn(w->arg);
}

/* Watches a directory. */
struct rt_watch *
rt_watch_dir(struct rt *rt, const char *dir, rt_fn fn, void *arg, struct err *e)
{
    struct rt_watch *w = xcalloc(1, sizeof *w);
    w->fn = fn;
    w->arg = arg;
    uv_fs_event_init(rt->loop, &w->handle);
    w->handle.data = w;
    int rc = uv_fs_event_start(&w->handle, rt_watch_cb, dir, 0);
    if (rc != 0) {
        err_set(e, ERR_IO, "watch %s: %s", dir, uv_strerror(rc));
        uv_close((uv_handle_t *)&w->handle, rt_free_close_cb);
        return NULL;
    }
    return w;
}

/* Stops a watch. */
void
rt_watch_free(struct rt_watch *w)
{
    if (w == NULL) {
        return;
    }
    uv_fs_event_stop(&w->handle);
    w->handle.data = w;
    uv_close((uv_handle_t *)&w->handle, rt_free_close_cb);
}
