/* The scheduler. Decides when schedules fire and what each fire does; the store keeps every
 * schedule and execution, so the scheduler holds no per-schedule state in memory: the earliest
 * wake is one indexed query, and a pass loads only the schedules that are due.
 *
 * A pass (sched_tick) handles each due schedule in its own transaction: the execution rows of
 * its fires (claimed by UNIQUE (schedule_id, fire_time)), the tasks of its run (created with
 * engine_task_submit, which nests in that transaction and queues them only once it commits)
 * and its next fire. A crash anywhere leaves either all of it or none, so a fire never runs
 * twice and never gets lost.
 * It does not parse cron text or zones (cron/ does) nor run tasks (the engine does). */
#include "core/sched.h"

#include <sys/stat.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/engine.h"
#include "core/task.h"
#include "cron/cron.h"
#include "runtime/rt.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"
#include "util/uuid.h"
#include "util/xmalloc.h"

#define SCHED_DUE_BATCH      100
#define SCHED_ROUNDS_MAX     100  /* due batches per pass, so a pass always ends */
#define SCHED_BACKOFF_MS     5000 /* retry delay after the store failed */
#define SCHED_CLOCK_FILE_MAX 128

/* Test hooks (BACKBEAT_SCHED_CRASH): die right before or right after a fire commits, so the
 * end-to-end tests can prove a fire is neither lost nor run twice. */
enum sched_crash {
    SCHED_CRASH_NONE = 0,
    SCHED_CRASH_BEFORE_COMMIT,
    SCHED_CRASH_AFTER_CLAIM,
};

struct sched {
    struct engine *eng;
    struct rt *rt;
    struct rt_timer *timer;
    struct rt_clock_watch *clock_watch;
    struct rt_watch *file_watch;
    struct engine_watcher *watcher;
    char **ended; /* tasks that reached a terminal state, to settle their runs */
    size_t nended, cap_ended;
    bool started;
    bool stopping;
    bool ticking;
    bool armed;
    int64_t armed_now;  /* wall time when the timer was armed */
    int64_t armed_mono; /* monotonic time then */
    int64_t clock_seen; /* the file clock's value the last jump pass saw */
    enum sched_crash crash;
};

/* ---- the file clock (tests) ----
 * clock_set_source takes no argument, so its state is process-wide; one scheduler owns it. */

static struct {
    char *path;
    bool have;
    int64_t value;
    struct timespec mtime;
    off_t size;
    ino_t ino;
    struct sched *owner;
} sched_clock_file;

static int64_t
sched_clock_system_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Re-reads the clock file when it changed; keeps the last good value on a bad read. */
static void
sched_clock_file_read(void)
{
    struct stat sb;
    if (stat(sched_clock_file.path, &sb) != 0) {
        return;
    }
    if (sched_clock_file.have && sb.st_ino == sched_clock_file.ino &&
        sb.st_size == sched_clock_file.size && sb.st_mtim.tv_sec == sched_clock_file.mtime.tv_sec &&
        sb.st_mtim.tv_nsec == sched_clock_file.mtime.tv_nsec) {
        return;
    }
    struct err e;
    size_t len;
    char *text = fs_read_file(sched_clock_file.path, SCHED_CLOCK_FILE_MAX, &len, &e);
    if (text == NULL) {
        return;
    }
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ' || text[len - 1] == '\r')) {
        text[--len] = '\0';
    }
    int64_t v;
    char *end = NULL;
    errno = 0;
    long long n = strtoll(text, &end, 10);
    bool ok = false;
    if (len > 0 && errno == 0 && end != NULL && *end == '\0') {
        v = n;
        ok = true;
    } else if (clock_parse_iso(text, &v) == 0) {
        ok = true;
    }
    free(text);
    if (!ok) {
        return; /* half-written or bad: keep the last value */
    }
    sched_clock_file.value = v;
    sched_clock_file.have = true;
    sched_clock_file.ino = sb.st_ino;
    sched_clock_file.size = sb.st_size;
    sched_clock_file.mtime = sb.st_mtim;
}

static int64_t
sched_clock_file_now(void)
{
    sched_clock_file_read();
    return sched_clock_file.have ? sched_clock_file.value : sched_clock_system_ms();
}

/* ---- small helpers ---- */

static struct store *
sched_store(struct sched *s)
{
    return engine_store(s->eng);
}

static int64_t
sched_grace(struct sched *s)
{
    return config_int(engine_config(s->eng), "missedRunGraceMs");
}

static void
sched_iso(int64_t ms, char out[32])
{
    clock_format_iso(ms, out);
}

static bool
sched_is(const char *word, const char *name)
{
    return strcmp(word, name) == 0;
}

static void
sched_set_reason(struct schedule *sc, const char *reason)
{
    free(sc->reason);
    sc->reason = reason ? xstrdup(reason) : NULL;
}

static void sched_changed(struct sched *s);

/* A parsed expression and its zone, for repeated next-fire computations. */
struct sched_cron {
    struct cron_expr *expr;
    const struct tz_zone *zone;
};

static int
sched_cron_open(const struct schedule *sc, struct sched_cron *cc, struct err *e)
{
    cc->expr = NULL;
    cc->zone = NULL;
    if (sc->cron_expression == NULL) {
        return err_set(e, ERR_INVALID, "cronExpression: required for cron schedules");
    }
    cc->expr = cron_parse(sc->cron_expression, e);
    if (cc->expr == NULL) {
        return err_wrap(e, "cronExpression");
    }
    cc->zone = tz_get(sc->timezone ? sc->timezone : "UTC", e);
    if (cc->zone == NULL) {
        cron_expr_free(cc->expr);
        cc->expr = NULL;
        return err_wrap(e, "timezone");
    }
    return 0;
}

static void
sched_cron_close(struct sched_cron *cc)
{
    cron_expr_free(cc->expr);
    cc->expr = NULL;
}

static int
sched_cron_next(const struct sched_cron *cc, int64_t t, int64_t *out, struct err *e)
{
    if (cron_next(cc->expr, cc->zone, t, out, e) != 0) {
        return err_wrap(e, "cronExpression");
    }
    return 0;
}

/* The next fire strictly after t. */
int
sched_next_fire(const struct schedule *sc, int64_t t, int64_t *out, struct err *e)
{
    struct sched_cron cc;
    *out = 0;
    if (!sched_is(sc->type, "cron")) {
        return 0;
    }
    if (sched_cron_open(sc, &cc, e) != 0) {
        return -1;
    }
    int rc = sched_cron_next(&cc, t, out, e);
    sched_cron_close(&cc);
    return rc;
}

/* The first fire of a fresh (or resumed) schedule. */
int
sched_first_fire(const struct schedule *sc, int64_t now, int64_t *out, struct err *e)
{
    if (!sched_is(sc->type, "cron")) {
        *out = sc->scheduled_at;
        return 0;
    }
    int64_t from = now;
    if (sc->scheduled_at > 0 && sc->scheduled_at - 1 > now) {
        from = sc->scheduled_at - 1; /* a start time: its own instant may fire */
    }
    return sched_next_fire(sc, from, out, e);
}

