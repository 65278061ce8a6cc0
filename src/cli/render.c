/* Rendering results for people: tables for lists, key/value blocks for one task. Kept apart
 * from parsing so --json output never passes through here. */
#include <string.h>

#include "cli/render.h"
#include "util/clock.h"
#include <stdlib.h>

#include "util/json.h"

/* Formats a duration. */
void
render_duration(int64_t ms, char out[32])
{
    if (ms < 1000) {
        snprintf(out, 32, "%lldms", (long long)ms);
    } else if (ms < 60000) {
        snprintf(out, 32, "%.1fs", (double)ms / 1000.0);
    } else if (ms < 3600000) {
        snprintf(out, 32, "%lldm %02llds", (long long)(ms / 60000), (long long)(ms / 1000 % 60));
    } else {
        snprintf(out, 32, "%lldh %02lldm", (long long)(ms / 3600000),
                 (long long)(ms / 60000 % 60));
    }
}

static void
render_time(FILE *out, const char *label, const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v)) {
        char iso[32];
        clock_format_iso(json_integer_value(v), iso);
        fprintf(out, "  %-14s %s\n", label, iso);
    }
}

static void
render_str(FILE *out, const char *label, const json_t *o, const char *key)
{
    const char *s = json_get_str(o, key);
    if (s && *s) {
        fprintf(out, "  %-14s %s\n", label, s);
    }
}

static void
render_list(FILE *out, const char *label, const json_t *o, const char *key)
{
    json_t *a = json_object_get(o, key);
    if (!json_is_array(a) || json_array_size(a) == 0) {
        return;
    }
    fprintf(out, "  %-14s", label);
    for (size_t i = 0; i < json_array_size(a); i++) {
        fprintf(out, "%s%s", i ? ", " : " ", json_string_value(json_array_get(a, i)));
    }
    fputc('\n', out);
}

/* Prints the first line of s, at most width display bytes, without splitting UTF-8. */
static void
render_clip(FILE *out, const char *s, size_t width)
{
    size_t n = 0, i = 0;
    while (s[i] && s[i] != '\n' && n < width) {
        size_t len = 1;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0xf0) {
            len = 4;
        } else if (c >= 0xe0) {
            len = 3;
        } else if (c >= 0xc0) {
            len = 2;
        }
        fwrite(s + i, 1, len, out);
        i += len;
        n++;
    }
    if (s[i]) {
        fputs("...", out);
    }
}

static void
render_task(const json_t *t, FILE *out)
{
    char dur[32];
    fprintf(out, "%s  %s\n", json_get_str(t, "taskId"), json_get_str(t, "status"));
    render_str(out, "reason", t, "reason");
    render_str(out, "priority", t, "priority");
    render_str(out, "agent", t, "agent");
    render_str(out, "model", t, "model");
    render_str(out, "directory", t, "workingDirectory");
    render_time(out, "created", t, "createdAt");
    render_time(out, "started", t, "startedAt");
    render_time(out, "ended", t, "completedAt");
    if (json_is_integer(json_object_get(t, "duration"))) {
        render_duration(json_get_int(t, "duration", 0), dur);
        fprintf(out, "  %-14s %s\n", "duration", dur);
    }
    if (json_is_integer(json_object_get(t, "exitCode"))) {
        fprintf(out, "  %-14s %lld\n", "exit code", (long long)json_get_int(t, "exitCode", 0));
    }
    if (json_is_integer(json_object_get(t, "pid"))) {
        fprintf(out, "  %-14s %lld\n", "pid", (long long)json_get_int(t, "pid", 0));
    }
    render_str(out, "waiting", t, "waitingReason");
    render_list(out, "depends on", t, "dependsOn");
    render_list(out, "blocked by", t, "blockedBy");
    render_list(out, "dependents", t, "dependents");
    render_str(out, "continue from", t, "continueFrom");
    render_str(out, "retry of", t, "retryOf");
    render_str(out, "session", t, "sessionId");
    render_str(out, "api error", t, "apiError");
    json_t *u = json_object_get(t, "usage");
    if (json_is_object(u)) {
        fprintf(out, "  %-14s in %lld, out %lld tokens", "usage",
                (long long)json_get_int(u, "inputTokens", 0),
                (long long)json_get_int(u, "outputTokens", 0));
        json_t *cost = json_object_get(u, "costUsd");
        if (json_is_number(cost)) {
            fprintf(out, ", $%.4f", json_number_value(cost));
        }
        fputc('\n', out);
    }
    render_str(out, "last output", t, "lastOutputLine");
    const char *result = json_get_str(t, "result");
    if (result && *result) {
        fprintf(out, "  %-14s ", "result");
        render_clip(out, result, 200);
        fputc('\n', out);
    }
    fprintf(out, "  %-14s %s\n", "prompt", json_get_str(t, "prompt"));
}

