/* The engine: queue, pool, supervisor lifecycle, end-of-task bookkeeping and start-up
 * reconciliation. It decides; the store remembers, the runtime spawns and watches, the agent
 * drivers build commands and read streams. Nothing here blocks on an agent. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agents/agent.h"
#include "core/config.h"
#include "core/engine.h"
#include "core/enrich.h"
#include "core/graph.h"
#include "core/output.h"
#include "core/resources.h"
#include "core/sched.h"
#include "runtime/rt.h"
#include "runtime/supervise.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xmalloc.h"

/* A line longer than this is not a stream event anyone can use: skip it, do not buffer it. */
#define ENGINE_LINE_MAX   (1024 * 1024)
#define ENGINE_READ_CHUNK 65536
#define CHECKPOINT_LINES  50
#define CHECKPOINT_BYTES  (256 * 1024)
/* Retention: a sweep shortly after start-up, then daily. */
#define ENGINE_RETENTION_FIRST_MS 1000
#define ENGINE_RETENTION_EVERY_MS (24 * 3600 * 1000)
#define ENGINE_DAY_MS             (24LL * 3600 * 1000)
/* A completed task releases this many dependents in its own end transaction (enough to fill
 * the default maxWorkers), then the rest in batches, each its own transaction: the first
 * dependent starts within milliseconds however many there are, and the loop stays responsive. */
#define ENGINE_RELEASE_FIRST 16
#define ENGINE_RELEASE_BATCH 256

struct queue_item {
    char id[TASK_ID_LEN + 1];
    char agent[RESOURCES_TYPE_MAX]; /* per-agent caps are decided without loading the task */
    struct queue_item *next;
};

struct queue {
    struct queue_item *head, *tail;
    int64_t len;
};

/* A task between its start and its recorded end. */
struct run {
    struct engine *eng;
    char id[TASK_ID_LEN + 1];
    char *dir;
    enum agent_format format;
    struct rt_proc *proc;
    struct rt_watch *watch;
    struct agent_report report;
    int64_t stdout_off;  /* bytes of stdout.log already parsed */
    struct buf line;     /* a partial line carried between reads */
    bool skipping_line;  /* inside an over-long line */
    bool have_agent;     /* agent.json read */
    int pid, pgid;
    int64_t proc_start;
    int supervisor_pid;
    bool cancel_requested;
    int64_t started_mono;           /* when it started, for admission and runtimes */
    char agent[RESOURCES_TYPE_MAX]; /* the agent type, for costs and per-agent counts */
    struct run *next;
};

struct engine_watcher {
    engine_watch_fn fn;
    void *arg;
    bool removed;
    struct engine_watcher *next;
};

struct engine {
    struct rt *rt;
    struct store *store;
    struct sched *sched;
    struct config *config;
    char *home;
    char *exe;
    char *out_dir;
    struct queue queue[3];
    struct run *runs;
    int running;
    bool stopping;
    struct task **announce; /* released dependents whose events are still to be sent */
    size_t nannounce;
    char **releasing; /* completed tasks whose dependents are still being released */
    size_t nreleasing;
    int64_t started_mono;
    char *waiting_reason;
    engine_event_fn event_fn;
    void *event_arg;
    struct engine_watcher *watchers;
    int notifying; /* > 0 while watchers run: removals are deferred */
    struct resources *res;
    struct rt_timer *res_timer; /* samples while tasks run or wait */
    bool res_timer_on;
    bool res_warned; /* reading /proc failed once: said so */
    struct rt_timer *retention_timer;
};

static void engine_dispatch(void *arg);
static void engine_announce(void *arg);
static void engine_res_timer_update(struct engine *eng);
static void engine_run_exit_cb(void *arg);

/* ---- small helpers ---- */

static void
engine_emit(struct engine *eng, const char *event, const struct task *t)
{
    if (eng->event_fn == NULL) {
        return;
    }
    json_t *data = json_pack("{s:s, s:s, s:s}", "event", event, "taskId", t->id, "status",
                             task_status_name(t->status));
    if (t->reason) {
        json_set_str(data, "reason", t->reason);
    }
    if (t->has_exit_code) {
        json_set_int(data, "exitCode", t->exit_code);
    }
    eng->event_fn(eng->event_arg, event, data);
    json_decref(data);
}

static void
engine_notify(struct engine *eng, const struct task *t)
{
    char event[32];
    snprintf(event, sizeof event, "task.%s", task_status_name(t->status));
    engine_emit(eng, event, t);
    eng->notifying++;
    for (struct engine_watcher *w = eng->watchers; w; w = w->next) {
        if (!w->removed) {
            w->fn(w->arg, t->id, t->status);
        }
    }
    if (--eng->notifying == 0) {
        struct engine_watcher **pp = &eng->watchers;
        while (*pp) {
            if ((*pp)->removed) {
                struct engine_watcher *dead = *pp;
                *pp = dead->next;
                free(dead);
            } else {
                pp = &(*pp)->next;
            }
        }
    }
}

static void
queue_push(struct queue *q, const struct task *t)
{
    struct queue_item *it = xcalloc(1, sizeof *it);
    str_copy(it->id, t->id, sizeof it->id);
    str_copy(it->agent, t->agent ? t->agent : "", sizeof it->agent);
    if (q->tail) {
        q->tail->next = it;
    } else {
        q->head = it;
    }
    q->tail = it;
    q->len++;
}

static void
queue_push_front(struct queue *q, const struct task *t)
{
    struct queue_item *it = xcalloc(1, sizeof *it);
    str_copy(it->id, t->id, sizeof it->id);
    str_copy(it->agent, t->agent ? t->agent : "", sizeof it->agent);
    it->next = q->head;
    q->head = it;
    if (q->tail == NULL) {
        q->tail = it;
    }
    q->len++;
}

static bool
queue_pop(struct queue *q, char id[TASK_ID_LEN + 1])
{
    struct queue_item *it = q->head;
    if (it == NULL) {
        return false;
    }
    q->head = it->next;
    if (q->head == NULL) {
        q->tail = NULL;
    }
    q->len--;
    str_copy(id, it->id, TASK_ID_LEN + 1);
    free(it);
    return true;
}

static void
queue_clear(struct queue *q)
{
    char id[TASK_ID_LEN + 1];
    while (queue_pop(q, id)) {
    }
}

static void
engine_enqueue(struct engine *eng, const struct task *t)
{
    int p = t->priority >= 0 && t->priority <= 2 ? t->priority : 2;
    queue_push(&eng->queue[p], t);
    rt_defer(eng->rt, engine_dispatch, eng);
}

static struct run *
engine_run_find(struct engine *eng, const char *id)
{
    for (struct run *r = eng->runs; r; r = r->next) {
        if (strcmp(r->id, id) == 0) {
            return r;
        }
    }
    return NULL;
}

static void
engine_run_free(struct run *r)
{
    rt_proc_free(r->proc);
    rt_watch_free(r->watch);
    agent_report_fini(&r->report);
    buf_fini(&r->line);
    free(r->dir);
    free(r);
}

static void
engine_run_remove(struct engine *eng, struct run *r)
{
    for (struct run **pp = &eng->runs; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            eng->running--;
            break;
        }
    }
    engine_run_free(r);
}

/* ---- reading a running task's stream ---- */

static void
engine_run_feed(struct run *r, const char *data, size_t len)
{
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (!r->skipping_line) {
            if (r->line.len + n > ENGINE_LINE_MAX) {
                r->skipping_line = true;
                buf_reset(&r->line);
            } else {
                buf_add(&r->line, p, n);
            }
        }
        if (nl == NULL) {
            break;
        }
        if (!r->skipping_line) {
            agent_parse_line(r->format, r->line.data ? r->line.data : "", r->line.len,
                             &r->report);
        }
        buf_reset(&r->line);
        r->skipping_line = false;
        p = nl + 1;
    }
}

static void
engine_run_read(struct run *r, bool final)
{
    char *path = xasprintf("%s/%s", r->dir, SUPERVISE_STDOUT);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd >= 0) {
        char *chunk = xmalloc(ENGINE_READ_CHUNK);
        ssize_t n;
        while ((n = pread(fd, chunk, ENGINE_READ_CHUNK, (off_t)r->stdout_off)) > 0) {
            r->stdout_off += n;
            engine_run_feed(r, chunk, (size_t)n);
        }
        free(chunk);
        close(fd);
    }
    if (final && r->line.len > 0 && !r->skipping_line) {
        agent_parse_line(r->format, r->line.data, r->line.len, &r->report);
        buf_reset(&r->line);
    }
}