/* ---- the plan ---- */

struct sched_times {
    int64_t *v;
    size_t n, cap;
};

static void
sched_times_add(struct sched_times *t, int64_t v)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 8;
        t->v = xrealloc(t->v, t->cap * sizeof *t->v);
    }
    t->v[t->n++] = v;
}

/* Frees what a plan holds. */
void
sched_plan_fini(struct sched_plan *p)
{
    free(p->missed);
    free(p->skipped);
    free(p->covers);
    memset(p, 0, sizeof *p);
}

static void
sched_plan_duration(int64_t ms, char out[32])
{
    if (ms < 60000) {
        snprintf(out, 32, "%llds", (long long)(ms / 1000));
    } else if (ms < 3600000) {
        snprintf(out, 32, "%lldm %02llds", (long long)(ms / 60000), (long long)(ms / 1000 % 60));
    } else if (ms < 86400000) {
        snprintf(out, 32, "%lldh %02lldm", (long long)(ms / 3600000), (long long)(ms / 60000 % 60));
    } else {
        snprintf(out, 32, "%lldd %02lldh", (long long)(ms / 86400000),
                 (long long)(ms / 3600000 % 24));
    }
}

/* Plans one pass for a due schedule. */
int
sched_plan(const struct schedule *sc, int64_t now, int64_t grace, struct sched_plan *p,
           struct err *e)
{
    struct sched_times old = { 0 }, fresh = { 0 };
    struct sched_cron cc = { 0 };
    int64_t old_total = 0, last_old = 0, first_old = 0;
    bool old_exact = true, expired = false;
    bool cron = sched_is(sc->type, "cron");
    int rc = -1;

    memset(p, 0, sizeof *p);
    str_copy(p->status, "active", sizeof p->status);
    p->missed_more_exact = true;
    if (grace < SCHED_GRACE_FLOOR_MS) {
        grace = SCHED_GRACE_FLOOR_MS;
    }
    int64_t window = now - grace; /* fires before it are old (missed) */
    if (sc->next_run_at == 0 || sc->next_run_at > now) {
        p->next_run_at = sc->next_run_at;
        return 0;
    }
    if (cron && sched_cron_open(sc, &cc, e) != 0) {
        return -1;
    }

    /* Enumerate the fires in [next_run_at, now]. */
    int64_t f = sc->next_run_at;
    size_t scanned = 0;
    while (f != 0 && f <= now) {
        if (sc->expires_at > 0 && f >= sc->expires_at) {
            expired = true;
            break;
        }
        if (scanned >= SCHED_SCAN_MAX) {
            /* A long outage of a frequent schedule: count no further, jump to the window. */
            old_exact = false;
            f = 0;
            if (sched_cron_next(&cc, window - 1, &f, e) != 0) {
                goto out;
            }
            while (f != 0 && f <= now && fresh.n < SCHED_SCAN_MAX) {
                if (sc->expires_at > 0 && f >= sc->expires_at) {
                    expired = true;
                    break;
                }
                sched_times_add(&fresh, f);
                if (sched_cron_next(&cc, f, &f, e) != 0) {
                    goto out;
                }
            }
            break;
        }
        scanned++;
        if (f < window) {
            if (old_total == 0) {
                first_old = f;
            }
            old_total++;
            last_old = f;
            if (old.n < SCHED_MISSED_ROWS_MAX) {
                sched_times_add(&old, f);
            }
        } else {
            sched_times_add(&fresh, f);
        }
        if (!cron) {
            break;
        }
        if (sched_cron_next(&cc, f, &f, e) != 0) {
            goto out;
        }
    }

    const char *policy = sc->policy;
    char late[32] = "", first_iso[32] = "";
    if (old_total > 0) {
        sched_plan_duration(now - first_old, late);
        sched_iso(first_old, first_iso);
    }
    if (old_total > 0 && sched_is(policy, "fail")) {
        p->missed = old.v;
        p->nmissed = old.n;
        old.v = NULL;
        p->missed_more = old_total - (int64_t)p->nmissed;
        p->missed_more_exact = old_exact;
        p->skipped = fresh.v;
        p->nskipped = fresh.n;
        fresh.v = NULL;
        str_copy(p->status, "cancelled", sizeof p->status);
        snprintf(p->reason, sizeof p->reason,
                 "missed %s%lld fire%s, the first at %s (late by %s); missedRunPolicy fail "
                 "cancels the schedule",
                 old_exact ? "" : "at least ", (long long)old_total, old_total == 1 ? "" : "s",
                 first_iso, late);
        p->next_run_at = 0;
        rc = 0;
        goto out;
    }
    if (old_total > 0 && sched_is(policy, "catchup")) {
        /* One run for all of them, recorded at the latest fire it stands for. */
        for (size_t i = 0; i < fresh.n; i++) {
            sched_times_add(&old, fresh.v[i]);
        }
        p->run_fire = fresh.n > 0 ? fresh.v[fresh.n - 1] : last_old;
        p->covers = old.v;
        p->ncovers = old.n;
        old.v = NULL;
        p->missed_more = old_total - (int64_t)(p->ncovers - fresh.n);
        p->missed_more_exact = old_exact;
    } else {
        if (old_total > 0) { /* skip */
            p->missed = old.v;
            p->nmissed = old.n;
            old.v = NULL;
            p->missed_more = old_total - (int64_t)p->nmissed;
            p->missed_more_exact = old_exact;
        }
        if (fresh.n > 0) {
            p->run_fire = fresh.v[fresh.n - 1];
            if (fresh.n > 1) {
                p->covers = fresh.v;
                p->ncovers = fresh.n;
                fresh.v = NULL;
            }
        }
    }

    /* What comes next. */
    if (!cron) {
        str_copy(p->status, "completed", sizeof p->status);
        if (p->run_fire == 0 && old_total > 0) {
            snprintf(p->reason, sizeof p->reason,
                     "missed its time %s (late by %s); missedRunPolicy skip", first_iso, late);
        }
        p->next_run_at = 0;
        rc = 0;
        goto out;
    }
    int64_t next = 0;
    if (!expired) {
        struct err ne;
        if (sched_cron_next(&cc, now, &next, &ne) != 0) {
            str_copy(p->status, "completed", sizeof p->status);
            snprintf(p->reason, sizeof p->reason, "no further fire time: %s", ne.msg);
            rc = 0;
            goto out;
        }
    }
    if (expired || (sc->expires_at > 0 && next >= sc->expires_at)) {
        char exp[32];
        sched_iso(sc->expires_at, exp);
        str_copy(p->status, "expired", sizeof p->status);
        snprintf(p->reason, sizeof p->reason, "expired: no fire left before expiresAt %s", exp);
        next = 0;
    }
    p->next_run_at = next;
    rc = 0;
out:
    free(old.v);
    free(fresh.v);
    sched_cron_close(&cc);
    if (rc != 0) {
        sched_plan_fini(p);
    }
    return rc;
}

/* ---- runs ---- */