/* The task's own words: an enriched prompt (continueFrom, resume) ends with them. */
static const char *
render_own_prompt(const char *prompt)
{
    if (prompt == NULL) {
        return "";
    }
    if (strncmp(prompt, "<<<BACKBEAT CONTEXT", 19) != 0) {
        return prompt;
    }
    const char *last = NULL;
    for (const char *p = strstr(prompt, "\nYOUR TASK:\n"); p; p = strstr(p + 1, "\nYOUR TASK:\n")) {
        last = p;
    }
    return last ? last + 12 : prompt;
}

static void
render_tasks(const json_t *r, FILE *out)
{
    json_t *tasks = json_object_get(r, "tasks");
    size_t n = json_array_size(tasks);
    if (n == 0) {
        fprintf(out, "No tasks found\n");
        return;
    }
    fprintf(out, "%-41s  %-9s  %-3s  %-7s  %-8s  %s\n", "TASK", "STATUS", "PRI", "AGENT", "TIME",
            "PROMPT");
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(tasks, i);
        char dur[32] = "-";
        if (json_is_integer(json_object_get(t, "duration"))) {
            render_duration(json_get_int(t, "duration", 0), dur);
        }
        fprintf(out, "%-41s  %-9s  %-3s  %-7s  %-8s  ", json_get_str(t, "taskId"),
                json_get_str(t, "status"), json_get_str(t, "priority"),
                json_get_str(t, "agent"), dur);
        render_clip(out, render_own_prompt(json_get_str(t, "prompt")), 60);
        fputc('\n', out);
    }
    int64_t total = json_get_int(r, "total", (int64_t)n);
    if (total > (int64_t)n) {
        fprintf(out, "(%zu of %lld tasks; use --limit and --offset for more)\n", n,
                (long long)total);
    }
}