static void
engine_run_read_agent_json(struct run *r)
{
    if (r->have_agent) {
        return;
    }
    char *path = xasprintf("%s/%s", r->dir, SUPERVISE_AGENT);
    struct err e;
    size_t len;
    char *text = fs_read_file(path, 65536, &len, &e);
    free(path);
    if (text == NULL) {
        return;
    }
    json_t *j = json_parse(text, len, &e);
    free(text);
    if (j == NULL) {
        return;
    }
    r->pid = (int)json_get_int(j, "pid", 0);
    r->pgid = (int)json_get_int(j, "pgid", 0);
    r->proc_start = json_get_int(j, "procStart", 0);
    r->have_agent = r->pid > 0;
    json_decref(j);
    if (r->have_agent) {
        struct task *t = store_task_load(r->eng->store, r->id, &e);
        if (t && t->status == TASK_RUNNING) {
            t->pid = r->pid;
            t->pgid = r->pgid;
            t->proc_start = r->proc_start;
            if (store_task_update(r->eng->store, t, &e) != 0) {
                log_warn("engine: record agent pid of %s: %s", r->id, e.msg);
            }
        }
        task_free(t);
        log_info("engine: task %s agent pid=%d pgid=%d", r->id, r->pid, r->pgid);
    }
}

static void
engine_run_watch_cb(void *arg)
{
    struct run *r = arg;
    engine_run_read_agent_json(r);
    engine_run_read(r, false);
}

/* ---- ends ---- */

static void
engine_checkpoint(struct engine *eng, const struct task *t, const char *dir)
{
    struct checkpoint c = { 0 };
    size_t len;
    str_copy(c.task_id, t->id, sizeof c.task_id);
    c.status = (char *)task_status_name(t->status);
    c.reason = t->reason;
    c.has_exit_code = t->has_exit_code;
    c.exit_code = t->exit_code;
    c.result_text = t->result_text;
    c.session_id = t->session_id;
    c.created_at = clock_now_ms();
    if (dir) {
        char *out = xasprintf("%s/%s", dir, SUPERVISE_STDOUT);
        char *err = xasprintf("%s/%s", dir, SUPERVISE_STDERR);
        char *raw = output_tail_lines(out, CHECKPOINT_LINES, CHECKPOINT_BYTES, &len);
        c.output_tail = str_utf8_sanitize(raw, len);
        free(raw);
        raw = output_tail_lines(err, CHECKPOINT_LINES, CHECKPOINT_BYTES, &len);
        c.error_tail = str_utf8_sanitize(raw, len);
        free(raw);
        free(out);
        free(err);
        /* The supervisor records the git state of the working directory after the agent. */
        char *git_path = xasprintf("%s/git.json", dir);
        struct err e;
        char *text = fs_read_file(git_path, 1024 * 1024, &len, &e);
        free(git_path);
        json_t *git = text ? json_parse(text, len, &e) : NULL;
        free(text);
        if (json_is_object(git)) {
            c.git_branch = (char *)json_get_str(git, "branch");
            c.git_commit = (char *)json_get_str(git, "commit");
            c.git_changed = json_object_get(git, "changed");
        }
        struct err se;
        if (store_checkpoint_save(eng->store, &c, &se) != 0) {
            log_warn("engine: checkpoint of %s: %s", t->id, se.msg);
        }
        json_decref(git);
    } else {
        struct err se;
        if (store_checkpoint_save(eng->store, &c, &se) != 0) {
            log_warn("engine: checkpoint of %s: %s", t->id, se.msg);
        }
    }
    free(c.output_tail);
    free(c.error_tail);
}

/* Puts the checkpoint of the task t continues from before t's prompt (when it has one). */
static void
engine_enrich(struct engine *eng, struct task *t)
{
    struct err e;
    if (t->continue_from == NULL) {
        return;
    }
    struct task *up = store_task_load(eng->store, t->continue_from, &e);
    if (up == NULL) {
        return;
    }
    struct checkpoint *c = store_checkpoint_load(eng->store, up->id, &e);
    char *prompt = enrich_continue(up, c, t->prompt);
    free(t->prompt);
    t->prompt = prompt;
    checkpoint_free(c);
    task_free(up);
}

/* Cancels everything downstream of a task that did not complete, transitively. Runs inside
 * the caller's transaction; collects the cancelled tasks for notification. */
static int
engine_cascade(struct engine *eng, const struct task *failed, struct task ***done, size_t *ndone,
               struct err *e)
{
    char **dependents = NULL;
    int rc = -1;
    if (store_dep_dependents(eng->store, failed->id, &dependents, e) != 0) {
        return -1;
    }
    for (char **d = dependents; d && *d; d++) {
        struct task *t = store_task_load(eng->store, *d, e);
        if (t == NULL) {
            goto out;
        }
        if (task_status_is_terminal(t->status) || t->status == TASK_RUNNING) {
            task_free(t);
            continue;
        }
        free(t->reason);
        t->reason = xasprintf("dependency %s %s%s%s", failed->id,
                              failed->end == TASK_END_TIMEOUT ? "timed out"
                                                              : task_status_name(failed->status),
                              failed->reason ? ": " : "", failed->reason ? failed->reason : "");
        t->end = TASK_END_DEPENDENCY;
        json_decref(t->env);
        t->env = NULL;
        if (task_transition(t, TASK_CANCELLED, clock_now_ms(), e) != 0 ||
            store_task_update(eng->store, t, e) != 0 ||
            store_dep_resolve(eng->store, t->id, "cancelled", t->completed_at, e) != 0) {
            task_free(t);
            goto out;
        }
        engine_checkpoint(eng, t, NULL);
        *done = xrealloc(*done, (*ndone + 1) * sizeof **done);
        (*done)[(*ndone)++] = t;
        if (engine_cascade(eng, t, done, ndone, e) != 0) {
            goto out;
        }
    }
    rc = 0;
out:
    strv_free(dependents);
    return rc;
}

/* Unblocks at most limit dependents of a completed task whose last dependency this was: one
 * statement queues them; only those continuing from another task are loaded, to enrich their
 * prompt. *more: the batch was full, so more may be ready. */
static int
engine_unblock(struct engine *eng, const char *dep_id, int limit, struct task ***done,
               size_t *ndone, bool *more, struct err *e)
{
    struct task **ready = NULL;
    int rc = -1;
    if (store_dep_unblock(eng->store, dep_id, clock_now_ms(), limit, &ready, e) != 0) {
        return -1;
    }
    size_t n = 0;
    while (ready && ready[n]) {
        n++;
    }
    *more = n == (size_t)limit;
    for (size_t i = 0; ready && ready[i]; i++) {
        struct task *t = ready[i];
        ready[i] = NULL;
        if (t->continue_from != NULL) {
            struct task *full = store_task_load(eng->store, t->id, e);
            task_free(t);
            if (full == NULL) {
                goto out;
            }
            engine_enrich(eng, full);
            if (store_task_update(eng->store, full, e) != 0) {
                task_free(full);
                goto out;
            }
            t = full;
        }
        *done = xrealloc(*done, (*ndone + 1) * sizeof **done);
        (*done)[(*ndone)++] = t;
    }
    rc = 0;
out:
    for (size_t i = 0; ready && ready[i]; i++) {
        task_free(ready[i]);
    }
    free(ready);
    return rc;
}

/* Queues released dependents (their events are sent after the next dispatch, so the first of
 * a thousand starts at once) and notifies the other touched tasks. Takes the tasks. */
static void
engine_release(struct engine *eng, struct task **touched, size_t ntouched)
{
    for (size_t i = 0; i < ntouched; i++) {
        if (touched[i]->status == TASK_QUEUED) {
            engine_enqueue(eng, touched[i]);
            eng->announce = xrealloc(eng->announce, (eng->nannounce + 1) * sizeof *eng->announce);
            eng->announce[eng->nannounce++] = touched[i];
        } else {
            engine_notify(eng, touched[i]);
            task_free(touched[i]);
        }
    }
    free(touched);
}

/* Releases the next batch of dependents of the oldest completed task that still has some, in
 * its own transaction; comes back until none is left. A daemon stopped meanwhile leaves them
 * blocked with every dependency completed, which engine_start repairs. */
