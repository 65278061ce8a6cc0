/* The runtime over libuv: handle lifetimes (free only after close callbacks), pidfd-based
 * watching of processes that are not our children, and coalesced deferred calls. */
#include <sys/syscall.h>
#include <sys/timerfd.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "runtime/rt.h"
#include "runtime/supervise.h"
#include "util/buf.h"
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
        /* A failed uv_spawn still initialised the handle: it is freed in its close callback. */
        err_set(e, ERR_IO, "start supervisor %s: %s", exe, uv_strerror(rc));
        p->freed = true;
        uv_close((uv_handle_t *)&p->h.process, rt_proc_close_cb);
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

/* ---- running a short command and capturing its output ---- */

#define RT_CAPTURE_CHUNK 16384

struct rt_capture {
    uv_process_t process;
    uv_pipe_t pipes[2]; /* stdout, stderr */
    uv_timer_t timer;
    int open_handles; /* freed when the last close callback has run */
    bool pipe_open[2];
    bool spawned, exited, done, cancelled;
    bool timed_out, truncated;
    int exit_status, term_signal;
    size_t max_bytes;
    struct buf text[2];
    char chunk[RT_CAPTURE_CHUNK]; /* libuv reads one pipe at a time into it */
    rt_capture_cb cb;
    void *arg;
};

static void
rt_capture_close_cb(uv_handle_t *h)
{
    struct rt_capture *c = h->data;
    if (--c->open_handles > 0) {
        return;
    }
    buf_fini(&c->text[0]);
    buf_fini(&c->text[1]);
    free(c);
}

/* Closes a handle of c once. */
static void
rt_capture_close(struct rt_capture *c, uv_handle_t *h)
{
    if (!uv_is_closing(h)) {
        h->data = c;
        uv_close(h, rt_capture_close_cb);
    }
}

/* Stops reading pipe i: its end of the output. */
static void
rt_capture_close_pipe(struct rt_capture *c, int i)
{
    if (c->pipe_open[i]) {
        c->pipe_open[i] = false;
        uv_read_stop((uv_stream_t *)&c->pipes[i]);
        rt_capture_close(c, (uv_handle_t *)&c->pipes[i]);
    }
}

/* Reports once the process has ended and both pipes are done, then releases the handles. */
static void
rt_capture_maybe_done(struct rt_capture *c)
{
    if (c->done || !c->exited || c->pipe_open[0] || c->pipe_open[1]) {
        return;
    }
    c->done = true;
    uv_timer_stop(&c->timer);
    if (!c->cancelled) {
        struct rt_capture_result res = {
            .exit_status = c->exit_status,
            .term_signal = c->term_signal,
            .timed_out = c->timed_out,
            .truncated = c->truncated,
            .out = c->text[0].data ? c->text[0].data : "",
            .out_len = c->text[0].len,
            .err = c->text[1].data ? c->text[1].data : "",
            .err_len = c->text[1].len,
        };
        c->cb(c->arg, &res);
    }
    rt_capture_close(c, (uv_handle_t *)&c->process);
    rt_capture_close(c, (uv_handle_t *)&c->timer);
}

static void
rt_capture_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct rt_capture *c = h->data;
    (void)suggested;
    b->base = c->chunk;
    b->len = sizeof c->chunk;
}

static void
rt_capture_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct rt_capture *c = s->data;
    int i = s == (uv_stream_t *)&c->pipes[0] ? 0 : 1;
    if (nread < 0) {
        rt_capture_close_pipe(c, i); /* EOF or a read error: either way, the end */
        rt_capture_maybe_done(c);
        return;
    }
    size_t n = (size_t)nread;
    size_t room = c->max_bytes - c->text[i].len;
    if (n > room) {
        c->truncated = true;
        n = room; /* keep reading and dropping, so the child never blocks on a full pipe */
    }
    if (n > 0) {
        buf_add(&c->text[i], b->base, n);
    }
}

static void
rt_capture_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    struct rt_capture *c = p->data;
    c->exited = true;
    c->exit_status = sig ? -1 : (int)status;
    c->term_signal = sig;
    rt_capture_maybe_done(c);
}

static void
rt_capture_timer_cb(uv_timer_t *t)
{
    struct rt_capture *c = t->data;
    c->timed_out = !c->exited;
    /* Also after a normal exit: whatever it left running in its group is killed. The group id
     * cannot have been reused while a member is alive, and kill fails harmlessly otherwise. */
    kill(-c->process.pid, SIGKILL);
    /* Something outside the group may still hold the pipes: stop waiting for them. */
    rt_capture_close_pipe(c, 0);
    rt_capture_close_pipe(c, 1);
    rt_capture_maybe_done(c);
}