/* Prints a result for a person. */
void
render_result(const struct op *op, const json_t *args, const json_t *result, FILE *out)
{
    (void)args;
    const char *name = op->name;
    if (strcmp(name, "DelegateTask") == 0) {
        const char *id = json_get_str(result, "taskId");
        fprintf(out, "%s\n", id);
        fprintf(stderr, "Task %s %s (%s, agent %s)\nFollow it: beat logs -f %s\n", id,
                json_get_str(result, "status"), json_get_str(result, "priority"),
                json_get_str(result, "agent"), id);
    } else if (strcmp(name, "TaskStatus") == 0) {
        if (json_object_get(result, "tasks")) {
            render_tasks(result, out);
        } else {
            render_task(result, out);
        }
    } else if (strcmp(name, "TaskLogs") == 0) {
        const char *o = json_get_str(result, "output");
        const char *e = json_get_str(result, "errors");
        fputs(o ? o : "", out);
        fflush(out);
        if (e && *e) {
            fputs(e, stderr);
        }
        if ((!o || !*o) && (!e || !*e)) {
            fprintf(stderr, "No output captured (task %s)\n", json_get_str(result, "status"));
        }
    } else if (strcmp(name, "CancelTask") == 0) {
        fprintf(out, "Task %s %s\n", json_get_str(result, "taskId"),
                json_get_str(result, "status"));
    } else if (strcmp(name, "RetryTask") == 0) {
        fprintf(out, "%s\n", json_get_str(result, "newTaskId"));
        fprintf(stderr, "Retry #%lld of %s queued\n", (long long)json_get_int(result, "retryCount", 0),
                json_get_str(result, "parentTaskId"));
    } else if (strcmp(name, "WaitForTask") == 0) {
        json_t *tasks = json_object_get(result, "tasks");
        for (size_t i = 0; i < json_array_size(tasks); i++) {
            json_t *t = json_array_get(tasks, i);
            fprintf(out, "%s  %s\n", json_get_str(t, "taskId"), json_get_str(t, "status"));
        }
        if (json_is_true(json_object_get(result, "timedOut"))) {
            fprintf(stderr, "Timed out before every task was done\n");
        }
    } else if (strcmp(name, "SystemStatus") == 0) {
        json_t *d = json_object_get(result, "daemon");
        json_t *p = json_object_get(result, "pool");
        json_t *q = json_object_get(p, "queued");
        json_t *t = json_object_get(result, "tasks");
        char up[32];
        render_duration(json_get_int(d, "uptimeMs", 0), up);
        fprintf(out, "daemon   running, version %s, pid %lld, up %s\n", json_get_str(d, "version"),
                (long long)json_get_int(d, "pid", 0), up);
        fprintf(out, "home     %s\n", json_get_str(d, "home"));
        fprintf(out, "pool     %lld running of %lld; queued P0 %lld, P1 %lld, P2 %lld\n",
                (long long)json_get_int(p, "running", 0), (long long)json_get_int(p, "capacity", 0),
                (long long)json_get_int(q, "P0", 0), (long long)json_get_int(q, "P1", 0),
                (long long)json_get_int(q, "P2", 0));
        if (json_get_str(p, "limitedBy")) {
            fprintf(out, "waiting  %s\n", json_get_str(p, "limitedBy"));
        }
        fprintf(out, "tasks   ");
        const char *key;
        json_t *v;
        json_object_foreach(t, key, v) {
            fprintf(out, " %s %lld", key, (long long)json_integer_value(v));
        }
        fputc('\n', out);
    } else {
        char *s = json_dumps(result, JSON_INDENT(2));
        fprintf(out, "%s\n", s);
        free(s);
    }
}

/* Prints how a foreground task ended. */
void
render_task_end(const json_t *t, FILE *out)
{
    const char *status = json_get_str(t, "status");
    const char *reason = json_get_str(t, "reason");
    if (status && strcmp(status, "completed") == 0) {
        fprintf(out, "Completed (exit 0)\n");
    } else if (status && strcmp(status, "failed") == 0) {
        fprintf(out, "Failed: %s\n", reason ? reason : "unknown reason");
    } else {
        fprintf(out, "%s%s%s\n", status ? status : "ended", reason ? ": " : "",
                reason ? reason : "");
    }
}

/* Prints the pool in one line. */
void
render_pool_line(const json_t *system, FILE *out)
{
    json_t *p = json_object_get(system, "pool");
    json_t *q = json_object_get(p, "queued");
    if (!json_is_object(p)) {
        return;
    }
    fprintf(out, "pool: %lld running of %lld; queued P0 %lld, P1 %lld, P2 %lld",
            (long long)json_get_int(p, "running", 0), (long long)json_get_int(p, "capacity", 0),
            (long long)json_get_int(q, "P0", 0), (long long)json_get_int(q, "P1", 0),
            (long long)json_get_int(q, "P2", 0));
    if (json_get_str(p, "limitedBy")) {
        fprintf(out, "; waiting: %s", json_get_str(p, "limitedBy"));
    }
    fputc('\n', out);
}