static void
engine_release_more(void *arg)
{
    struct engine *eng = arg;
    struct task **touched = NULL;
    size_t ntouched = 0;
    bool more = false;
    struct err e;

    if (eng->stopping || eng->nreleasing == 0) {
        return;
    }
    const char *dep_id = eng->releasing[0];
    if (store_begin(eng->store, &e) != 0 ||
        engine_unblock(eng, dep_id, ENGINE_RELEASE_BATCH, &touched, &ntouched, &more, &e) != 0 ||
        store_commit(eng->store, &e) != 0) {
        /* Locked or full: the resource timer comes back to it. */
        log_warn("engine: release the dependents of %s: %s", dep_id, e.msg);
        store_rollback(eng->store);
        for (size_t i = 0; i < ntouched; i++) {
            task_free(touched[i]);
        }
        free(touched);
        engine_res_timer_update(eng);
        return;
    }
    if (!more) {
        free(eng->releasing[0]);
        memmove(eng->releasing, eng->releasing + 1, --eng->nreleasing * sizeof *eng->releasing);
    }
    engine_release(eng, touched, ntouched);
    if (eng->nannounce > 0) {
        rt_defer(eng->rt, engine_announce, eng); /* after the dispatch engine_enqueue asked for */
    }
    if (eng->nreleasing > 0) {
        rt_defer(eng->rt, engine_release_more, eng);
    }
}

/* Sends the lifecycle events of the tasks engine_finish released, after they had their chance
 * to be dispatched. */
static void
engine_announce(void *arg)
{
    struct engine *eng = arg;
    struct task **v = eng->announce;
    size_t n = eng->nannounce;
    eng->announce = NULL;
    eng->nannounce = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] != NULL) {
            engine_notify(eng, v[i]);
            task_free(v[i]);
        }
    }
    free(v);
}

/* Sends a released task's queued event now if it is still to be announced, so that a task
 * dispatched before engine_announce runs is seen queued before it is seen running. */
static void
engine_announce_one(struct engine *eng, const char *id)
{
    for (size_t i = 0; i < eng->nannounce; i++) {
        if (eng->announce[i] != NULL && strcmp(eng->announce[i]->id, id) == 0) {
            engine_notify(eng, eng->announce[i]);
            task_free(eng->announce[i]);
            eng->announce[i] = NULL;
            return;
        }
    }
}

/* Records a task's end: checkpoint, terminal state, dependency resolution and the cascade,
 * all in one transaction; then notifies and frees the slot. t is consumed. ended_at is when
 * the agent really ended, as its supervisor saw it (0: now); a task that ended while the
 * daemon was down keeps its real end time. */
static int
engine_finish_at(struct engine *eng, struct task *t, enum task_status status, const char *dir,
                 int64_t ended_at, struct err *e)
{
    struct task **touched = NULL;
    size_t ntouched = 0;
    bool more = false;
    int rc = -1;

    json_decref(t->env); /* secrets are kept only while the task can still run */
    t->env = NULL;
    if (store_begin(eng->store, e) != 0) {
        goto out;
    }
    int64_t now = clock_now_ms();
    bool plausible = ended_at > 0 && ended_at <= now && ended_at >= t->started_at;
    if (task_transition(t, status, plausible ? ended_at : now, e) != 0 ||
        store_task_update(eng->store, t, e) != 0) {
        store_rollback(eng->store);
        goto out;
    }
    engine_checkpoint(eng, t, dir);
    if (store_dep_resolve(eng->store, t->id, task_status_name(status), t->completed_at, e) != 0 ||
        (status == TASK_COMPLETED
             ? engine_unblock(eng, t->id, ENGINE_RELEASE_FIRST, &touched, &ntouched, &more, e)
             : engine_cascade(eng, t, &touched, &ntouched, e)) != 0) {
        store_rollback(eng->store);
        goto out;
    }
    if (store_commit(eng->store, e) != 0) {
        store_rollback(eng->store);
        goto out;
    }
    log_info("engine: task %s %s%s%s", t->id, task_status_name(status), t->reason ? ": " : "",
             t->reason ? t->reason : "");
    engine_notify(eng, t);
    engine_release(eng, touched, ntouched);
    touched = NULL;
    ntouched = 0;
    if (more) {
        eng->releasing = xrealloc(eng->releasing, (eng->nreleasing + 1) * sizeof *eng->releasing);
        eng->releasing[eng->nreleasing++] = xstrdup(t->id);
    }
    rc = 0;
out:
    for (size_t i = 0; i < ntouched; i++) {
        task_free(touched[i]);
    }
    free(touched);
    task_free(t);
    /* In this order: start what can start, announce it, then release more dependents. */
    rt_defer(eng->rt, engine_dispatch, eng);
    if (eng->nannounce > 0) {
        rt_defer(eng->rt, engine_announce, eng);
    }
    if (eng->nreleasing > 0) {
        rt_defer(eng->rt, engine_release_more, eng);
    }
    return rc;
}

static int
engine_finish(struct engine *eng, struct task *t, enum task_status status, const char *dir,
              struct err *e)
{
    return engine_finish_at(eng, t, status, dir, 0, e);
}

/* Fails a task that could not start (missing agent, directory, spawn error). */
static void
engine_fail_start(struct engine *eng, struct task *t, const char *why)
{
    struct err e;
    free(t->reason);
    t->reason = xstrdup(why);
    t->end = TASK_END_SPAWN_ERROR;
    log_warn("engine: task %s cannot start: %s", t->id, why);
    if (engine_finish(eng, t, TASK_FAILED, NULL, &e) != 0) {
        log_error("engine: record failure of task: %s", e.msg);
    }
}

/* Reads exit.json and turns it into the task's end, and when it happened (*ended_at, 0 when
 * unknown). Returns the terminal status. */
static enum task_status
engine_read_exit(struct run *r, struct task *t, int64_t *ended_at)
{
    char *path = xasprintf("%s/%s", r->dir, SUPERVISE_EXIT);
    struct err e;
    size_t len;
    char *text = fs_read_file(path, 65536, &len, &e);
    free(path);
    json_t *j = text ? json_parse(text, len, &e) : NULL;
    free(text);
    enum task_status status = TASK_FAILED;

    *ended_at = 0;
    if (!json_is_object(j)) {
        /* The supervisor died without a word (SIGKILL): its agent must not run on unseen. */
        if (r->have_agent && r->pgid > 0 && proc_is_ours(r->pid, r->proc_start)) {
            killpg(r->pgid, SIGKILL);
        }
        t->end = TASK_END_LOST;
        free(t->reason);
        t->reason = xstrdup("lost: the supervisor ended without recording the agent's exit");
        json_decref(j);
        return TASK_FAILED;
    }
    const char *end = json_get_str(j, "end");
    json_t *code = json_object_get(j, "exitCode");
    t->has_exit_code = json_is_integer(code);
    t->exit_code = t->has_exit_code ? (int)json_integer_value(code) : 0;
    t->signal = (int)json_get_int(j, "signal", 0);
    t->stdout_bytes = json_get_int(j, "stdoutBytes", 0);
    t->stderr_bytes = json_get_int(j, "stderrBytes", 0);
    t->output_truncated = json_get_bool(j, "truncated", false);
    *ended_at = json_get_int(j, "endedAt", 0);
    char *reason = NULL;
    if (end && strcmp(end, "exited") == 0) {
        t->end = TASK_END_EXITED;
        status = t->exit_code == 0 ? TASK_COMPLETED : TASK_FAILED;
        if (status == TASK_FAILED) {
            reason = xasprintf("agent exited with code %d%s%s", t->exit_code,
                               r->report.api_error ? ": " : "",
                               r->report.api_error ? r->report.api_error : "");
        }
    } else if (end && strcmp(end, "signaled") == 0) {
        t->end = TASK_END_SIGNALED;
        reason = xasprintf("agent was killed by signal %d (%s)", t->signal, strsignal(t->signal));
    } else if (end && strcmp(end, "timeout") == 0) {
        t->end = TASK_END_TIMEOUT;
        reason = xasprintf("timed out after %lld ms", (long long)t->timeout_ms);
    } else if (end && strcmp(end, "cancelled") == 0) {
        t->end = TASK_END_CANCELLED;
        status = TASK_CANCELLED;
        reason = xstrdup(t->reason ? t->reason : "cancelled");
    } else {
        t->end = TASK_END_SPAWN_ERROR;
        const char *msg = json_get_str(j, "error");
        reason = xasprintf("agent could not start: %s", msg ? msg : "unknown error");
    }
    /* A cancel that raced with a natural end still says it was asked for. */
    if (r->cancel_requested && status == TASK_FAILED && t->end != TASK_END_TIMEOUT) {
        status = TASK_CANCELLED;
        t->end = TASK_END_CANCELLED;
        free(reason);
        reason = xstrdup(t->reason ? t->reason : "cancelled");
    }
    free(t->reason);
    t->reason = reason;
    json_decref(j);
    return status;
}

