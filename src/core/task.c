/* The task type: construction, deep copy, names of states, ends and priorities, and the one
 * state machine every status change goes through. Pure: no I/O and no clock reads (the caller
 * passes `now`), so the store and the runtime can use it without pulling in the engine. */
#include "core/task.h"

#include <stdlib.h>
#include <string.h>

#include "util/uuid.h"
#include "util/xmalloc.h"

static const char *const task_status_names[TASK_STATUS_COUNT] = {
    [TASK_QUEUED] = "queued",       [TASK_BLOCKED] = "blocked", [TASK_RUNNING] = "running",
    [TASK_COMPLETED] = "completed", [TASK_FAILED] = "failed",   [TASK_CANCELLED] = "cancelled",
};

static const char *const task_end_names[] = {
    [TASK_END_NONE] = "none",           [TASK_END_EXITED] = "exited",
    [TASK_END_SIGNALED] = "signaled",   [TASK_END_TIMEOUT] = "timeout",
    [TASK_END_CANCELLED] = "cancelled", [TASK_END_SPAWN_ERROR] = "spawn_error",
    [TASK_END_LOST] = "lost",           [TASK_END_DEPENDENCY] = "dependency",
};
#define TASK_END_COUNT ((int)(sizeof task_end_names / sizeof task_end_names[0]))

static const char *const task_priority_names[] = { "P0", "P1", "P2" };
#define TASK_PRIORITY_COUNT 3

/* Allocates a task with every "unknown" field set to its unknown value. */
struct task *
task_new(void)
{
    struct task *t = xcalloc(1, sizeof *t);
    t->status = TASK_QUEUED;
    t->priority = 2;
    t->end = TASK_END_NONE;
    t->input_tokens = -1;
    t->output_tokens = -1;
    t->cost_usd = -1.0;
    return t;
}

/* Frees a task and everything it owns; NULL is allowed. */
void
task_free(struct task *t)
{
    if (t == NULL) {
        return;
    }
    free(t->prompt);
    free(t->agent);
    free(t->working_directory);
    free(t->model);
    free(t->system_prompt);
    free(t->parent_task_id);
    free(t->retry_of);
    free(t->continue_from);
    free(t->resume_mode);
    free(t->resume_session);
    free(t->reason);
    free(t->session_id);
    free(t->result_text);
    free(t->api_error);
    free(t->client_cwd);
    json_decref(t->env);
    free(t);
}

