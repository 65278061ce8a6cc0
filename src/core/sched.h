/* The scheduler: cron and one-time schedules and pipelines, owned by the daemon. Arms one
 * timer for the earliest due fire; claims each fire with a unique execution row in the same
 * transaction that creates its tasks. (Being built: see the scheduling issue.) */
#ifndef CORE_SCHED_H
#define CORE_SCHED_H

#include "util/err.h"

struct engine;
struct rt;
struct sched;

/* Creates the scheduler of an engine. */
struct sched *sched_new(struct engine *eng, struct rt *rt, struct err *e);
/* Loads schedules, handles fires missed while the daemon was down, arms the timer. */
int sched_start(struct sched *s, struct err *e);
/* Stops timers (before the loop ends). */
void sched_stop(struct sched *s);
void sched_free(struct sched *s);

#endif