static void
engine_run_copy_report(const struct run *r, struct task *t)
{
    const struct agent_report *rep = &r->report;
    if (rep->session_id) {
        free(t->session_id);
        t->session_id = xstrdup(rep->session_id);
    }
    if (rep->result_text) {
        free(t->result_text);
        t->result_text = xstrdup(rep->result_text);
    }
    if (rep->api_error) {
        free(t->api_error);
        t->api_error = xstrdup(rep->api_error);
    }
    t->input_tokens = rep->input_tokens;
    t->output_tokens = rep->output_tokens;
    t->cost_usd = rep->cost_usd;
    if (r->have_agent) {
        t->pid = r->pid;
        t->pgid = r->pgid;
        t->proc_start = r->proc_start;
    }
}

/* The supervisor is gone: read what is left and record the end. */
static void
engine_run_exit_cb(void *arg)
{
    struct run *r = arg;
    struct engine *eng = r->eng;
    struct err e;

    engine_run_read_agent_json(r);
    engine_run_read(r, true);
    struct task *t = store_task_load(eng->store, r->id, &e);
    if (t == NULL) {
        log_error("engine: task %s vanished while running: %s", r->id, e.msg);
        engine_run_remove(eng, r);
        return;
    }
    engine_run_copy_report(r, t);
    int64_t ended_at;
    enum task_status status = engine_read_exit(r, t, &ended_at);
    char *dir = xstrdup(r->dir);
    engine_run_remove(eng, r);
    if (t->status != TASK_RUNNING) {
        task_free(t);
    } else if (engine_finish_at(eng, t, status, dir, ended_at, &e) != 0) {
        log_error("engine: record end of task: %s", e.msg);
    }
    free(dir);
}

static struct run *
engine_run_new(struct engine *eng, const struct task *t, const char *dir)
{
    struct run *r = xcalloc(1, sizeof *r);
    const struct agent_driver *d = agent_find(t->agent);
    r->eng = eng;
    str_copy(r->id, t->id, sizeof r->id);
    r->dir = xstrdup(dir);
    r->format = d ? d->format : AGENT_FORMAT_TEXT;
    if (d == NULL) {
        /* A user-defined agent reads its stream with the parser its config names, also when
         * a restarted daemon re-adopts it. */
        struct agent_conf ac;
        struct err e;
        if (config_agent_conf(eng->config, t->agent, &ac, &e) == 0) {
            r->format = ac.cfg.format;
        }
        agent_conf_fini(&ac);
    }
    r->started_mono = clock_mono_ms();
    str_copy(r->agent, t->agent ? t->agent : "", sizeof r->agent);
    agent_report_init(&r->report);
    buf_init(&r->line);
    r->next = eng->runs;
    eng->runs = r;
    eng->running++;
    return r;
}

/* ---- starting ---- */

static json_t *
engine_strv_json(char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v && v[i]; i++) {
        json_array_append_new(a, json_string_bytes(v[i], strlen(v[i])));
    }
    return a;
}

/* Builds the agent command, checks what can be checked, writes spec.json and starts the
 * supervisor. Consumes t. */
static void
engine_start_task(struct engine *eng, struct task *t)
{
    struct agent_cmd cmd = { 0 };
    struct err e;
    char *dir = NULL, *exe = NULL, *spec_path = NULL, *spec_text = NULL;
    struct stat st;
    struct agent_conf ac;

    /* Built-in or user-defined, with everything agents.<name> configures (model, baseUrl,
     * systemPrompt, apiKey, extraArgs, env; command and parser for user-defined agents). */
    int arc = config_agent_conf(eng->config, t->agent, &ac, &e);
    if (arc != 0 && e.code == ERR_NOTFOUND) {
        /* Known when the task was accepted (from config.json then): an agent defined a moment
         * ago may not have reached our copy of the configuration yet. */
        agent_conf_fini(&ac);
        engine_reload_config(eng);
        arc = config_agent_conf(eng->config, t->agent, &ac, &e);
    }
    if (arc != 0) {
        char *why = xasprintf("agent: %s", e.msg);
        engine_fail_start(eng, t, why);
        free(why);
        agent_conf_fini(&ac);
        return;
    }
    struct agent_run_spec spec = {
        .task_id = t->id,
        .prompt = t->prompt,
        .model = t->model,
        .system_prompt = t->system_prompt,
        .resume_session = t->resume_session,
        .working_directory = t->working_directory,
        .client_env = t->env,
        .config = &ac.cfg,
    };
    if (agent_conf_build(&ac, &spec, &cmd, &e) != 0) {
        engine_fail_start(eng, t, e.msg);
        goto out;
    }
    const char *path_env = json_get_str(t->env, "PATH");
    exe = fs_find_exec(cmd.argv[0], path_env);
    if (exe == NULL) {
        char *hint = ac.driver ? xstrdup("") : xasprintf(" (see agents.%s.command[0])", ac.name);
        char *why = xasprintf("agent '%s' is not installed: no '%s' executable on the client's "
                              "PATH%s",
                              ac.name, cmd.argv[0], hint);
        free(hint);
        engine_fail_start(eng, t, why);
        free(why);
        goto out;
    }
    free(cmd.argv[0]);
    cmd.argv[0] = xstrdup(exe);
    if (t->working_directory == NULL || stat(t->working_directory, &st) != 0 ||
        !S_ISDIR(st.st_mode)) {
        char *why = xasprintf("working directory %s does not exist or is not a directory",
                              t->working_directory ? t->working_directory : "(none)");
        engine_fail_start(eng, t, why);
        free(why);
        goto out;
    }
    dir = engine_task_dir(eng, t->id);
    if (fs_mkdir_p(dir, 0700, &e) != 0) {
        engine_fail_start(eng, t, e.msg);
        goto out;
    }
    json_t *sj = json_pack("{s:o, s:o, s:s, s:I, s:I, s:I}", "argv", engine_strv_json(cmd.argv),
                           "env", engine_strv_json(cmd.envp), "cwd", t->working_directory,
                           "timeoutMs", (json_int_t)t->timeout_ms, "maxOutput",
                           (json_int_t)t->max_output_buffer, "graceMs",
                           (json_int_t)config_int(eng->config, "killGracePeriodMs"));
    spec_text = json_dump_compact(sj);
    json_decref(sj);
    spec_path = xasprintf("%s/%s", dir, SUPERVISE_SPEC);
    if (fs_write_quick(spec_path, spec_text, strlen(spec_text), 0600, &e) != 0) {
        engine_fail_start(eng, t, e.msg);
        goto out;
    }
    /* Durable before acted on: a crash from here on leaves a running task that start-up
     * reconciliation resolves from the files the supervisor leaves behind. */
    if (task_transition(t, TASK_RUNNING, clock_now_ms(), &e) != 0 ||
        store_task_update(eng->store, t, &e) != 0) {
        /* Not started: it keeps its place at the head of its queue and is tried again at
         * the next dispatch (a locked database passes). */
        log_error("engine: start task %s: %s", t->id, e.msg);
        queue_push_front(&eng->queue[t->priority >= 0 && t->priority <= 2 ? t->priority : 2], t);
        task_free(t);
        goto out;
    }
    struct run *r = engine_run_new(eng, t, dir);
    r->format = ac.cfg.format; /* a user-defined agent's parser */
    r->proc = rt_proc_spawn(eng->rt, eng->exe, dir, engine_run_exit_cb, r, &r->supervisor_pid,
                            &e);
    if (r->proc == NULL) {
        engine_run_remove(eng, r);
        t->end = TASK_END_SPAWN_ERROR;
        free(t->reason);
        t->reason = xstrdup(e.msg);
        struct err fe;
        if (engine_finish(eng, t, TASK_FAILED, dir, &fe) != 0) {
            log_error("engine: record failure: %s", fe.msg);
        }
        goto out;
    }
    t->supervisor_pid = r->supervisor_pid;
    proc_start_time(r->supervisor_pid, &t->supervisor_start);
    if (store_task_update(eng->store, t, &e) != 0) {
        log_warn("engine: record supervisor of %s: %s", t->id, e.msg);
    }
    r->watch = rt_watch_dir(eng->rt, dir, engine_run_watch_cb, r, &e);
    if (r->watch == NULL) {
        log_warn("engine: live output of %s unavailable: %s", t->id, e.msg);
    }
    log_info("engine: task %s running agent=%s supervisor=%d", t->id, t->agent,
             r->supervisor_pid);
    engine_notify(eng, t);
    task_free(t);
out:
    agent_conf_fini(&ac);
    agent_cmd_fini(&cmd);
    free(exe);
    free(dir);
    free(spec_path);
    free(spec_text);
}