static char *
task_strdup(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

/* Returns a deep copy of t: no string or JSON value is shared with the original. */
struct task *
task_dup(const struct task *t)
{
    struct task *c = xmalloc(sizeof *c);
    memcpy(c, t, sizeof *c);
    c->prompt = task_strdup(t->prompt);
    c->agent = task_strdup(t->agent);
    c->working_directory = task_strdup(t->working_directory);
    c->model = task_strdup(t->model);
    c->system_prompt = task_strdup(t->system_prompt);
    c->parent_task_id = task_strdup(t->parent_task_id);
    c->retry_of = task_strdup(t->retry_of);
    c->continue_from = task_strdup(t->continue_from);
    c->resume_mode = task_strdup(t->resume_mode);
    c->resume_session = task_strdup(t->resume_session);
    c->reason = task_strdup(t->reason);
    c->session_id = task_strdup(t->session_id);
    c->result_text = task_strdup(t->result_text);
    c->api_error = task_strdup(t->api_error);
    c->client_cwd = task_strdup(t->client_cwd);
    c->env = NULL;
    if (t->env != NULL) {
        c->env = json_deep_copy(t->env);
        if (c->env == NULL) {
            abort(); /* jansson fails a deep copy only on out-of-memory */
        }
    }
    return c;
}

/* Returns the status's name ("queued"), or "unknown" for a value outside the enum. */
const char *
task_status_name(enum task_status s)
{
    if ((int)s < 0 || (int)s >= TASK_STATUS_COUNT) {
        return "unknown";
    }
    return task_status_names[s];
}

/* Parses a status name into *out; -1 when s is NULL or not a status. */
int
task_status_parse(const char *s, enum task_status *out)
{
    if (s == NULL) {
        return -1;
    }
    for (int i = 0; i < TASK_STATUS_COUNT; i++) {
        if (strcmp(s, task_status_names[i]) == 0) {
            *out = (enum task_status)i;
            return 0;
        }
    }
    return -1;
}

/* True for completed, failed and cancelled: states nothing leaves. */
bool
task_status_is_terminal(enum task_status s)
{
    switch (s) {
    case TASK_QUEUED:
    case TASK_BLOCKED:
    case TASK_RUNNING:
        return false;
    case TASK_COMPLETED:
    case TASK_FAILED:
    case TASK_CANCELLED:
        return true;
    }
    return false;
}

/* Returns the end's name ("timeout"), or "unknown" for a value outside the enum. */
const char *
task_end_name(enum task_end end)
{
    if ((int)end < 0 || (int)end >= TASK_END_COUNT) {
        return "unknown";
    }
    return task_end_names[end];
}

/* Parses an end name into *out; -1 when s is NULL or not an end. */
int
task_end_parse(const char *s, enum task_end *out)
{
    if (s == NULL) {
        return -1;
    }
    for (int i = 0; i < TASK_END_COUNT; i++) {
        if (strcmp(s, task_end_names[i]) == 0) {
            *out = (enum task_end)i;
            return 0;
        }
    }
    return -1;
}

/* Returns "P0".."P2", or "unknown" for a priority outside 0..2. */
const char *
task_priority_name(int priority)
{
    if (priority < 0 || priority >= TASK_PRIORITY_COUNT) {
        return "unknown";
    }
    return task_priority_names[priority];
}

/* Parses "P0".."P2" into 0..2; -1 when s is NULL or anything else. */
int
task_priority_parse(const char *s, int *out)
{
    if (s == NULL) {
        return -1;
    }
    for (int i = 0; i < TASK_PRIORITY_COUNT; i++) {
        if (strcmp(s, task_priority_names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

/* True when the state machine allows from -> to.
 *   queued  -> running | blocked | cancelled | failed (spawn error before the agent started)
 *   blocked -> queued | cancelled
 *   running -> completed | failed | cancelled
 * Terminal states go nowhere. A state never "moves" to itself. One switch with no default, so
 * adding a state breaks the build (-Wswitch) until its row is written. */
bool
task_can_transition(enum task_status from, enum task_status to)
{
    switch (from) {
    case TASK_QUEUED:
        return to == TASK_RUNNING || to == TASK_BLOCKED || to == TASK_CANCELLED ||
               to == TASK_FAILED;
    case TASK_BLOCKED:
        return to == TASK_QUEUED || to == TASK_CANCELLED;
    case TASK_RUNNING:
        return to == TASK_COMPLETED || to == TASK_FAILED || to == TASK_CANCELLED;
    case TASK_COMPLETED:
    case TASK_FAILED:
    case TASK_CANCELLED:
        return false;
    }
    return false;
}

/* Moves t to `to` at time now, stamping updated_at, started_at (entering running) and
 * completed_at (entering a terminal state); ERR_STATE when the move is not allowed. */
int
task_transition(struct task *t, enum task_status to, int64_t now, struct err *e)
{
    if (!task_can_transition(t->status, to)) {
        return err_set(e, ERR_STATE, "task %s cannot go from %s to %s", t->id,
                       task_status_name(t->status), task_status_name(to));
    }
    t->status = to;
    t->updated_at = now;
    if (to == TASK_RUNNING) {
        t->started_at = now;
    }
    if (task_status_is_terminal(to)) {
        t->completed_at = now;
    }
    return 0;
}

/* Fills id with a fresh "task-<uuid v4>". */
void
task_id_new(char id[TASK_ID_LEN + 1])
{
    char uuid[37];
    uuid_v4(uuid);
    memcpy(id, TASK_ID_PREFIX, sizeof TASK_ID_PREFIX - 1);
    memcpy(id + sizeof TASK_ID_PREFIX - 1, uuid, sizeof uuid); /* copies the NUL too */
}

/* True when id is "task-" followed by a lower-case UUID. */
bool
task_id_is_valid(const char *id)
{
    return id != NULL && uuid_is_prefixed(id, TASK_ID_PREFIX);
}