/* A task from a template or a pipeline step (settings frozen at creation). */
static struct task *
sched_task_build(const struct schedule *sc, const json_t *settings)
{
    struct task *t = task_new();
    const char *s;
    t->prompt = xstrdup(json_get_str(settings, "prompt") ? json_get_str(settings, "prompt") : "");
    if ((s = json_get_str(settings, "priority")) != NULL) {
        task_priority_parse(s, &t->priority);
    }
    if ((s = json_get_str(settings, "agent")) != NULL) {
        t->agent = xstrdup(s);
    }
    if ((s = json_get_str(settings, "workingDirectory")) != NULL) {
        t->working_directory = xstrdup(s);
    }
    if ((s = json_get_str(settings, "model")) != NULL) {
        t->model = xstrdup(s);
    }
    if ((s = json_get_str(settings, "systemPrompt")) != NULL) {
        t->system_prompt = xstrdup(s);
    }
    t->timeout_ms = json_get_int(settings, "timeout", 0);
    t->max_output_buffer = json_get_int(settings, "maxOutputBuffer", 0);
    t->env = sc->env ? json_deep_copy(sc->env) : json_object();
    t->client_cwd = sc->client_cwd ? xstrdup(sc->client_cwd) : NULL;
    return t;
}

static void
sched_strv_push(char ***v, size_t *n, const char *s)
{
    *v = xrealloc(*v, (*n + 2) * sizeof **v);
    (*v)[(*n)++] = xstrdup(s);
    (*v)[*n] = NULL;
}

/* The unfinished tasks of a run (NULL-terminated, strv_free; NULL when none). Tasks that no
 * longer exist (pruned) count as finished. */
static char **
sched_exec_unfinished(struct sched *s, const struct schedule_execution *x)
{
    char **v = NULL;
    size_t n = 0;
    size_t i;
    json_t *id;
    json_array_foreach(x->task_ids, i, id)
    {
        struct err e;
        struct task *t = store_task_load(sched_store(s), json_string_value(id), &e);
        if (t != NULL && !task_status_is_terminal(t->status)) {
            sched_strv_push(&v, &n, t->id);
        }
        task_free(t);
    }
    return v;
}

/* Settles a run that is still marked running: when all its tasks ended (and no delayed step
 * waits) it gets its final status; a completed wait task starts its delayed step's clock.
 * *open tells whether the run goes on; *blocker (may be NULL) names why. */
static int
sched_settle_exec(struct sched *s, int64_t exec_id, bool *open, char **blocker, struct err *e)
{
    struct store *st = sched_store(s);
    struct schedule_execution *x = store_schedule_exec_load(st, exec_id, e);
    char **unfinished = NULL;
    int rc = -1;
    bool any_failed = false, any_cancelled = false;
    int64_t now = clock_now_ms();

    *open = false;
    if (blocker) {
        *blocker = NULL;
    }
    if (x == NULL) {
        return -1;
    }
    if (!sched_is(x->status, "triggered")) {
        rc = 0;
        goto out;
    }
    unfinished = sched_exec_unfinished(s, x);
    if (unfinished != NULL) {
        *open = true;
        if (blocker) {
            *blocker = xasprintf("task %s is not finished", unfinished[0]);
        }
        rc = 0;
        goto out;
    }
    size_t i;
    json_t *id;
    json_array_foreach(x->task_ids, i, id)
    {
        struct err le;
        struct task *t = store_task_load(st, json_string_value(id), &le);
        if (t != NULL) {
            any_failed |= t->status == TASK_FAILED;
            any_cancelled |= t->status == TASK_CANCELLED;
        }
        task_free(t);
    }
    if (x->next_step > 0 && !any_failed && !any_cancelled) {
        if (x->resume_at == 0 && x->wait_task != NULL) {
            struct err le;
            struct task *w = store_task_load(st, x->wait_task, &le);
            struct schedule *sc = store_schedule_load(st, x->schedule_id, &le);
            int64_t delay = 0;
            if (sc != NULL) {
                delay =
                    json_get_int(json_array_get(sc->steps, (size_t)x->next_step - 1), "delay", 0);
            }
            int64_t done = w != NULL && w->completed_at > 0 ? w->completed_at : now;
            x->resume_at = done + delay;
            x->updated_at = now;
            task_free(w);
            schedule_free(sc);
            if (store_schedule_exec_update(st, x, e) != 0) {
                goto out;
            }
            log_info("sched: run %lld of %s: step %d starts at %lld", (long long)x->id,
                     x->schedule_id, x->next_step, (long long)x->resume_at);
        }
        *open = true;
        if (blocker) {
            *blocker = xasprintf("its pipeline run waits to start step %d", x->next_step);
        }
        rc = 0;
        goto out;
    }
    if (x->next_step > 0) {
        char *msg = xasprintf("%s%sthe steps from %d on were not started because an earlier "
                              "step %s",
                              x->error ? x->error : "", x->error ? "; " : "", x->next_step,
                              any_failed ? "failed" : "was cancelled");
        free(x->error);
        x->error = msg;
        x->next_step = 0;
        free(x->wait_task);
        x->wait_task = NULL;
        x->resume_at = 0;
    }
    str_copy(x->status,
             any_failed      ? "failed"
             : any_cancelled ? "cancelled"
                             : "completed",
             sizeof x->status);
    x->updated_at = now;
    if (store_schedule_exec_update(st, x, e) != 0) {
        goto out;
    }
    log_debug("sched: run %lld of %s %s", (long long)x->id, x->schedule_id, x->status);
    rc = 0;
out:
    strv_free(unfinished);
    schedule_execution_free(x);
    return rc;
}

/* Whether a schedule has a run that goes on; *why (owned) says which. */
static int
sched_busy(struct sched *s, const char *schedule_id, bool *busy, char **why, struct err *e)
{
    int64_t *ids = NULL;
    size_t n = 0;
    *busy = false;
    *why = NULL;
    if (store_schedule_exec_open(sched_store(s), schedule_id, &ids, &n, e) != 0) {
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n && !*busy; i++) {
        if (sched_settle_exec(s, ids[i], busy, why, e) != 0) {
            rc = -1;
            break;
        }
    }
    free(ids);
    return rc;
}

/* The unfinished tasks of the runs of another schedule (afterSchedule), as dependencies. */
static int
sched_after_deps(struct sched *s, const struct schedule *sc, char ***deps, struct err *e)
{
    int64_t *ids = NULL;
    size_t n = 0, k = 0;
    char **v = NULL;
    *deps = NULL;
    if (sc->after_schedule_id == NULL) {
        return 0;
    }
    if (store_schedule_exec_open(sched_store(s), sc->after_schedule_id, &ids, &n, e) != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        bool open;
        if (sched_settle_exec(s, ids[i], &open, NULL, e) != 0) {
            free(ids);
            strv_free(v);
            return -1;
        }
        if (!open) {
            continue;
        }
        struct err le;
        struct schedule_execution *x = store_schedule_exec_load(sched_store(s), ids[i], &le);
        char **u = x ? sched_exec_unfinished(s, x) : NULL;
        for (char **p = u; p && *p && k < TASK_DEPS_MAX; p++) {
            sched_strv_push(&v, &k, *p);
        }
        strv_free(u);
        schedule_execution_free(x);
    }
    free(ids);
    *deps = v;
    return 0;
}

