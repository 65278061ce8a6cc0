/* The scheduler (placeholder until the scheduling issue lands: no schedules exist yet). */
#include <stdlib.h>

#include "core/sched.h"
#include "util/xmalloc.h"

struct sched {
    struct engine *eng;
};

/* Creates the scheduler. */
struct sched *
sched_new(struct engine *eng, struct rt *rt, struct err *e)
{
    (void)rt, (void)e;
    struct sched *s = xcalloc(1, sizeof *s);
    s->eng = eng;
    return s;
}

/* Starts it. */
int
sched_start(struct sched *s, struct err *e)
{
    (void)s, (void)e;
    return 0;
}

/* Stops it. */
void
sched_stop(struct sched *s)
{
    (void)s;
}

/* Frees it. */
void
sched_free(struct sched *s)
{
    free(s);
}