/* ---- admission and resources ---- */

/* How many running tasks use the given agent. */
static int
engine_running_of_agent(struct engine *eng, const char *agent)
{
    int n = 0;
    for (struct run *r = eng->runs; r; r = r->next) {
        if (strcmp(r->agent, agent ? agent : "") == 0) {
            n++;
        }
    }
    return n;
}

/* Brings the resource monitor up to date with the runs: a fresh reading of /proc when force or
 * when the last one is older than RESOURCES_CACHE_MS, else only the set of running agents. */
static void
engine_res_refresh(struct engine *eng, bool force)
{
    int64_t now = clock_mono_ms();
    size_t n = 0, np = 0;
    struct resources_agent *agents = xcalloc((size_t)eng->running + 1, sizeof *agents);
    int *pgids = xcalloc((size_t)eng->running + 1, sizeof *pgids);

    for (struct run *r = eng->runs; r; r = r->next) {
        struct resources_agent *a = &agents[n++];
        str_copy(a->id, r->id, sizeof a->id);
        str_copy(a->type, r->agent, sizeof a->type);
        a->pgid = r->have_agent ? r->pgid : 0;
        a->started_ms = r->started_mono;
        if (a->pgid > 0) {
            pgids[np++] = a->pgid;
        }
    }
    const struct resources_machine *m = resources_machine(eng->res);
    if (!force && m->at_ms > 0 && now - m->at_ms < RESOURCES_CACHE_MS) {
        resources_sync(eng->res, agents, n);
    } else {
        struct resources_raw raw;
        struct err e;
        if (resources_read("/proc", pgids, np, now, &raw, &e) == 0) {
            resources_update(eng->res, &raw, agents, n);
        } else {
            if (!eng->res_warned) {
                log_warn("engine: resources unknown, admission uses maxWorkers only: %s", e.msg);
                eng->res_warned = true;
            }
            resources_sync(eng->res, agents, n);
        }
        resources_raw_fini(&raw);
    }
    free(agents);
    free(pgids);
}

static bool
engine_queue_empty(struct engine *eng)
{
    return eng->queue[0].head == NULL && eng->queue[1].head == NULL && eng->queue[2].head == NULL;
}

/* Samples each second while tasks run or wait; a sample that shows room again lets waiting
 * tasks start. When nothing runs or waits the timer stops: an idle daemon does no work. */
static void
engine_res_tick(void *arg)
{
    struct engine *eng = arg;
    bool waiting = !engine_queue_empty(eng);
    if (eng->stopping || (eng->running == 0 && !waiting && eng->nreleasing == 0)) {
        rt_timer_stop(eng->res_timer);
        eng->res_timer_on = false;
        return;
    }
    engine_res_refresh(eng, true);
    if (waiting) {
        rt_defer(eng->rt, engine_dispatch, eng);
    }
    if (eng->nreleasing > 0) {
        rt_defer(eng->rt, engine_release_more, eng); /* a release the store refused */
    }
}

static void
engine_res_timer_update(struct engine *eng)
{
    if (eng->res_timer_on || eng->stopping) {
        return;
    }
    if (eng->running > 0 || !engine_queue_empty(eng) || eng->nreleasing > 0) {
        rt_timer_start(eng->res_timer, RESOURCES_INTERVAL_MS, RESOURCES_INTERVAL_MS);
        eng->res_timer_on = true;
    }
}

/* The one place that decides whether one more agent may start now: the hard cap, then what
 * the machine has left and what agents still starting will take (core/resources.c). */
static bool
engine_admit(struct engine *eng, const struct task *t, char **why)
{
    const struct config *c = eng->config;
    struct resources_settings s = {
        .max_workers = config_int(c, "maxWorkers"),
        .cpu_threshold = config_int(c, "cpuThreshold"),
        .memory_reserve = config_int(c, "memoryReserve"),
        .cpu_cores_reserved = config_int(c, "cpuCoresReserved"),
    };
    if (eng->running >= s.max_workers) {
        *why = xasprintf("workers: %d running, maxWorkers %lld", eng->running,
                         (long long)s.max_workers);
        return false;
    }
    /* Per-agent caps (maxConcurrent) are checked by engine_dispatch before this, on each
     * queued task, so a capped agent does not hold back the others. */
    engine_res_refresh(eng, false);
    return resources_decide(eng->res, &s, t->agent, clock_mono_ms(), why);
}

/* Keeps why as the queue's waiting reason; logs when the kind of limit changes, not each
 * second's new numbers. Takes why. */
static void
engine_set_waiting(struct engine *eng, char *why)
{
    const char *old = eng->waiting_reason;
    size_t kind = why ? strcspn(why, ":") : 0;
    if (why && (old == NULL || strncmp(old, why, kind) != 0 || old[kind] != ':')) {
        log_info("engine: queue waits: %s", why);
    } else if (why == NULL && old != NULL) {
        log_info("engine: nothing waits any more");
    }
    free(eng->waiting_reason);
    eng->waiting_reason = why;
}

/* Removes an item from a queue, given the item before it (NULL for the head). */
static void
queue_unlink(struct queue *q, struct queue_item *prev, struct queue_item *it)
{
    if (prev) {
        prev->next = it->next;
    } else {
        q->head = it->next;
    }
    if (q->tail == it) {
        q->tail = prev;
    }
    q->len--;
    free(it);
}

/* Starts queued tasks while admission allows: highest priority first, FIFO within one. A
 * task whose agent is at its maxConcurrent is passed over (its place kept), so one capped
 * agent never holds back the others; the machine-wide limits stop the whole queue. */
static void
engine_dispatch(void *arg)
{
    struct engine *eng = arg;
    struct err e;

    if (eng->stopping) {
        return;
    }
    for (;;) {
        char *capped = NULL; /* why the first passed-over task waits */
        bool started = false, blocked = false;
        for (int p = 0; p < 3 && !started && !blocked; p++) {
            struct queue_item *prev = NULL, *it = eng->queue[p].head;
            while (it != NULL) {
                char *why = NULL;
                if (!config_agent_can_start(eng->config, it->agent,
                                            engine_running_of_agent(eng, it->agent), &why)) {
                    if (capped == NULL) {
                        capped = why;
                    } else {
                        free(why);
                    }
                    prev = it;
                    it = it->next;
                    continue;
                }
                struct task *t = store_task_load(eng->store, it->id, &e);
                if (t == NULL && e.code != ERR_NOTFOUND) {
                    /* The store cannot answer now (locked, disk full): retry at the next
                     * sample. */
                    free(capped);
                    capped = xasprintf("store: %s", e.msg);
                    blocked = true;
                    break;
                }
                if (t == NULL || t->status != TASK_QUEUED) {
                    struct queue_item *next = it->next;
                    queue_unlink(&eng->queue[p], prev, it); /* gone, or cancelled meanwhile */
                    it = next;
                    task_free(t);
                    continue;
                }
                if (!engine_admit(eng, t, &why)) {
                    task_free(t);
                    free(capped);
                    capped = why;
                    blocked = true;
                    break;
                }
                queue_unlink(&eng->queue[p], prev, it);
                engine_announce_one(eng, t->id);
                engine_start_task(eng, t);
                started = true;
                break;
            }
        }
        if (!started) {
            engine_set_waiting(eng, capped);
            break;
        }
        free(capped);
    }
    engine_res_timer_update(eng);
}

/* ---- retention ---- */

/* Removes terminal tasks that ended more than taskRetentionDays ago, and their output; the
 * prune statement keeps those a waiting task depends on and those of a schedule run still
 * going. */