static void
sched_json_append_id(struct schedule_execution *x, const char *id)
{
    if (x->task_ids == NULL) {
        x->task_ids = json_array();
    }
    json_array_append_new(x->task_ids, json_string(id));
}

/* Creates the tasks of a run from step `from` (0-based) to the next delayed step, chained: the
 * first depends on first_deps, each later one on the one before. A single-task schedule
 * creates its one task. */
static int
sched_run_segment(struct sched *s, const struct schedule *sc, struct schedule_execution *x,
                  size_t from, char **first_deps, struct err *e)
{
    if (sc->steps == NULL) {
        struct task *t = sched_task_build(sc, sc->template);
        int rc = engine_task_submit(s->eng, t, first_deps, e);
        if (rc == 0) {
            sched_json_append_id(x, t->id);
        }
        task_free(t);
        return rc;
    }
    size_t n = json_array_size(sc->steps);
    char prev[TASK_ID_LEN + 1] = "";
    for (size_t i = from; i < n; i++) {
        const json_t *step = json_array_get(sc->steps, i);
        if (i > from && json_get_int(step, "delay", 0) > 0) {
            x->next_step = (int)i + 1;
            free(x->wait_task);
            x->wait_task = xstrdup(prev);
            x->resume_at = 0;
            return 0;
        }
        struct task *t = sched_task_build(sc, step);
        char *chain[] = { prev, NULL };
        int rc = engine_task_submit(s->eng, t, i == from ? first_deps : chain, e);
        if (rc != 0) {
            task_free(t);
            return err_wrap(e, "step %zu", i + 1);
        }
        sched_json_append_id(x, t->id);
        str_copy(prev, t->id, sizeof prev);
        task_free(t);
    }
    x->next_step = 0;
    free(x->wait_task);
    x->wait_task = NULL;
    x->resume_at = 0;
    return 0;
}

/* Makes the run of one fire: claims it, creates its tasks (or, for a pipeline whose first step
 * waits, only the claim). *ran is false when the fire was claimed before (not an error). Must
 * run inside a transaction. *x_out (may be NULL) receives the execution. */
static int
sched_fire(struct sched *s, const struct schedule *sc, int64_t fire, const int64_t *covers,
           size_t ncovers, int64_t now, bool *ran, struct schedule_execution **x_out, struct err *e)
{
    struct store *st = sched_store(s);
    struct schedule_execution *x = xcalloc(1, sizeof *x);
    char **deps = NULL;
    bool claimed = false;
    int rc = -1;

    *ran = false;
    str_copy(x->schedule_id, sc->id, sizeof x->schedule_id);
    x->fire_time = fire;
    str_copy(x->status, "triggered", sizeof x->status);
    x->executed_at = now;
    x->created_at = x->updated_at = now;
    if (ncovers > 1) {
        x->covers = json_array();
        for (size_t i = 0; i < ncovers; i++) {
            json_array_append_new(x->covers, json_integer(covers[i]));
        }
    }
    if (store_schedule_exec_insert(st, x, &claimed, e) != 0) {
        goto out;
    }
    if (!claimed) {
        char iso[32];
        sched_iso(fire, iso);
        log_info("sched: the fire %s of %s was claimed before: not run again", iso, sc->id);
        rc = 0;
        goto out;
    }
    if (sched_after_deps(s, sc, &deps, e) != 0) {
        goto out;
    }
    int64_t first_delay = json_get_int(json_array_get(sc->steps, 0), "delay", 0);
    if (sc->steps != NULL && first_delay > 0) {
        x->next_step = 1;
        x->resume_at = now + first_delay;
    } else if (sched_run_segment(s, sc, x, 0, deps, e) != 0) {
        goto out;
    }
    if (store_schedule_exec_update(st, x, e) != 0) {
        goto out;
    }
    *ran = true;
    rc = 0;
out:
    strv_free(deps);
    if (rc == 0 && *ran && x_out != NULL) {
        *x_out = x;
    } else {
        schedule_execution_free(x);
    }
    return rc;
}

/* Records one fire that did not run (missed, skipped or failed). */
static int
sched_record(struct store *st, const char *schedule_id, int64_t fire, const char *status,
             const char *error, const int64_t *covers, size_t ncovers, int64_t now, struct err *e)
{
    struct schedule_execution x = { 0 };
    bool claimed;
    str_copy(x.schedule_id, schedule_id, sizeof x.schedule_id);
    x.fire_time = fire;
    str_copy(x.status, status, sizeof x.status);
    x.error = (char *)error;
    x.created_at = x.updated_at = now;
    if (ncovers > 1) {
        x.covers = json_array();
        for (size_t i = 0; i < ncovers; i++) {
            json_array_append_new(x.covers, json_integer(covers[i]));
        }
    }
    int rc = store_schedule_exec_insert(st, &x, &claimed, e);
    json_decref(x.covers);
    return rc;
}

static void
sched_maybe_crash(struct sched *s, enum sched_crash when)
{
    if (s->crash == when) {
        log_warn("sched: BACKBEAT_SCHED_CRASH: dying on purpose");
        kill(getpid(), SIGKILL);
    }
}

/* After a pass failed to write: records the failure and moves the schedule on, so one bad
 * schedule cannot stop the others or spin the timer. */
static int
sched_handle_failed(struct sched *s, struct schedule *sc, const struct sched_plan *p, int64_t now,
                    const char *why)
{
    struct store *st = sched_store(s);
    struct err e;
    int64_t fire = p->run_fire ? p->run_fire : sc->next_run_at;
    log_error("sched: fire of %s failed: %s", sc->id, why);
    if (store_begin(st, &e) != 0) {
        return -1;
    }
    char *msg = xasprintf("the run could not be created: %s", why);
    int rc = sched_record(st, sc->id, fire, "failed", msg, NULL, 0, now, &e);
    free(msg);
    if (rc == 0) {
        sc->next_run_at = p->next_run_at;
        str_copy(sc->status, p->status, sizeof sc->status);
        if (p->reason[0]) {
            sched_set_reason(sc, p->reason);
        }
        sc->updated_at = now;
        rc = store_schedule_update(st, sc, &e);
    }
    if (rc != 0 || store_commit(st, &e) != 0) {
        store_rollback(st);
        log_error("sched: record the failed fire of %s: %s", sc->id, e.msg);
        return -1;
    }
    return 0;
}

