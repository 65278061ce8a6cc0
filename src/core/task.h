/* The task: its fields, its states and the one function that changes state.
 * Pure data and rules: no I/O, no clock reads (times are passed in). */
#ifndef CORE_TASK_H
#define CORE_TASK_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "util/err.h"

#define TASK_ID_PREFIX      "task-"
#define TASK_ID_LEN         41 /* "task-" + 36 */
#define TASK_PROMPT_MAX     100000
#define TASK_TIMEOUT_MIN    1000
#define TASK_TIMEOUT_MAX    86400000
#define TASK_BUFFER_MIN     1024
#define TASK_BUFFER_MAX     1073741824
#define TASK_DEPS_MAX       100

enum task_status {
    TASK_QUEUED = 0,
    TASK_BLOCKED,
    TASK_RUNNING,
    TASK_COMPLETED,
    TASK_FAILED,
    TASK_CANCELLED,
};
#define TASK_STATUS_COUNT 6

/* Why a task ended; stored with the terminal state so timeout and cancel stay distinct. */
enum task_end {
    TASK_END_NONE = 0,
    TASK_END_EXITED,      /* the agent exited on its own (code in exit_code) */
    TASK_END_SIGNALED,    /* killed by a signal we did not send: a failure */
    TASK_END_TIMEOUT,     /* we killed it: timeout */
    TASK_END_CANCELLED,   /* we killed it (or it never started): cancel */
    TASK_END_SPAWN_ERROR, /* could not start: missing binary, bad directory, exec error */
    TASK_END_LOST,        /* the agent ended while nobody watched, exit status unknown */
    TASK_END_DEPENDENCY,  /* cancelled because a dependency failed */
};

/* Every field a task has. Strings are owned by the task (NULL when absent). */
struct task {
    char id[TASK_ID_LEN + 1];
    char *prompt;
    enum task_status status;
    int priority; /* 0 = P0 (first) .. 2 = P2 */
    char *agent;
    char *working_directory;
    int64_t timeout_ms;
    int64_t max_output_buffer;
    char *model;
    char *system_prompt;

    /* lineage */
    char *parent_task_id;
    char *retry_of;
    int retry_count;
    char *continue_from;
    char *resume_mode;    /* "session" or "prompt" when created by ResumeTask */
    char *resume_session; /* the agent session id to continue, for resumeMode session */

    /* times, UTC epoch ms (0 = unset) */
    int64_t created_at;
    int64_t updated_at;
    int64_t started_at;
    int64_t completed_at;
    int64_t queue_seq; /* FIFO order within a priority; assigned by the store */

    /* the running process */
    int pid;                /* agent pid */
    int pgid;               /* agent process group */
    int64_t proc_start;     /* agent start time (clock ticks since boot, /proc/pid/stat) */
    int supervisor_pid;
    int64_t supervisor_start;

    /* the end */
    enum task_end end;
    bool has_exit_code;
    int exit_code;
    int signal; /* terminating signal, 0 if none */
    char *reason;

    /* what the agent's stream told us */
    char *session_id;
    char *result_text;
    char *api_error;
    int64_t input_tokens;  /* -1 = unknown */
    int64_t output_tokens; /* -1 = unknown */
    double cost_usd;       /* < 0 = unknown */

    /* output accounting (bytes written to the capture files) */
    int64_t stdout_bytes;
    int64_t stderr_bytes;
    bool output_truncated;

    /* The submitting client's environment as a JSON object {"NAME":"value"}; kept only while
     * the task can still run, never returned by any tool. */
    json_t *env;
    /* The submitting client's cwd, for display and relative paths. */
    char *client_cwd;
};

struct task *task_new(void);
void task_free(struct task *t);
/* Deep copy. */
struct task *task_dup(const struct task *t);

const char *task_status_name(enum task_status s);
/* Parses a status name; -1 when unknown. */
int task_status_parse(const char *s, enum task_status *out);
bool task_status_is_terminal(enum task_status s);
const char *task_end_name(enum task_end end);
int task_end_parse(const char *s, enum task_end *out);
const char *task_priority_name(int priority); /* "P0".."P2" */
int task_priority_parse(const char *s, int *out);

/* True when the state machine allows from -> to. Nothing leaves a terminal state. */
bool task_can_transition(enum task_status from, enum task_status to);
/* Moves t to a new state at time now, or fails with ERR_STATE naming both states. */
int task_transition(struct task *t, enum task_status to, int64_t now, struct err *e);

/* Fills id with a fresh "task-<uuid v4>". */
void task_id_new(char id[TASK_ID_LEN + 1]);
bool task_id_is_valid(const char *id);

#endif
