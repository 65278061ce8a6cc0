/* The scheduler: cron and one-time schedules and pipelines, owned by the daemon. Arms one
 * timer for the earliest due fire; claims each fire with a unique execution row in the same
 * transaction that creates its tasks, so a fire runs at most once across restarts and clock
 * changes. Missed fires (daemon down, machine asleep, clock jumped) are found at start-up and
 * on clock jumps and handled by the schedule's missedRunPolicy. Runs on the loop thread only.
 *
 * Time: every decision uses clock_now_ms(). When the daemon's environment has
 * BACKBEAT_CLOCK_FILE=<path>, sched_new installs a clock that reads "now" (epoch ms, or ISO
 * 8601) from that file and treats each change of it as a clock jump (for end-to-end tests). */
#ifndef CORE_SCHED_H
#define CORE_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

#define SCHED_STEPS_MIN         2
#define SCHED_STEPS_MAX         20
#define SCHED_STEP_DELAY_MAX    (7 * 86400000LL) /* a pipeline step waits at most a week */
#define SCHED_GRACE_FLOOR_MS    1000  /* a fire this late is never "missed", whatever the config */
#define SCHED_MISSED_ROWS_MAX   100   /* missed fires recorded one by one per pass */
#define SCHED_SCAN_MAX          10000 /* fire times enumerated per schedule per pass */
#define SCHED_TIMER_MAX_MS      3600000 /* the timer re-checks at least hourly */
#define SCHED_HISTORY_KEEP      1000    /* ended executions kept per schedule */
#define SCHED_JUMP_TOLERANCE_MS 2000    /* timer vs wall clock drift taken as a clock jump */

struct engine;
struct rt;
struct sched;

/* Creates the scheduler of an engine (watches its tasks; installs the file clock when
 * BACKBEAT_CLOCK_FILE is set). */
struct sched *sched_new(struct engine *eng, struct rt *rt, struct err *e);
/* Settles runs whose tasks ended while the daemon was down, handles fires missed meanwhile,
 * arms the timer. */
int sched_start(struct sched *s, struct err *e);
/* Stops timers and watches (before the loop ends). */
void sched_stop(struct sched *s);
void sched_free(struct sched *s);

/* The first fire of sc strictly after now, as a fresh schedule sees it: one_time ->
 * scheduled_at; cron -> the next match after max(now, scheduled_at - 1) in sc's zone. Fails
 * with ERR_INVALID (naming cronExpression or timezone) when there is none. */
int sched_first_fire(const struct schedule *sc, int64_t now, int64_t *out, struct err *e);
/* The next fire of sc strictly after t (one_time: none, *out = 0). */
int sched_next_fire(const struct schedule *sc, int64_t t, int64_t *out, struct err *e);

/* Stores a new schedule. Fills id (when empty), status active, run_count, next_run_at (the
 * first fire; ERR_INVALID when expires_at comes first), created_at and updated_at, then
 * re-arms. With run_now the schedule fires at once, in the same transaction (CreatePipeline),
 * and *x_out (may be NULL) receives that execution (free with schedule_execution_free). */
int sched_create(struct sched *s, struct schedule *sc, bool run_now,
                 struct schedule_execution **x_out, struct err *e);
/* active -> paused (ERR_STATE otherwise); next_run_at is kept. *out (may be NULL) receives the
 * schedule as stored. */
int sched_pause(struct sched *s, const char *id, struct schedule **out, struct err *e);
/* paused -> active (ERR_STATE otherwise): cron schedules continue from the next fire after
 * now (the fires of the pause are not missed, just not run); a one-time schedule whose time
 * passed meanwhile is handled by its missedRunPolicy. */
int sched_resume(struct sched *s, const char *id, struct schedule **out, struct err *e);
/* Any status -> cancelled, with reason (NULL: "cancelled by request"). With cancel_tasks
 * the unfinished tasks of its runs are cancelled and delayed pipeline steps dropped; their
 * ids go to *cancelled (NULL-terminated, strv_free; may be NULL). */
int sched_cancel(struct sched *s, const char *id, const char *reason, bool cancel_tasks,
                 char ***cancelled, struct err *e);

/* Handles every fire due now (and due delayed pipeline steps), then re-arms. The daemon calls
 * it from its timer; tests call it after moving the clock. */
void sched_tick(struct sched *s);
/* Handles a wall-clock jump: cron schedules whose next fire moved earlier (the clock went
 * back) get it recomputed, fires already handled being refused by their claim; then ticks. */
void sched_clock_jumped(struct sched *s);
/* Settles the run that created task_id (normally called from the engine's task watch). */
void sched_task_ended(struct sched *s, const char *task_id);

/* ---- the decision, pure: what a pass at `now` does with one due schedule ---- */

struct sched_plan {
    int64_t *missed; /* fire times to record as missed (at most SCHED_MISSED_ROWS_MAX) */
    size_t nmissed;
    int64_t missed_more; /* further missed fires not recorded one by one (lower bound) */
    bool missed_more_exact;
    int64_t *skipped; /* fire times recorded as skipped (policy fail cancels the rest) */
    size_t nskipped;
    int64_t run_fire; /* the fire a run is made for, 0 = no run */
    int64_t *covers;  /* the fire times that run stands for, when more than one */
    size_t ncovers;
    int64_t next_run_at;            /* 0 = none */
    char status[SCHEDULE_WORD_MAX]; /* the schedule's status after the pass */
    char reason[256];               /* why the status changed, "" when it did not */
};

/* Plans the pass at now for sc (active, next_run_at <= now) with the given grace (ms; the
 * floor SCHED_GRACE_FLOOR_MS applies). Fires later than grace are "old": skip records them
 * missed, catchup folds them into one run, fail records them missed and cancels the schedule;
 * the latest fire within grace runs (covering any other fire within grace). Fires at or after
 * expires_at are not fires. Does not know about overlap or maxRuns (sched applies those). */
int sched_plan(const struct schedule *sc, int64_t now, int64_t grace, struct sched_plan *p,
               struct err *e);
void sched_plan_fini(struct sched_plan *p);

#endif