/* Handles one due schedule at now: missed and skipped fires, its run, its next fire. */
static int
sched_handle(struct sched *s, const char *id, int64_t now)
{
    struct store *st = sched_store(s);
    struct err e = { 0 };
    struct sched_plan p = { 0 };
    char *why = NULL, *note = NULL;
    bool ran = false, busy = false;
    int rc = -1;

    struct schedule *sc = store_schedule_load(st, id, &e);
    if (sc == NULL) {
        log_error("sched: %s", e.msg);
        return -1;
    }
    if (!sched_is(sc->status, "active") || sc->next_run_at == 0 || sc->next_run_at > now) {
        schedule_free(sc);
        return 0;
    }
    if (sched_plan(sc, now, sched_grace(s), &p, &e) != 0) {
        /* The stored expression or zone no longer works (e.g. the zone left the database). */
        str_copy(p.status, "cancelled", sizeof p.status);
        snprintf(p.reason, sizeof p.reason, "cannot compute its fire times: %.200s", e.msg);
        p.next_run_at = 0;
        rc = sched_handle_failed(s, sc, &p, now, e.msg);
        schedule_free(sc);
        return rc;
    }
    if (store_begin(st, &e) != 0) {
        goto fail;
    }
    for (size_t i = 0; i < p.nmissed; i++) {
        char late[32];
        sched_plan_duration(now - p.missed[i], late);
        free(note);
        if (i + 1 == p.nmissed && p.missed_more > 0) {
            char up_to[32];
            sched_iso(now, up_to);
            note = xasprintf("missed: late by %s, more than the grace period; missedRunPolicy "
                             "%s; and %s%lld more missed fires up to %s not recorded one by one",
                             late, sc->policy, p.missed_more_exact ? "" : "at least ",
                             (long long)p.missed_more, up_to);
        } else {
            note = xasprintf("missed: late by %s, more than the grace period; missedRunPolicy "
                             "%s",
                             late, sc->policy);
        }
        if (sched_record(st, sc->id, p.missed[i], "missed", note, NULL, 0, now, &e) != 0) {
            goto fail;
        }
    }
    for (size_t i = 0; i < p.nskipped; i++) {
        if (sched_record(st, sc->id, p.skipped[i], "skipped",
                         "not run: missedRunPolicy fail cancelled the schedule", NULL, 0, now,
                         &e) != 0) {
            goto fail;
        }
    }
    if (p.run_fire != 0) {
        if (sched_busy(s, sc->id, &busy, &why, &e) != 0) {
            goto fail;
        }
        if (busy) {
            free(note);
            note = xasprintf("skipped: the previous run is still going (%s)", why);
            if (sched_record(st, sc->id, p.run_fire, "skipped", note, p.covers, p.ncovers, now,
                             &e) != 0) {
                goto fail;
            }
            log_info("sched: %s: fire skipped: %s", sc->id, why);
        } else if (sched_fire(s, sc, p.run_fire, p.covers, p.ncovers, now, &ran, NULL, &e) != 0) {
            goto fail;
        }
    }
    sc->next_run_at = p.next_run_at;
    str_copy(sc->status, p.status, sizeof sc->status);
    if (p.reason[0]) {
        sched_set_reason(sc, p.reason);
    }
    if (ran) {
        sc->run_count++;
        sc->last_run_at = now;
        if (sc->max_runs > 0 && sc->run_count >= sc->max_runs && sched_is(sc->status, "active")) {
            char r[64];
            snprintf(r, sizeof r, "reached maxRuns (%lld)", (long long)sc->max_runs);
            str_copy(sc->status, "completed", sizeof sc->status);
            sched_set_reason(sc, r);
            sc->next_run_at = 0;
        }
    }
    sc->updated_at = now;
    if (store_schedule_update(st, sc, &e) != 0 ||
        store_schedule_exec_prune(st, sc->id, SCHED_HISTORY_KEEP, &e) != 0) {
        goto fail;
    }
    if (ran) {
        sched_maybe_crash(s, SCHED_CRASH_BEFORE_COMMIT);
    }
    if (store_commit(st, &e) != 0) {
        goto fail;
    }
    if (ran) {
        sched_maybe_crash(s, SCHED_CRASH_AFTER_CLAIM);
    }
    if (ran || p.nmissed || !sched_is(sc->status, "active")) {
        char fire[32], next[32];
        sched_iso(p.run_fire, fire);
        sched_iso(sc->next_run_at, next);
        log_info("sched: %s: fire=%s%s missed=%zu status=%s next=%s", sc->id,
                 p.run_fire ? fire : "none",
                 ran          ? " ran"
                 : p.run_fire ? " not run"
                              : "",
                 p.nmissed, sc->status, sc->next_run_at ? next : "none");
    }
    rc = 0;
    goto out;
fail:
    store_rollback(st);
    /* The rolled-back pass may have changed sc (run count): start again from the store. */
    {
        struct err le;
        struct schedule *fresh = store_schedule_load(st, id, &le);
        if (fresh != NULL) {
            schedule_free(sc);
            sc = fresh;
        }
    }
    rc = sched_handle_failed(s, sc, &p, now, e.msg);
out:
    free(why);
    free(note);
    sched_plan_fini(&p);
    schedule_free(sc);
    return rc;
}

/* Starts the delayed steps of a pipeline run once their time has come. */
static int
sched_resume_steps(struct sched *s, int64_t exec_id, int64_t now)
{
    struct store *st = sched_store(s);
    struct err e = { 0 };
    struct schedule *sc = NULL;
    char **deps = NULL;
    struct schedule_execution *x = store_schedule_exec_load(st, exec_id, &e);
    int rc = -1;
    if (x == NULL) {
        log_error("sched: %s", e.msg);
        return -1;
    }
    if (!sched_is(x->status, "triggered") || x->next_step == 0 || x->resume_at == 0 ||
        x->resume_at > now) {
        schedule_execution_free(x);
        return 0;
    }
    sc = store_schedule_load(st, x->schedule_id, &e);
    if (sc == NULL || store_begin(st, &e) != 0) {
        goto fail_nt;
    }
    size_t from = (size_t)x->next_step - 1;
    if (from == 0) {
        if (sched_after_deps(s, sc, &deps, &e) != 0) {
            goto fail;
        }
    } else if (x->wait_task != NULL) {
        deps = xcalloc(2, sizeof *deps);
        deps[0] = xstrdup(x->wait_task);
    }
    x->resume_at = 0;
    x->updated_at = now;
    if (sched_run_segment(s, sc, x, from, deps, &e) != 0 ||
        store_schedule_exec_update(st, x, &e) != 0 || store_commit(st, &e) != 0) {
        goto fail;
    }
    log_info("sched: run %lld of %s: started the steps from %zu", (long long)x->id, sc->id,
             from + 1);
    rc = 0;
    goto out;
fail:
    store_rollback(st);
fail_nt:
    log_error("sched: start the delayed steps of run %lld: %s", (long long)exec_id, e.msg);
    /* Give up on the rest of this run rather than retry forever. */
    {
        struct err e2;
        char *msg = xasprintf("the delayed steps could not be started: %s", e.msg);
        free(x->error);
        x->error = msg;
        x->next_step = 0;
        x->resume_at = 0;
        free(x->wait_task);
        x->wait_task = NULL;
        str_copy(x->status, "failed", sizeof x->status);
        x->updated_at = now;
        if (store_schedule_exec_update(st, x, &e2) == 0) {
            rc = 0;
        }
    }
out:
    strv_free(deps);
    schedule_free(sc);
    schedule_execution_free(x);
    return rc;
}

/* ---- the timer ---- */