static void
engine_prune(struct engine *eng, int64_t now)
{
    int64_t days = config_int(eng->config, "taskRetentionDays");
    char **removed = NULL;
    size_t n = 0;
    struct err e;

    if (store_task_prune(eng->store, now - days * ENGINE_DAY_MS, &removed, &e) != 0) {
        log_warn("engine: retention: %s", e.msg);
        return;
    }
    for (char **id = removed; id && *id; id++) {
        if (!task_id_is_valid(*id)) {
            continue; /* never remove a path built from something that is not an id */
        }
        char *dir = engine_task_dir(eng, *id);
        if (fs_remove_tree(dir, &e) != 0) {
            log_warn("engine: retention: %s", e.msg);
        }
        free(dir);
        n++;
    }
    if (n > 0) {
        log_info("engine: retention removed %zu tasks that ended more than %lld days ago", n,
                 (long long)days);
    }
    strv_free(removed);
}

static void
engine_retention_cb(void *arg)
{
    struct engine *eng = arg;
    if (!eng->stopping) {
        engine_prune(eng, clock_now_ms());
    }
}

/* ---- public API ---- */

/* Creates the engine. */
struct engine *
engine_new(struct rt *rt, const char *home, const char *exe, struct err *e)
{
    struct engine *eng = xcalloc(1, sizeof *eng);
    char *db = xasprintf("%s/backbeat.db", home);
    eng->rt = rt;
    eng->started_mono = clock_mono_ms();
    eng->home = xstrdup(home);
    eng->exe = xstrdup(exe);
    eng->out_dir = xasprintf("%s/output", home);
    if (fs_mkdir_p(eng->out_dir, 0700, e) != 0) {
        goto fail;
    }
    eng->store = store_open(db, e);
    if (eng->store == NULL) {
        goto fail;
    }
    free(db);
    json_t *env = json_environ();
    eng->config = config_load(home, env);
    json_decref(env);
    for (const char *const *p = config_problems(eng->config); p && *p; p++) {
        log_warn("config: %s", *p);
    }
    eng->sched = sched_new(eng, rt, e);
    if (eng->sched == NULL) {
        goto fail;
    }
    eng->res = resources_new(0, 0);
    eng->res_timer = rt_timer_new(rt, engine_res_tick, eng);
    eng->retention_timer = rt_timer_new(rt, engine_retention_cb, eng);
    return eng;
fail:
    free(db);
    engine_free(eng);
    return NULL;
}

/* Re-reads the configuration. */
void
engine_reload_config(struct engine *eng)
{
    json_t *env = json_environ();
    struct config *c = config_load(eng->home, env);
    json_decref(env);
    for (const char *const *p = config_problems(c); p && *p; p++) {
        log_warn("config: %s", *p);
    }
    char **changed = config_diff(eng->config, c);
    for (char **p = changed; p && *p; p++) {
        log_info("config: %s", *p);
    }
    strv_free(changed);
    config_free(eng->config);
    eng->config = c;
    rt_defer(eng->rt, engine_dispatch, eng);
}

/* A client's view of the configuration. */
struct config *
engine_client_config(struct engine *eng, const json_t *client_env)
{
    return config_load(eng->home, client_env);
}

static bool
engine_dir_has(const char *dir, const char *name)
{
    char *path = xasprintf("%s/%s", dir, name);
    struct stat st;
    bool has = stat(path, &st) == 0;
    free(path);
    return has;
}

/* Starts a supervisor again for a task whose spec.json no supervisor ever read (the daemon
 * died between committing `running` and spawning). Returns false when it cannot. */
static bool
engine_respawn(struct engine *eng, struct run *r, struct task *t, struct err *e)
{
    r->proc =
        rt_proc_spawn(eng->rt, eng->exe, r->dir, engine_run_exit_cb, r, &r->supervisor_pid, e);
    if (r->proc == NULL) {
        return false;
    }
    r->started_mono = clock_mono_ms();
    t->supervisor_pid = r->supervisor_pid;
    proc_start_time(r->supervisor_pid, &t->supervisor_start);
    struct err ue;
    if (store_task_update(eng->store, t, &ue) != 0) {
        log_warn("engine: record supervisor of %s: %s", t->id, ue.msg);
    }
    return true;
}

/* Adopts or settles one task that was running when the last daemon stopped. The decision is
 * resources_recover_decide's; this gathers the facts and carries it out. */
static void
engine_reconcile_running(struct engine *eng, struct task *t)
{
    char *dir = engine_task_dir(eng, t->id);
    struct resources_recover_facts f = { 0 };
    struct err e = { 0 };
    int64_t now_wall = clock_now_ms();

    f.has_exit = engine_dir_has(dir, SUPERVISE_EXIT);
    f.spec_unread = engine_dir_has(dir, SUPERVISE_SPEC);
    struct run *r = engine_run_new(eng, t, dir);
    if (t->started_at > 0 && t->started_at <= now_wall) {
        r->started_mono -= now_wall - t->started_at; /* its real age: settled long ago, maybe */
    }
    engine_run_read_agent_json(r);
    int sup = t->supervisor_pid;
    int64_t sup_start = t->supervisor_start;
    if (sup == 0) {
        /* Started but its pid not yet recorded: agent.json names it. */
        char *ap = xasprintf("%s/%s", dir, SUPERVISE_AGENT);
        size_t len;
        char *text = fs_read_file(ap, 65536, &len, &e);
        json_t *j = text ? json_parse(text, len, &e) : NULL;
        sup = j ? (int)json_get_int(j, "supervisorPid", 0) : 0;
        sup_start = j ? json_get_int(j, "supervisorStart", 0) : 0;
        json_decref(j);
        free(text);
        free(ap);
    }
    f.supervisor_alive = sup > 0 && proc_is_ours(sup, sup_start);
    if (!f.supervisor_alive && !f.has_exit) {
        /* The daemon may have died after spawning the supervisor and before recording it. */
        int found = resources_find_supervisor("/proc", t->id);
        if (found > 0 && proc_start_time(found, &sup_start) == 0) {
            sup = found;
            f.supervisor_alive = true;
        }
    }
    if (!f.supervisor_alive && !f.has_exit) {
        /* It may have ended since the first look: a supervisor writes exit.json before it
         * exits, so only a look taken after seeing it gone can say the end is unknown. */
        f.has_exit = engine_dir_has(dir, SUPERVISE_EXIT);
    }
    f.agent_alive = r->have_agent && proc_is_ours(r->pid, r->proc_start);
    enum resources_recover d = resources_recover_decide(&f);
    log_info("engine: task %s was running: %s", t->id, resources_recover_name(d));

    if (d == RESOURCES_RECOVER_ADOPT) {
        r->supervisor_pid = sup;
        r->proc = rt_proc_adopt(eng->rt, sup, engine_run_exit_cb, r, &e);
        if (r->proc != NULL) {
            if (t->supervisor_pid != sup) {
                t->supervisor_pid = sup;
                t->supervisor_start = sup_start;
                if (store_task_update(eng->store, t, &e) != 0) {
                    log_warn("engine: record supervisor of %s: %s", t->id, e.msg);
                }
            }
            r->watch = rt_watch_dir(eng->rt, dir, engine_run_watch_cb, r, &e);
            engine_run_read(r, false);
            log_info("engine: re-adopted task %s (supervisor %d)", t->id, sup);
            task_free(t);
            free(dir);
            return;
        }
        /* It ended between the check and the adoption: exit.json says how, if it got there. */
        d = engine_dir_has(dir, SUPERVISE_EXIT) ? RESOURCES_RECOVER_RECORD : RESOURCES_RECOVER_LOST;
    }
    if (d == RESOURCES_RECOVER_RESPAWN) {
        if (engine_respawn(eng, r, t, &e)) {
            r->watch = rt_watch_dir(eng->rt, dir, engine_run_watch_cb, r, &e);
            log_info("engine: task %s never started its agent: supervisor %d started now", t->id,
                     r->supervisor_pid);
            task_free(t);
            free(dir);
            return;
        }
        log_warn("engine: restart supervisor of %s: %s", t->id, e.msg);
        d = RESOURCES_RECOVER_LOST;
    }
    if (d == RESOURCES_RECOVER_RECORD) {
        log_info("engine: task %s ended while the daemon was down", t->id);
        task_free(t);
        engine_run_exit_cb(r); /* records the real exit status from exit.json */
        free(dir);
        return;
    }
    /* Lost. An agent whose supervisor is gone must not run on unseen: nobody captures it. */
    if (f.agent_alive && r->pgid > 0) {
        killpg(r->pgid, SIGKILL);
    }
    engine_run_read(r, true);
    engine_run_copy_report(r, t);
    engine_run_remove(eng, r);
    t->end = TASK_END_LOST;
    free(t->reason);
    t->reason = xstrdup("lost: agent ended while the daemon was down, exit status unknown");
    if (engine_finish(eng, t, TASK_FAILED, dir, &e) != 0) {
        log_error("engine: record lost task: %s", e.msg);
    }
    free(dir);
}