/* Starts argv and collects its output. */
struct rt_capture *
rt_run_capture(struct rt *rt, char *const *argv, char *const *envp, uint64_t timeout_ms,
               size_t max_bytes, rt_capture_cb cb, void *arg, struct err *e)
{
    static char *const empty_env[] = { NULL };
    struct rt_capture *c = xcalloc(1, sizeof *c);
    c->cb = cb;
    c->arg = arg;
    c->max_bytes = max_bytes;
    buf_init(&c->text[0]);
    buf_init(&c->text[1]);
    for (int i = 0; i < 2; i++) {
        uv_pipe_init(rt->loop, &c->pipes[i], 0);
        c->pipes[i].data = c;
        c->pipe_open[i] = true;
    }
    uv_timer_init(rt->loop, &c->timer);
    c->timer.data = c;
    c->process.data = c;
    c->open_handles = 4;

    uv_stdio_container_t stdio[3] = {
        { .flags = UV_IGNORE },
        { .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->pipes[0] },
        { .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->pipes[1] },
    };
    uv_process_options_t opts = {
        .exit_cb = rt_capture_exit_cb,
        .file = argv[0],
        .args = (char **)argv,
        .env = (char **)(envp ? envp : empty_env),
        .flags = UV_PROCESS_DETACHED, /* its own group: a timeout kills everything it started */
        .stdio_count = 3,
        .stdio = stdio,
    };
    int rc = uv_spawn(rt->loop, &c->process, &opts);
    if (rc != 0) {
        err_set(e, rc == UV_ENOENT ? ERR_NOTFOUND : ERR_IO, "start %s: %s", argv[0],
                uv_strerror(rc));
        /* libuv keeps even a failed process handle on the loop: close everything. */
        c->cancelled = true;
        c->done = true;
        rt_capture_close_pipe(c, 0);
        rt_capture_close_pipe(c, 1);
        rt_capture_close(c, (uv_handle_t *)&c->process);
        rt_capture_close(c, (uv_handle_t *)&c->timer);
        return NULL;
    }
    c->spawned = true;
    for (int i = 0; i < 2; i++) {
        rc = uv_read_start((uv_stream_t *)&c->pipes[i], rt_capture_alloc_cb, rt_capture_read_cb);
        if (rc != 0) {
            rt_capture_close_pipe(c, i);
        }
    }
    uv_timer_start(&c->timer, rt_capture_timer_cb, timeout_ms, 0);
    return c;
}

/* Cancels a capture: kills its process group; the callback never runs. */
void
rt_capture_cancel(struct rt_capture *c)
{
    if (c == NULL || c->done) {
        return;
    }
    c->cancelled = true;
    if (!c->exited) {
        kill(-c->process.pid, SIGKILL);
    }
    rt_capture_close_pipe(c, 0);
    rt_capture_close_pipe(c, 1);
    /* The process handle stays open until its exit is seen, so the child is reaped. */
    rt_capture_maybe_done(c);
}

/* ---- wall-clock changes ---- */

struct rt_clock_watch {
    uv_poll_t poll;
    int fd;
    rt_fn fn;
    void *arg;
};

/* Arms the timerfd for an instant far away: only a clock change (ECANCELED) wakes it. */
static int
rt_clock_watch_arm(int fd)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct itimerspec its = { .it_value = { .tv_sec = now.tv_sec + 10 * 365 * 86400L } };
    return timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL);
}

static void
rt_clock_watch_cb(uv_poll_t *h, int status, int events)
{
    struct rt_clock_watch *w = h->data;
    uint64_t expirations;
    (void)status, (void)events;
    ssize_t n = read(w->fd, &expirations, sizeof expirations);
    if (n < 0 && errno == EAGAIN) {
        return;
    }
    /* ECANCELED: the clock was set; a read of 8 bytes: ten years passed. Either way re-arm,
     * which also clears the cancelled state. */
    if (rt_clock_watch_arm(w->fd) != 0) {
        log_warn("rt: re-arm the clock watch: %s", strerror(errno));
    }
    if (n < 0 && errno != ECANCELED) {
        return;
    }
    w->fn(w->arg);
}

static void
rt_clock_watch_close_cb(uv_handle_t *h)
{
    struct rt_clock_watch *w = h->data;
    close(w->fd);
    free(w);
}

/* Watches for wall-clock changes. */
struct rt_clock_watch *
rt_clock_watch(struct rt *rt, rt_fn fn, void *arg, struct err *e)
{
    int fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) {
        err_sys(e, ERR_IO, "watch the wall clock: timerfd_create");
        return NULL;
    }
    if (rt_clock_watch_arm(fd) != 0) {
        err_sys(e, ERR_IO, "watch the wall clock: timerfd_settime");
        close(fd);
        return NULL;
    }
    struct rt_clock_watch *w = xcalloc(1, sizeof *w);
    w->fd = fd;
    w->fn = fn;
    w->arg = arg;
    int rc = uv_poll_init(rt->loop, &w->poll, fd);
    if (rc != 0) {
        err_set(e, ERR_IO, "watch the wall clock: %s", uv_strerror(rc));
        close(fd);
        free(w);
        return NULL;
    }
    w->poll.data = w;
    uv_poll_start(&w->poll, UV_READABLE, rt_clock_watch_cb);
    /* It must not keep the loop alive on its own. */
    uv_unref((uv_handle_t *)&w->poll);
    return w;
}

/* Stops watching the wall clock. */
void
rt_clock_watch_free(struct rt_clock_watch *w)
{
    if (w == NULL) {
        return;
    }
    uv_poll_stop(&w->poll);
    uv_close((uv_handle_t *)&w->poll, rt_clock_watch_close_cb);
}