static void
sched_arm(struct sched *s, int64_t now, bool backoff)
{
    struct err e;
    int64_t when = 0;
    if (s->stopping || s->timer == NULL) {
        return;
    }
    if (!backoff && store_schedule_next_wake(sched_store(s), &when, &e) != 0) {
        log_error("sched: %s", e.msg);
        backoff = true;
    }
    int64_t delay;
    if (backoff) {
        delay = SCHED_BACKOFF_MS;
    } else if (when == 0) {
        rt_timer_stop(s->timer);
        s->armed = false;
        return;
    } else {
        delay = when - now;
        if (delay < 0) {
            delay = 0;
        } else if (delay > SCHED_TIMER_MAX_MS) {
            delay = SCHED_TIMER_MAX_MS;
        }
    }
    rt_timer_start(s->timer, (uint64_t)delay, 0);
    s->armed = true;
    s->armed_now = now;
    s->armed_mono = clock_mono_ms();
}

/* Handles every due fire and due delayed step, then re-arms. */
void
sched_tick(struct sched *s)
{
    struct store *st = sched_store(s);
    struct err e;
    bool backoff = false;
    if (s->stopping || !s->started || s->ticking) {
        return;
    }
    s->ticking = true;
    int64_t now = clock_now_ms();
    for (int round = 0; round < SCHED_ROUNDS_MAX; round++) {
        char **ids = NULL;
        if (store_schedule_due(st, now, SCHED_DUE_BATCH, &ids, &e) != 0) {
            log_error("sched: %s", e.msg);
            backoff = true;
            break;
        }
        bool any = ids[0] != NULL;
        for (char **id = ids; *id; id++) {
            if (sched_handle(s, *id, now) != 0) {
                backoff = true;
            }
        }
        strv_free(ids);
        if (!any || backoff) {
            break;
        }
    }
    int64_t *runs = NULL;
    size_t n = 0;
    if (store_schedule_exec_resume_due(st, now, &runs, &n, &e) != 0) {
        log_error("sched: %s", e.msg);
        backoff = true;
    }
    for (size_t i = 0; i < n; i++) {
        if (sched_resume_steps(s, runs[i], now) != 0) {
            backoff = true;
        }
    }
    free(runs);
    s->ticking = false;
    sched_arm(s, now, backoff);
}

static void
sched_tick_cb(void *arg)
{
    sched_tick(arg);
}

/* Asks for a pass on the next loop iteration (after a change of schedules). */
static void
sched_changed(struct sched *s)
{
    if (!s->stopping) {
        rt_defer(s->rt, sched_tick_cb, s);
    }
}

/* Recomputes next fires that a backward clock jump moved earlier. */
static void
sched_recompute(struct sched *s, int64_t now)
{
    struct store *st = sched_store(s);
    struct schedule **v = NULL;
    struct err e;
    size_t moved = 0;
    if (store_schedule_active_cron(st, &v, &e) != 0) {
        log_error("sched: %s", e.msg);
        return;
    }
    if (store_begin(st, &e) != 0) {
        log_error("sched: %s", e.msg);
        goto out;
    }
    for (struct schedule **p = v; *p; p++) {
        int64_t first = 0;
        struct err fe;
        if (sched_first_fire(*p, now, &first, &fe) != 0) {
            continue; /* the next pass over it records why */
        }
        /* Fires between first and the stored next that already happened are refused by their
         * claim, so moving earlier can never run a fire twice. */
        if (first != 0 && (*p)->next_run_at != 0 && first < (*p)->next_run_at) {
            if (store_schedule_set_next(st, (*p)->id, first, now, &e) != 0) {
                log_error("sched: %s", e.msg);
                break;
            }
            moved++;
        }
    }
    if (store_commit(st, &e) != 0) {
        store_rollback(st);
        log_error("sched: %s", e.msg);
    } else if (moved > 0) {
        log_info("sched: the clock went back: %zu schedule%s fire earlier", moved,
                 moved == 1 ? "" : "s");
    }
out:
    for (struct schedule **p = v; p && *p; p++) {
        schedule_free(*p);
    }
    free(v);
}

/* Handles a wall-clock jump. */
void
sched_clock_jumped(struct sched *s)
{
    if (s->stopping || !s->started) {
        return;
    }
    int64_t now = clock_now_ms();
    sched_recompute(s, now);
    sched_tick(s);
}

static void
sched_timer_cb(void *arg)
{
    struct sched *s = arg;
    if (sched_clock_file.owner != s && s->armed) {
        int64_t now = clock_now_ms();
        int64_t expected = s->armed_now + (clock_mono_ms() - s->armed_mono);
        int64_t drift = now - expected;
        if (drift > SCHED_JUMP_TOLERANCE_MS || drift < -SCHED_JUMP_TOLERANCE_MS) {
            log_info("sched: the wall clock moved %+lld ms against the timer (clock set or the "
                     "machine slept)",
                     (long long)drift);
            s->armed = false;
            sched_clock_jumped(s);
            return;
        }
    }
    s->armed = false;
    sched_tick(s);
}

static void
sched_clock_watch_cb(void *arg)
{
    struct sched *s = arg;
    log_info("sched: the wall clock was set (or the machine resumed): re-checking schedules");
    sched_clock_jumped(s);
}

static void
sched_clock_file_cb(void *arg)
{
    struct sched *s = arg;
    sched_clock_file_read();
    if (!sched_clock_file.have || sched_clock_file.value == s->clock_seen) {
        return;
    }
    char iso[32];
    sched_iso(sched_clock_file.value, iso);
    log_info("sched: clock file: now %s (moved %+lld ms)", iso,
             (long long)(sched_clock_file.value - s->clock_seen));
    s->clock_seen = sched_clock_file.value;
    sched_clock_jumped(s);
}

/* ---- task ends ---- */

/* Settles the run that created a task. */
void
sched_task_ended(struct sched *s, const char *task_id)
{
    struct err e;
    int64_t exec_id = 0;
    bool open;
    if (store_schedule_exec_by_task(sched_store(s), task_id, &exec_id, &e) != 0) {
        log_error("sched: %s", e.msg);
        return;
    }
    if (exec_id != 0 && sched_settle_exec(s, exec_id, &open, NULL, &e) != 0) {
        log_error("sched: settle run %lld: %s", (long long)exec_id, e.msg);
    }
}

static void
sched_settle_cb(void *arg)
{
    struct sched *s = arg;
    char **ended = s->ended;
    size_t n = s->nended;
    s->ended = NULL;
    s->nended = s->cap_ended = 0;
    if (s->stopping) {
        strv_free(ended);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        sched_task_ended(s, ended[i]);
    }
    strv_free(ended);
    if (n > 0 && s->started && !s->ticking) {
        sched_arm(s, clock_now_ms(), false); /* a delayed step may now have a time */
    }
}

/* Runs inside the engine's notification (possibly inside a transaction of ours): only note
 * the task; the settling happens on the next loop iteration. */
static void
sched_task_cb(void *arg, const char *task_id, enum task_status status)
{
    struct sched *s = arg;
    if (!task_status_is_terminal(status) || s->stopping) {
        return;
    }
    if (s->nended + 2 > s->cap_ended) {
        s->cap_ended = s->cap_ended ? s->cap_ended * 2 : 8;
        s->ended = xrealloc(s->ended, s->cap_ended * sizeof *s->ended);
    }
    s->ended[s->nended++] = xstrdup(task_id);
    s->ended[s->nended] = NULL;
    rt_defer(s->rt, sched_settle_cb, s);
}