/* Reconciles and starts. */
int
engine_start(struct engine *eng, struct err *e)
{
    char **ids = NULL;

    if (store_task_ids_by_status(eng->store, TASK_RUNNING, &ids, e) != 0) {
        return -1;
    }
    for (char **id = ids; id && *id; id++) {
        struct task *t = store_task_load(eng->store, *id, e);
        if (t != NULL) {
            engine_reconcile_running(eng, t);
        }
    }
    strv_free(ids);
    ids = NULL;
    /* Blocked tasks whose dependencies ended while nobody listened. */
    if (store_task_ids_by_status(eng->store, TASK_BLOCKED, &ids, e) != 0) {
        return -1;
    }
    for (char **id = ids; id && *id; id++) {
        char **unmet = NULL, **deps = NULL;
        struct task *t = store_task_load(eng->store, *id, e);
        if (t == NULL || store_dep_unmet(eng->store, t->id, &unmet, e) != 0) {
            task_free(t);
            continue;
        }
        bool failed_dep = false;
        struct task *bad = NULL;
        for (char **u = unmet; u && *u && !failed_dep; u++) {
            struct task *d = store_task_load(eng->store, *u, e);
            if (d && (d->status == TASK_FAILED || d->status == TASK_CANCELLED)) {
                failed_dep = true;
                bad = d;
            } else {
                task_free(d);
            }
        }
        if (bad != NULL) {
            struct task **touched = NULL;
            size_t n = 0;
            if (store_begin(eng->store, e) == 0 && engine_cascade(eng, bad, &touched, &n, e) == 0 &&
                store_commit(eng->store, e) == 0) {
                for (size_t i = 0; i < n; i++) {
                    engine_notify(eng, touched[i]);
                }
            } else {
                store_rollback(eng->store);
            }
            for (size_t i = 0; i < n; i++) {
                task_free(touched[i]);
            }
            free(touched);
            task_free(bad);
        } else if (unmet == NULL || unmet[0] == NULL) {
            engine_enrich(eng, t);
            if (task_transition(t, TASK_QUEUED, clock_now_ms(), e) == 0 &&
                store_task_update(eng->store, t, e) == 0) {
                log_info("engine: task %s unblocked at start-up", t->id);
            }
        }
        strv_free(unmet);
        strv_free(deps);
        task_free(t);
    }
    strv_free(ids);
    ids = NULL;
    if (store_task_ids_by_status(eng->store, TASK_QUEUED, &ids, e) != 0) {
        return -1;
    }
    for (char **id = ids; id && *id; id++) {
        struct task *t = store_task_load(eng->store, *id, e);
        if (t != NULL) {
            int p = t->priority >= 0 && t->priority <= 2 ? t->priority : 2;
            queue_push(&eng->queue[p], t);
            task_free(t);
        }
    }
    strv_free(ids);
    rt_defer(eng->rt, engine_dispatch, eng);
    /* Retention runs shortly after start-up (not before serving) and then daily. */
    rt_timer_start(eng->retention_timer, ENGINE_RETENTION_FIRST_MS, ENGINE_RETENTION_EVERY_MS);
    return sched_start(eng->sched, e);
}

/* Stops the engine. Without kill_tasks it lets go of running tasks at once (their
 * supervisors go on and the next daemon re-adopts them); with it, it cancels them and keeps
 * watching until every supervisor has reported, so their ends are recorded. */
void
engine_stop(struct engine *eng, bool kill_tasks)
{
    eng->stopping = true;
    sched_stop(eng->sched);
    rt_timer_stop(eng->res_timer);
    eng->res_timer_on = false;
    rt_timer_stop(eng->retention_timer);
    if (kill_tasks) {
        char **ids = xcalloc((size_t)eng->running + 1, sizeof *ids);
        size_t n = 0;
        for (struct run *r = eng->runs; r; r = r->next) {
            ids[n++] = xstrdup(r->id);
        }
        for (size_t i = 0; i < n; i++) {
            struct err e;
            if (engine_task_cancel(eng, ids[i], "daemon stopped with --kill-tasks", &e) != 0) {
                log_warn("engine: cancel %s: %s", ids[i], e.msg);
            }
        }
        strv_free(ids);
        return;
    }
    while (eng->runs) {
        struct run *r = eng->runs;
        eng->runs = r->next;
        eng->running--;
        engine_run_free(r);
    }
}

/* Frees the engine; supervisors keep running. */
void
engine_free(struct engine *eng)
{
    if (eng == NULL) {
        return;
    }
    while (eng->runs) {
        struct run *r = eng->runs;
        eng->runs = r->next;
        engine_run_free(r);
    }
    for (int p = 0; p < 3; p++) {
        queue_clear(&eng->queue[p]);
    }
    for (size_t i = 0; i < eng->nannounce; i++) {
        task_free(eng->announce[i]); /* NULL for those already announced */
    }
    free(eng->announce);
    for (size_t i = 0; i < eng->nreleasing; i++) {
        free(eng->releasing[i]);
    }
    free(eng->releasing);
    while (eng->watchers) {
        struct engine_watcher *w = eng->watchers;
        eng->watchers = w->next;
        free(w);
    }
    sched_free(eng->sched);
    rt_timer_free(eng->res_timer);
    rt_timer_free(eng->retention_timer);
    resources_free(eng->res);
    store_close(eng->store);
    config_free(eng->config);
    free(eng->waiting_reason);
    free(eng->home);
    free(eng->exe);
    free(eng->out_dir);
    free(eng);
}

/* Sets the lifecycle event listener. */
void
engine_set_event_cb(struct engine *eng, engine_event_fn fn, void *arg)
{
    eng->event_fn = fn;
    eng->event_arg = arg;
}

/* The store. */
struct store *
engine_store(struct engine *eng)
{
    return eng->store;
}

/* The scheduler. */
struct sched *
engine_sched(struct engine *eng)
{
    return eng->sched;
}

/* The runtime. */
struct rt *
engine_rt(struct engine *eng)
{
    return eng->rt;
}

/* When the engine started (monotonic ms). */
int64_t
engine_started_mono(struct engine *eng)
{
    return eng->started_mono;
}

/* The state directory. */
const char *
engine_home(struct engine *eng)
{
    return eng->home;
}

/* The daemon-wide configuration. */
const struct config *
engine_config(struct engine *eng)
{
    return eng->config;
}

/* A task's output directory. */
char *
engine_task_dir(struct engine *eng, const char *id)
{
    return xasprintf("%s/%s", eng->out_dir, id);
}

static int
engine_graph_add_cb(void *arg, const char *task_id, const char *dep_id)
{
    graph_add(arg, task_id, dep_id);
    return 0;
}

/* Refuses edges that would make a task wait, directly or through others, on itself. */
static int
engine_check_cycle(struct engine *eng, const char *id, char *const *deps, struct err *e)
{
    char **dependents = NULL;
    for (char *const *d = deps; *d; d++) {
        if (strcmp(*d, id) == 0) {
            return err_set(e, ERR_INVALID, "dependsOn: a task cannot depend on itself (%s -> %s)",
                           id, id);
        }
    }
    /* A cycle through id needs a task that depends on id: for a new task there is none, and
     * the whole graph need not be read. */
    if (store_dep_dependents(eng->store, id, &dependents, e) != 0) {
        return -1;
    }
    bool none = dependents == NULL || dependents[0] == NULL;
    strv_free(dependents);
    if (none) {
        return 0;
    }
    struct graph *g = graph_new();
    int rc = store_dep_each_open(eng->store, engine_graph_add_cb, g, e);
    if (rc == 0) {
        char *cycle = graph_find_cycle(g, id, deps);
        if (cycle != NULL) {
            rc = err_set(e, ERR_INVALID, "dependsOn: would create a dependency cycle: %s", cycle);
            free(cycle);
        }
    }
    graph_free(g);
    return rc;
}