/* ---- operations ---- */

/* Creates a schedule. */
int
sched_create(struct sched *s, struct schedule *sc, bool run_now, struct schedule_execution **x_out,
             struct err *e)
{
    struct store *st = sched_store(s);
    int64_t now = clock_now_ms();
    char iso[32], iso2[32];

    if (sc->id[0] == '\0') {
        char uuid[37];
        uuid_v4(uuid);
        snprintf(sc->id, sizeof sc->id, "%s%s", SCHEDULE_ID_PREFIX, uuid);
    }
    str_copy(sc->status, "active", sizeof sc->status);
    sc->run_count = 0;
    sc->last_run_at = 0;
    sc->created_at = sc->updated_at = now;
    if (run_now) {
        str_copy(sc->type, "one_time", sizeof sc->type);
        sc->scheduled_at = now;
        sc->next_run_at = now;
    } else {
        if (sched_is(sc->type, "one_time") && sc->scheduled_at <= now) {
            sched_iso(sc->scheduled_at, iso);
            sched_iso(now, iso2);
            return err_set(e, ERR_INVALID,
                           "scheduledAt: must be in the future (got %s; now is "
                           "%s)",
                           iso, iso2);
        }
        if (sched_first_fire(sc, now, &sc->next_run_at, e) != 0) {
            return -1;
        }
        if (sc->expires_at > 0 && sc->expires_at <= now) {
            sched_iso(sc->expires_at, iso);
            return err_set(e, ERR_INVALID, "expiresAt: must be in the future (got %s)", iso);
        }
        if (sc->expires_at > 0 && sc->next_run_at >= sc->expires_at) {
            sched_iso(sc->expires_at, iso);
            sched_iso(sc->next_run_at, iso2);
            return err_set(e, ERR_INVALID,
                           "expiresAt: %s comes before the first fire %s, so "
                           "the schedule would never run",
                           iso, iso2);
        }
    }
    if (sc->after_schedule_id != NULL) {
        struct err le;
        struct schedule *other = store_schedule_load(st, sc->after_schedule_id, &le);
        if (other == NULL) {
            return err_set(e, le.code == ERR_NOTFOUND ? ERR_INVALID : le.code, "afterSchedule: %s",
                           le.msg);
        }
        schedule_free(other);
    }
    if (store_begin(st, e) != 0) {
        return -1;
    }
    if (store_schedule_insert(st, sc, e) != 0) {
        goto fail;
    }
    if (run_now) {
        bool ran = false;
        if (sched_fire(s, sc, now, NULL, 0, now, &ran, x_out, e) != 0) {
            goto fail;
        }
        sc->run_count = 1;
        sc->last_run_at = now;
        sc->next_run_at = 0;
        str_copy(sc->status, "completed", sizeof sc->status);
        if (store_schedule_update(st, sc, e) != 0) {
            goto fail;
        }
    }
    if (store_commit(st, e) != 0) {
        goto fail;
    }
    sched_iso(sc->next_run_at, iso);
    log_info("sched: created %s type=%s next=%s", sc->id, sc->type, sc->next_run_at ? iso : "none");
    sched_changed(s);
    return 0;
fail:
    store_rollback(st);
    if (x_out != NULL && *x_out != NULL) {
        schedule_execution_free(*x_out);
        *x_out = NULL;
    }
    return -1;
}

static struct schedule *
sched_load_for(struct sched *s, const char *id, struct err *e)
{
    struct schedule *sc = store_schedule_load(sched_store(s), id, e);
    if (sc == NULL && e->code == ERR_NOTFOUND) {
        err_set(e, ERR_NOTFOUND, "schedule %s not found", id);
    }
    return sc;
}

static int
sched_save(struct sched *s, struct schedule *sc, struct schedule **out, struct err *e)
{
    sc->updated_at = clock_now_ms();
    if (store_schedule_update(sched_store(s), sc, e) != 0) {
        schedule_free(sc);
        return -1;
    }
    sched_changed(s);
    if (out != NULL) {
        *out = sc;
    } else {
        schedule_free(sc);
    }
    return 0;
}

/* Pauses an active schedule. */
int
sched_pause(struct sched *s, const char *id, struct schedule **out, struct err *e)
{
    struct schedule *sc = sched_load_for(s, id, e);
    if (sc == NULL) {
        return -1;
    }
    if (!sched_is(sc->status, "active")) {
        err_set(e, ERR_STATE,
                "schedule %s is not active (status: %s); only active schedules can "
                "be paused",
                id, sc->status);
        schedule_free(sc);
        return -1;
    }
    str_copy(sc->status, "paused", sizeof sc->status);
    log_info("sched: paused %s", id);
    return sched_save(s, sc, out, e);
}

/* Resumes a paused schedule. */
int
sched_resume(struct sched *s, const char *id, struct schedule **out, struct err *e)
{
    struct schedule *sc = sched_load_for(s, id, e);
    if (sc == NULL) {
        return -1;
    }
    if (!sched_is(sc->status, "paused")) {
        err_set(e, ERR_STATE,
                "schedule %s is not paused (status: %s); only paused schedules can "
                "be resumed",
                id, sc->status);
        schedule_free(sc);
        return -1;
    }
    int64_t now = clock_now_ms();
    str_copy(sc->status, "active", sizeof sc->status);
    if (sched_is(sc->type, "cron")) {
        int64_t next = 0;
        if (sched_first_fire(sc, now, &next, e) != 0) {
            schedule_free(sc);
            return -1;
        }
        sc->next_run_at = next;
        if (sc->expires_at > 0 && next >= sc->expires_at) {
            char iso[32], r[96];
            sched_iso(sc->expires_at, iso);
            snprintf(r, sizeof r, "expired while paused: no fire left before expiresAt %s", iso);
            str_copy(sc->status, "expired", sizeof sc->status);
            sched_set_reason(sc, r);
            sc->next_run_at = 0;
        }
    }
    log_info("sched: resumed %s (status %s)", id, sc->status);
    return sched_save(s, sc, out, e);
}

/* Cancels a schedule, and with cancel_tasks the unfinished tasks of its runs. */
int
sched_cancel(struct sched *s, const char *id, const char *reason, bool cancel_tasks,
             char ***cancelled, struct err *e)
{
    struct store *st = sched_store(s);
    char **done = NULL;
    size_t ndone = 0;
    if (cancelled != NULL) {
        *cancelled = NULL;
    }
    struct schedule *sc = sched_load_for(s, id, e);
    if (sc == NULL) {
        return -1;
    }
    str_copy(sc->status, "cancelled", sizeof sc->status);
    sc->next_run_at = 0;
    sched_set_reason(sc, reason && *reason ? reason : "cancelled by request");
    if (sched_save(s, sc, NULL, e) != 0) {
        return -1;
    }
    log_info("sched: cancelled %s%s", id, cancel_tasks ? " with its tasks" : "");
    if (!cancel_tasks) {
        goto out;
    }
    int64_t *runs = NULL;
    size_t n = 0;
    if (store_schedule_exec_open(st, id, &runs, &n, e) != 0) {
        return -1;
    }
    char *why = xasprintf("schedule %s cancelled", id);
    for (size_t i = 0; i < n; i++) {
        struct err le;
        struct schedule_execution *x = store_schedule_exec_load(st, runs[i], &le);
        if (x == NULL) {
            continue;
        }
        if (x->next_step > 0) {
            x->next_step = 0;
            x->resume_at = 0;
            free(x->wait_task);
            x->wait_task = NULL;
            free(x->error);
            x->error = xstrdup("its remaining steps were dropped: the schedule was cancelled");
            x->updated_at = clock_now_ms();
            if (store_schedule_exec_update(st, x, &le) != 0) {
                log_error("sched: %s", le.msg);
            }
        }
        /* Latest step first, so each task records the schedule as its reason rather than
         * its upstream's cancellation. */
        for (size_t k = json_array_size(x->task_ids); k-- > 0;) {
            const char *tid = json_string_value(json_array_get(x->task_ids, k));
            struct task *t = tid ? store_task_load(st, tid, &le) : NULL;
            if (t != NULL && !task_status_is_terminal(t->status) &&
                engine_task_cancel(s->eng, tid, why, &le) == 0) {
                sched_strv_push(&done, &ndone, tid);
            }
            task_free(t);
        }
        bool open;
        if (sched_settle_exec(s, runs[i], &open, NULL, &le) != 0) {
            log_error("sched: %s", le.msg);
        }
        schedule_execution_free(x);
    }
    free(why);
    free(runs);
out:
    if (cancelled != NULL) {
        *cancelled = done ? done : xcalloc(1, sizeof(char *));
    } else {
        strv_free(done);
    }
    return 0;
}

/* ---- lifecycle ---- */

/* Creates the scheduler. */
struct sched *
sched_new(struct engine *eng, struct rt *rt, struct err *e)
{
    struct sched *s = xcalloc(1, sizeof *s);
    s->eng = eng;
    s->rt = rt;
    const char *crash = getenv("BACKBEAT_SCHED_CRASH");
    if (crash != NULL && strcmp(crash, "after-claim") == 0) {
        s->crash = SCHED_CRASH_AFTER_CLAIM;
    } else if (crash != NULL && strcmp(crash, "before-commit") == 0) {
        s->crash = SCHED_CRASH_BEFORE_COMMIT;
    }
    const char *path = getenv("BACKBEAT_CLOCK_FILE");
    if (path != NULL && *path != '\0' && sched_clock_file.owner == NULL) {
        sched_clock_file.path = xstrdup(path);
        sched_clock_file.have = false;
        sched_clock_file.owner = s;
        sched_clock_file_read();
        if (!sched_clock_file.have) {
            err_set(e, ERR_INVALID,
                    "BACKBEAT_CLOCK_FILE: %s must hold epoch milliseconds or an "
                    "ISO 8601 time",
                    path);
            free(sched_clock_file.path);
            memset(&sched_clock_file, 0, sizeof sched_clock_file);
            free(s);
            return NULL;
        }
        clock_set_source(sched_clock_file_now);
        s->clock_seen = sched_clock_file.value;
        char *dir = xstrdup(path);
        char *slash = strrchr(dir, '/');
        if (slash == NULL) {
            free(dir);
            dir = xstrdup(".");
        } else {
            *(slash == dir ? slash + 1 : slash) = '\0';
        }
        struct err we;
        s->file_watch = rt_watch_dir(rt, dir, sched_clock_file_cb, s, &we);
        if (s->file_watch == NULL) {
            log_warn("sched: clock file changes will not be noticed: %s", we.msg);
        }
        free(dir);
        char iso[32];
        sched_iso(sched_clock_file.value, iso);
        log_warn("sched: using the test clock in %s (now %s)", path, iso);
    }
    s->timer = rt_timer_new(rt, sched_timer_cb, s);
    struct err ce;
    s->clock_watch = rt_clock_watch(rt, sched_clock_watch_cb, s, &ce);
    if (s->clock_watch == NULL) {
        log_warn("sched: wall-clock changes are noticed only when the timer fires: %s", ce.msg);
    }
    s->watcher = engine_watch(eng, sched_task_cb, s);
    return s;
}

/* Starts scheduling. */
int
sched_start(struct sched *s, struct err *e)
{
    struct store *st = sched_store(s);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t now = clock_now_ms();
    int64_t *runs = NULL;
    size_t n = 0;

    s->started = true;
    if (store_schedule_written_after(st, now)) {
        log_warn("sched: the wall clock is behind the last schedule change: recomputing fires");
        sched_recompute(s, now);
    }
    /* Runs whose tasks ended while no daemon watched. */
    if (store_schedule_exec_open(st, NULL, &runs, &n, e) != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        bool open;
        struct err le;
        if (sched_settle_exec(s, runs[i], &open, NULL, &le) != 0) {
            log_error("sched: settle run %lld: %s", (long long)runs[i], le.msg);
        }
    }
    free(runs);
    sched_tick(s); /* fires missed while the daemon was down, then arms */
    int64_t active = 0, wake = 0;
    struct schedule **page = NULL;
    if (store_schedule_list(st, "active", 1, 0, &page, &active, e) != 0) {
        return -1;
    }
    for (struct schedule **p = page; *p; p++) {
        schedule_free(*p);
    }
    free(page);
    struct err we;
    if (store_schedule_next_wake(st, &wake, &we) != 0) {
        log_error("sched: %s", we.msg);
    }
    char iso[32];
    sched_iso(wake, iso);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    /* bench/bench_sched.py reads this line. */
    log_info("sched: started in %.3f ms: %lld active schedule%s, next wake %s", took,
             (long long)active, active == 1 ? "" : "s", wake ? iso : "none");
    return 0;
}

/* Stops timers and watches. */
void
sched_stop(struct sched *s)
{
    if (s == NULL || s->stopping) {
        return;
    }
    s->stopping = true;
    rt_timer_free(s->timer);
    s->timer = NULL;
    rt_clock_watch_free(s->clock_watch);
    s->clock_watch = NULL;
    rt_watch_free(s->file_watch);
    s->file_watch = NULL;
    engine_unwatch(s->eng, s->watcher);
    s->watcher = NULL;
}

/* Frees the scheduler (the engine frees its watcher list itself). */
void
sched_free(struct sched *s)
{
    if (s == NULL) {
        return;
    }
    if (!s->stopping) {
        /* Freed without a stop (engine_new failed later): handles still need closing. */
        s->stopping = true;
        rt_timer_free(s->timer);
        rt_clock_watch_free(s->clock_watch);
        rt_watch_free(s->file_watch);
    }
    if (sched_clock_file.owner == s) {
        clock_set_source(NULL);
        free(sched_clock_file.path);
        memset(&sched_clock_file, 0, sizeof sched_clock_file);
    }
    strv_free(s->ended);
    free(s);
}