/* A new task is durable: queue it (when queued) and announce it. */
static void
engine_announce_submitted(struct engine *eng, const struct task *t)
{
    log_info("engine: task %s %s priority=P%d agent=%s", t->id, task_status_name(t->status),
             t->priority, t->agent);
    if (t->status == TASK_QUEUED) {
        engine_enqueue(eng, t);
    }
    engine_notify(eng, t);
}

struct engine_submitted {
    struct engine *eng;
    struct task *task;
};

static void
engine_submitted_drop(void *arg)
{
    struct engine_submitted *s = arg;
    task_free(s->task);
    free(s);
}

static void
engine_submitted(void *arg)
{
    struct engine_submitted *s = arg;
    engine_announce_submitted(s->eng, s->task);
    engine_submitted_drop(s);
}

/* Submits a task. */
int
engine_task_submit(struct engine *eng, struct task *t, char *const *deps, struct err *e)
{
    char **unmet = NULL;
    task_id_new(t->id);
    t->created_at = t->updated_at = clock_now_ms();
    t->status = TASK_QUEUED;
    if (store_begin(eng->store, e) != 0) {
        return -1;
    }
    if (store_task_insert(eng->store, t, e) != 0) {
        goto fail;
    }
    if (deps && deps[0]) {
        if (engine_check_cycle(eng, t->id, deps, e) != 0 ||
            store_dep_add(eng->store, t->id, deps, t->created_at, e) != 0 ||
            store_dep_unmet(eng->store, t->id, &unmet, e) != 0) {
            goto fail;
        }
        /* A dependency that already failed or was cancelled dooms the task at once. */
        for (char **u = unmet; u && *u; u++) {
            struct task *d = store_task_load(eng->store, *u, e);
            if (d == NULL) {
                goto fail;
            }
            bool dead = d->status == TASK_FAILED || d->status == TASK_CANCELLED;
            if (dead) {
                t->reason = xasprintf("dependency %s already %s", d->id,
                                      d->end == TASK_END_TIMEOUT ? "timed out"
                                                                 : task_status_name(d->status));
                t->end = TASK_END_DEPENDENCY;
                json_decref(t->env);
                t->env = NULL;
                task_free(d);
                if (task_transition(t, TASK_CANCELLED, t->created_at, e) != 0 ||
                    store_task_update(eng->store, t, e) != 0) {
                    goto fail;
                }
                engine_checkpoint(eng, t, NULL);
                break;
            }
            task_free(d);
        }
        if (t->status == TASK_QUEUED && unmet && unmet[0]) {
            if (task_transition(t, TASK_BLOCKED, t->created_at, e) != 0 ||
                store_task_update(eng->store, t, e) != 0) {
                goto fail;
            }
        } else if (t->status == TASK_QUEUED && t->continue_from) {
            engine_enrich(eng, t); /* its upstream already completed */
            if (store_task_update(eng->store, t, e) != 0) {
                goto fail;
            }
        }
    }
    if (store_commit(eng->store, e) != 0) {
        goto fail;
    }
    strv_free(unmet);
    if (store_in_transaction(eng->store)) {
        /* Nested in the caller's transaction (a schedule fire, a pipeline): queue and announce
         * the task only once that commits, never one that is rolled back. */
        struct engine_submitted *s = xcalloc(1, sizeof *s);
        s->eng = eng;
        s->task = task_dup(t);
        store_after_commit(eng->store, engine_submitted, engine_submitted_drop, s);
    } else {
        engine_announce_submitted(eng, t);
    }
    return 0;
fail:
    store_rollback(eng->store);
    strv_free(unmet);
    return -1;
}

/* Cancels a task. */
int
engine_task_cancel(struct engine *eng, const char *id, const char *reason, struct err *e)
{
    struct task *t = store_task_load(eng->store, id, e);
    if (t == NULL) {
        return -1;
    }
    if (task_status_is_terminal(t->status)) {
        err_set(e, ERR_STATE, "task %s cannot be cancelled: it is already %s", id,
                task_status_name(t->status));
        task_free(t);
        return -1;
    }
    free(t->reason);
    t->reason = xstrdup(reason && *reason ? reason : "cancelled by request");
    if (t->status == TASK_RUNNING) {
        struct run *r = engine_run_find(eng, id);
        if (store_task_update(eng->store, t, e) != 0) {
            task_free(t);
            return -1;
        }
        if (r != NULL && r->supervisor_pid > 0 && kill(r->supervisor_pid, SIGTERM) == 0) {
            r->cancel_requested = true;
            log_info("engine: cancelling task %s (supervisor %d)", id, r->supervisor_pid);
            task_free(t);
            return 0;
        }
        /* No supervisor to ask: the agent is already gone. */
        if (r != NULL) {
            engine_run_remove(eng, r);
        }
    }
    t->end = TASK_END_CANCELLED;
    char *dir = engine_task_dir(eng, id);
    int rc = engine_finish(eng, t, TASK_CANCELLED, t->status == TASK_RUNNING ? dir : NULL, e);
    free(dir);
    return rc;
}

/* Loads a task with live details. */
struct task *
engine_task_load(struct engine *eng, const char *id, struct err *e)
{
    struct task *t = store_task_load(eng->store, id, e);
    if (t == NULL) {
        return NULL;
    }
    struct run *r = engine_run_find(eng, id);
    if (r != NULL && t->status == TASK_RUNNING) {
        engine_run_copy_report(r, t);
    }
    return t;
}

/* The newest line of a running task. */
const char *
engine_task_last_line(struct engine *eng, const char *id)
{
    struct run *r = engine_run_find(eng, id);
    return r ? r->report.last_line : NULL;
}

/* Why the queue waits. */
const char *
engine_waiting_reason(struct engine *eng)
{
    return eng->waiting_reason;
}

/* Registers a state-change watcher. */
struct engine_watcher *
engine_watch(struct engine *eng, engine_watch_fn fn, void *arg)
{
    struct engine_watcher *w = xcalloc(1, sizeof *w);
    w->fn = fn;
    w->arg = arg;
    w->next = eng->watchers;
    eng->watchers = w;
    return w;
}

/* Removes a watcher (safe from inside a watcher callback). */
void
engine_unwatch(struct engine *eng, struct engine_watcher *w)
{
    if (w == NULL) {
        return;
    }
    w->removed = true;
    if (eng->notifying > 0) {
        return;
    }
    for (struct engine_watcher **pp = &eng->watchers; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            free(w);
            return;
        }
    }
}

/* The pool as JSON. */
json_t *
engine_pool_json(struct engine *eng)
{
    const struct config *c = eng->config;
    int64_t now = clock_mono_ms();
    json_t *running = json_array();
    json_t *by_agent = json_object();

    engine_res_refresh(eng, false);
    for (struct run *r = eng->runs; r; r = r->next) {
        json_t *item =
            json_pack("{s:s, s:s, s:i, s:I}", "taskId", r->id, "agent", r->agent, "supervisorPid",
                      r->supervisor_pid, "runtimeMs", (json_int_t)(now - r->started_mono));
        if (r->have_agent) {
            json_set_int(item, "pid", r->pid);
        }
        json_t *use = resources_agent_json(eng->res, r->id, now);
        if (use != NULL) {
            json_object_update(item, use);
            json_decref(use);
        }
        json_array_append_new(running, item);
        json_set_int(by_agent, r->agent, engine_running_of_agent(eng, r->agent));
    }
    json_t *limits =
        json_pack("{s:I, s:I, s:I, s:I}", "maxWorkers", (json_int_t)config_int(c, "maxWorkers"),
                  "cpuThreshold", (json_int_t)config_int(c, "cpuThreshold"), "memoryReserve",
                  (json_int_t)config_int(c, "memoryReserve"), "cpuCoresReserved",
                  (json_int_t)config_int(c, "cpuCoresReserved"));
    return json_pack("{s:i, s:I, s:{s:I, s:I, s:I}, s:s?, s:o, s:o, s:o, s:o}", "running",
                     eng->running, "capacity", (json_int_t)config_int(c, "maxWorkers"), "queued",
                     "P0", (json_int_t)eng->queue[0].len, "P1", (json_int_t)eng->queue[1].len, "P2",
                     (json_int_t)eng->queue[2].len, "limitedBy", eng->waiting_reason, "byAgent",
                     by_agent, "limits", limits, "resources", resources_json(eng->res, now),
                     "tasks", running);
}
