/* `beat schedule create|pipeline|list|get|pause|resume|cancel|preview` and `beat pipeline`.
 * Words become arguments through the op table (op_cli_parse, op_validate: the daemon's own
 * rules), except for what the table cannot say: --step and --delay sequences of pipelines.
 * Calls go to the daemon as MCP tools; `preview` computes fire times here with cron/.
 * This file only parses words and prints; what schedules do lives in core/. */
#include "cli/cmd-schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "core/op.h"
#include "core/ops.h"
#include "cron/cron.h"
#include "mcp/client.h"
#include "util/clock.h"
#include "util/common.h"
#include "util/json.h"
#include "util/str.h"

#define CMD_SCHEDULE_PREVIEW_DEFAULT 5
#define CMD_SCHEDULE_PREVIEW_MAX     100

struct cmd_schedule_sub {
    const char *name;
    const char *alias;
    const struct op *op; /* NULL: handled here */
    const char *summary;
};

static const struct cmd_schedule_sub cmd_schedule_subs[] = {
    { "create", NULL, &op_schedule_task,
      "Create a cron or one-time schedule (--pipeline: of --step prompts)" },
    { "pipeline", NULL, &op_schedule_pipeline, "Create a scheduled pipeline of --step prompts" },
    { "list", "ls", &op_list_schedules, "List schedules with their next run" },
    { "get", "show", &op_get_schedule, "Show one schedule (--history: its executions)" },
    { "pause", NULL, &op_pause_schedule, "Pause an active schedule" },
    { "resume", NULL, &op_resume_schedule, "Resume a paused schedule" },
    { "cancel", NULL, &op_cancel_schedule, "Cancel a schedule (--cancel-tasks: its tasks too)" },
    { "preview", NULL, NULL, "Print the next fire times of a cron expression (no daemon)" },
};

static void
cmd_schedule_usage(FILE *f)
{
    fprintf(f, "usage: beat schedule <command> [arguments]\n\n");
    for (size_t i = 0; i < ARRAY_SIZE(cmd_schedule_subs); i++) {
        fprintf(f, "  %-10s %s\n", cmd_schedule_subs[i].name, cmd_schedule_subs[i].summary);
    }
    fprintf(f, "\n  beat schedule preview <cron> [--timezone TZ] [--from ISO] [--count N]\n"
               "\nRun 'beat schedule <command> --help' for its options.\n"
               "Times are ISO 8601 with Z or an offset; cron rules: docs/scheduling.md.\n");
}

/* Whether an option word of op takes the next word as its value. */
static bool
cmd_schedule_takes_value(const struct op *op, const char *w)
{
    if (w[0] != '-' || w[1] == '\0') {
        return false;
    }
    if (w[1] == '-') {
        if (strchr(w, '=') != NULL) {
            return false;
        }
        for (const struct op_arg *a = op->args; a && a->name; a++) {
            if (!(a->flags & ARG_MCP_ONLY) &&
                ((a->cli && strcmp(a->cli, w + 2) == 0) ||
                 (a->cli_alias && strcmp(a->cli_alias, w + 2) == 0))) {
                return a->type != ARG_BOOLEAN;
            }
        }
        return false;
    }
    if (w[2] != '\0') {
        return false; /* -pP0 */
    }
    for (const struct op_arg *a = op->args; a && a->name; a++) {
        if (!(a->flags & ARG_MCP_ONLY) && a->cli_short == w[1]) {
            return a->type != ARG_BOOLEAN;
        }
    }
    return false;
}

/* Parses a duration ("5m", "90s", "1500") with the op table's own duration rule. */
static int
cmd_schedule_duration(const char *value, int64_t *out, struct err *e)
{
    static const struct op_arg args[] = {
        { .name = "delay",
          .cli = "delay",
          .type = ARG_INTEGER,
          .flags = ARG_DURATION,
          .help = "A duration." },
        { 0 },
    };
    static const struct op delay_op = { .name = "delay", .cli = "pipeline", .args = args };
    char *argv[] = { "--delay", (char *)value, NULL };
    json_t *j = NULL;
    if (op_cli_parse(&delay_op, 2, argv, &j, e) != 0) {
        return -1;
    }
    *out = json_get_int(j, "delay", 0);
    json_decref(j);
    return 0;
}

/* Splits --step/--delay (and, for `beat pipeline`, bare prompts) out of argv: the steps go to
 * *steps, everything else to rest (borrowed words). */
static int
cmd_schedule_steps(const struct op *op, int argc, char **argv, bool bare_prompts, json_t **steps,
                   char ***rest, int *nrest, struct err *e)
{
    json_t *v = json_array();
    char **r = xcalloc((size_t)argc + 1, sizeof *r);
    int n = 0;
    int64_t delay = 0;
    bool have_delay = false, options_done = false;

    for (int i = 0; i < argc; i++) {
        const char *w = argv[i];
        const char *value = NULL;
        if (!options_done && strcmp(w, "--") == 0) {
            options_done = true;
            continue;
        }
        bool is_step = !options_done && (strcmp(w, "--step") == 0 || strncmp(w, "--step=", 7) == 0);
        bool is_delay =
            !options_done && (strcmp(w, "--delay") == 0 || strncmp(w, "--delay=", 8) == 0);
        if (is_step || is_delay) {
            const char *eq = strchr(w, '=');
            if (eq != NULL) {
                value = eq + 1;
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                err_set(e, ERR_INVALID, "%s: needs a value", is_step ? "--step" : "--delay");
                goto fail;
            }
            if (is_delay) {
                if (cmd_schedule_duration(value, &delay, e) != 0) {
                    goto fail;
                }
                have_delay = true;
                continue;
            }
        } else if (bare_prompts && (options_done || w[0] != '-' || w[1] == '\0')) {
            value = w;
        } else {
            r[n++] = argv[i];
            if (!options_done && cmd_schedule_takes_value(op, w) && i + 1 < argc) {
                r[n++] = argv[++i];
            }
            continue;
        }
        json_t *step = json_object();
        json_object_set_new(step, "prompt", json_string_bytes(value, strlen(value)));
        if (have_delay) {
            json_object_set_new(step, "delay", json_integer(delay));
            have_delay = false;
        }
        json_array_append_new(v, step);
    }
    if (have_delay) {
        err_set(e, ERR_INVALID, "--delay: must come before the step it delays");
        goto fail;
    }
    *steps = v;
    *rest = r;
    *nrest = n;
    return 0;
fail:
    json_decref(v);
    free(r);
    return -1;
}

/* ---- rendering ---- */

static const char *
cmd_schedule_next(const json_t *o)
{
    const char *local = json_get_str(o, "nextRunAtLocal");
    const char *utc = json_get_str(o, "nextRunAt");
    return local ? local : utc ? utc : "none";
}

static void
cmd_schedule_line(FILE *out, const char *label, const char *value)
{
    if (value != NULL && *value) {
        fprintf(out, "  %-16s %s\n", label, value);
    }
}

static void
cmd_schedule_render_created(const json_t *r, FILE *out)
{
    fprintf(out, "%s\n", json_get_str(r, "scheduleId"));
    fprintf(stderr, "%s: %s\n", json_get_str(r, "message"), json_get_str(r, "scheduleId"));
    cmd_schedule_line(stderr, "type", json_get_str(r, "scheduleType"));
    if (json_get_int(r, "stepCount", 0) > 0) {
        fprintf(stderr, "  %-16s %lld\n", "steps", (long long)json_get_int(r, "stepCount", 0));
    }
    cmd_schedule_line(stderr, "cron", json_get_str(r, "cronExpression"));
    cmd_schedule_line(stderr, "timezone", json_get_str(r, "timezone"));
    cmd_schedule_line(stderr, "next run", cmd_schedule_next(r));
    cmd_schedule_line(stderr, "next run (UTC)", json_get_str(r, "nextRunAt"));
    cmd_schedule_line(stderr, "missed runs", json_get_str(r, "missedRunPolicy"));
    cmd_schedule_line(stderr, "after", json_get_str(r, "afterScheduleId"));
    cmd_schedule_line(stderr, "agent", json_get_str(r, "agent"));
    cmd_schedule_line(stderr, "directory", json_get_str(r, "workingDirectory"));
}

static void
cmd_schedule_render_list(const json_t *r, FILE *out)
{
    json_t *a = json_object_get(r, "schedules");
    size_t n = json_array_size(a);
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(a, i);
        char runs[48];
        if (json_object_get(s, "maxRuns")) {
            snprintf(runs, sizeof runs, "%lld/%lld", (long long)json_get_int(s, "runCount", 0),
                     (long long)json_get_int(s, "maxRuns", 0));
        } else {
            snprintf(runs, sizeof runs, "%lld", (long long)json_get_int(s, "runCount", 0));
        }
        fprintf(out, "%s  %-10s %-9s%s runs: %-7s next: %s\n", json_get_str(s, "id"),
                json_get_str(s, "status"), json_get_str(s, "scheduleType"),
                json_is_true(json_object_get(s, "isPipeline")) ? "+pipe" : "     ", runs,
                cmd_schedule_next(s));
    }
    int64_t total = json_get_int(r, "total", (int64_t)n);
    if (n == 0) {
        fprintf(stderr, "No schedules found\n");
    } else {
        fprintf(stderr, "%zu schedule%s%s\n", n, n == 1 ? "" : "s",
                total > (int64_t)n ? " (more with --limit and --offset)" : "");
    }
}

static void
cmd_schedule_render_get(const json_t *r, FILE *out)
{
    const json_t *s = json_object_get(r, "schedule");
    char runs[48];
    fprintf(out, "%s\n", json_get_str(s, "id"));
    cmd_schedule_line(out, "status", json_get_str(s, "status"));
    cmd_schedule_line(out, "reason", json_get_str(s, "reason"));
    cmd_schedule_line(out, "type", json_get_str(s, "scheduleType"));
    cmd_schedule_line(out, "cron", json_get_str(s, "cronExpression"));
    cmd_schedule_line(out, "scheduled at", json_get_str(s, "scheduledAt"));
    cmd_schedule_line(out, "timezone", json_get_str(s, "timezone"));
    cmd_schedule_line(out, "missed runs", json_get_str(s, "missedRunPolicy"));
    if (json_object_get(s, "maxRuns")) {
        snprintf(runs, sizeof runs, "%lld of %lld", (long long)json_get_int(s, "runCount", 0),
                 (long long)json_get_int(s, "maxRuns", 0));
    } else {
        snprintf(runs, sizeof runs, "%lld", (long long)json_get_int(s, "runCount", 0));
    }
    cmd_schedule_line(out, "runs", runs);
    cmd_schedule_line(out, "last run", json_get_str(s, "lastRunAt"));
    cmd_schedule_line(out, "next run", cmd_schedule_next(s));
    cmd_schedule_line(out, "expires", json_get_str(s, "expiresAt"));
    cmd_schedule_line(out, "after", json_get_str(s, "afterScheduleId"));
    cmd_schedule_line(out, "created", json_get_str(s, "createdAt"));
    const json_t *tmpl = json_object_get(s, "taskTemplate");
    cmd_schedule_line(out, "agent", json_get_str(tmpl, "agent"));
    cmd_schedule_line(out, "directory", json_get_str(tmpl, "workingDirectory"));
    cmd_schedule_line(out, "prompt", json_get_str(tmpl, "prompt"));
    const json_t *steps = json_object_get(s, "pipelineSteps");
    for (size_t i = 0; i < json_array_size(steps); i++) {
        const json_t *st = json_array_get(steps, i);
        char label[32];
        snprintf(label, sizeof label, "step %zu", i + 1);
        if (json_get_int(st, "delay", 0) > 0) {
            fprintf(out, "  %-16s (after %lld ms) %s\n", label,
                    (long long)json_get_int(st, "delay", 0), json_get_str(st, "prompt"));
        } else {
            cmd_schedule_line(out, label, json_get_str(st, "prompt"));
        }
    }
    const json_t *h = json_object_get(r, "history");
    if (h != NULL) {
        fprintf(out, "history (newest first):\n");
        if (json_array_size(h) == 0) {
            fprintf(out, "  none yet\n");
        }
    }
    for (size_t i = 0; i < json_array_size(h); i++) {
        const json_t *x = json_array_get(h, i);
        const char *executed = json_get_str(x, "executedAt");
        fprintf(out, "  %-9s | scheduled: %s | executed: %s", json_get_str(x, "status"),
                json_get_str(x, "scheduledFor"), executed ? executed : "n/a");
        const json_t *ids = json_object_get(x, "taskIds");
        if (json_array_size(ids) > 1) {
            fprintf(out, " | tasks:");
            for (size_t k = 0; k < json_array_size(ids); k++) {
                fprintf(out, " %s", json_string_value(json_array_get(ids, k)));
            }
        } else if (json_get_str(x, "taskId")) {
            fprintf(out, " | task: %s", json_get_str(x, "taskId"));
        }
        if (json_array_size(json_object_get(x, "covers")) > 1) {
            fprintf(out, " | covers %zu fires", json_array_size(json_object_get(x, "covers")));
        }
        if (json_get_str(x, "errorMessage")) {
            fprintf(out, " | %s", json_get_str(x, "errorMessage"));
        }
        fputc('\n', out);
    }
}

static void
cmd_schedule_render_pipeline(const json_t *r, FILE *out)
{
    fprintf(out, "%s\n", json_get_str(r, "pipelineId"));
    fprintf(stderr, "Pipeline created: %s\n", json_get_str(r, "pipelineId"));
    const json_t *steps = json_object_get(r, "steps");
    for (size_t i = 0; i < json_array_size(steps); i++) {
        const json_t *st = json_array_get(steps, i);
        if (i > 0) {
            fprintf(stderr, "   \xe2\x86\x93%s\n",
                    json_get_int(st, "delay", 0) > 0 ? " (delayed)" : "");
        }
        const char *tid = json_get_str(st, "taskId");
        fprintf(stderr, "%zu. [%s] \"%s\"\n", i + 1, tid ? tid : "starts later",
                json_get_str(st, "prompt"));
    }
}

static void
cmd_schedule_render(const struct op *op, const json_t *r)
{
    if (op == &op_schedule_task || op == &op_schedule_pipeline) {
        cmd_schedule_render_created(r, stdout);
    } else if (op == &op_list_schedules) {
        cmd_schedule_render_list(r, stdout);
    } else if (op == &op_get_schedule) {
        cmd_schedule_render_get(r, stdout);
    } else if (op == &op_create_pipeline) {
        cmd_schedule_render_pipeline(r, stdout);
    } else {
        printf("%s\n", json_get_str(r, "message"));
        const char *next = cmd_schedule_next(r);
        if (op != &op_cancel_schedule && strcmp(json_get_str(r, "status"), "active") == 0) {
            fprintf(stderr, "next run: %s\n", next);
        }
        json_t *ids = json_object_get(r, "cancelledTaskIds");
        for (size_t i = 0; i < json_array_size(ids); i++) {
            fprintf(stderr, "cancelled task %s\n", json_string_value(json_array_get(ids, i)));
        }
        if (json_get_str(r, "reason")) {
            fprintf(stderr, "reason: %s\n", json_get_str(r, "reason"));
        }
    }
}

/* Validates args, calls op on the daemon and prints the answer. Consumes args. */
static int
cmd_schedule_call(const char *home, const char *cmd, const struct op *op, json_t *args)
{
    struct err e = { 0 };
    json_t *result = NULL;
    struct rpc_client *c = NULL;
    int rc;
    bool as_json = json_is_true(json_object_get(args, "json"));
    json_object_del(args, "json");
    if (op_validate(op, args, &e) != 0) {
        rc = cli_fail(cmd, &e);
        goto out;
    }
    c = rpc_client_open(home, true, &e);
    if (c == NULL) {
        rc = cli_fail(cmd, &e);
        goto out;
    }
    result = rpc_call_tool(c, op->name, args, -1, NULL, NULL, &e);
    if (result == NULL) {
        rc = cli_fail(cmd, &e);
        goto out;
    }
    if (as_json) {
        char *s = json_dump_pretty(result);
        printf("%s\n", s);
        free(s);
    } else {
        cmd_schedule_render(op, result);
    }
    rc = 0;
out:
    json_decref(result);
    json_decref(args);
    rpc_client_close(c);
    return rc;
}

/* `schedule create --pipeline`, `schedule pipeline`, `pipeline`: steps from the words. */
static int
cmd_schedule_with_steps(const char *home, const char *cmd, const struct op *op, int argc,
                        char **argv, bool bare_prompts)
{
    struct err e = { 0 };
    json_t *steps = NULL, *args = NULL;
    char **rest = NULL;
    int nrest = 0;
    if (cli_wants_help(argc, argv)) {
        op_cli_help(op, stdout);
        if (bare_prompts) {
            printf("\nEach word is one step's prompt, in order (quote prompts with spaces): beat "
                   "pipeline \"lint\" \"test\" --delay 5m \"summarise\"\n");
        } else {
            printf("\nGive the steps with --step PROMPT (2 to 20, in order), each optionally "
                   "after --delay DURATION: beat schedule create --pipeline --step lint --step "
                   "test --cron \"0 2 * * *\"\n");
        }
        return 0;
    }
    if (cmd_schedule_steps(op, argc, argv, bare_prompts, &steps, &rest, &nrest, &e) != 0 ||
        op_cli_parse(op, nrest, rest, &args, &e) != 0) {
        free(rest);
        json_decref(steps);
        return cli_fail(cmd, &e);
    }
    free(rest);
    json_object_set_new(args, "steps", steps);
    return cmd_schedule_call(home, cmd, op, args);
}

/* ---- preview ---- */

static int
cmd_schedule_preview(int argc, char **argv)
{
    struct err e = { 0 };
    const char *tz = "UTC", *from = NULL;
    int64_t count = CMD_SCHEDULE_PREVIEW_DEFAULT, now = clock_now_ms();
    bool as_json = false;
    char expr[CRON_TEXT_MAX + 1] = "";
    size_t len = 0;
    struct cron_expr *c = NULL;
    int64_t *fires = NULL;
    int rc = 2;

    for (int i = 0; i < argc; i++) {
        const char *w = argv[i];
        if ((strcmp(w, "--timezone") == 0 || strcmp(w, "--from") == 0 ||
             strcmp(w, "--count") == 0 || strcmp(w, "-n") == 0) &&
            i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(w, "--timezone") == 0) {
                tz = v;
            } else if (strcmp(w, "--from") == 0) {
                from = v;
            } else {
                char *end;
                count = strtoll(v, &end, 10);
                if (*v == '\0' || *end != '\0' || count < 1 || count > CMD_SCHEDULE_PREVIEW_MAX) {
                    fprintf(stderr,
                            "beat schedule preview: --count: must be an integer between "
                            "1 and %d (got \"%.40s\")\n",
                            CMD_SCHEDULE_PREVIEW_MAX, v);
                    return 2;
                }
            }
        } else if (strcmp(w, "--json") == 0) {
            as_json = true;
        } else if (w[0] == '-' && w[1] != '\0' && strcmp(w, "-") != 0 && w[1] != '*' &&
                   !(w[1] >= '0' && w[1] <= '9')) {
            fprintf(stderr,
                    "beat schedule preview: unknown option %.60s (--timezone, --from, "
                    "--count, --json)\n",
                    w);
            return 2;
        } else {
            /* An unquoted expression arrives as several words. */
            size_t wl = strlen(w);
            if (len + wl + 1 > CRON_TEXT_MAX) {
                fprintf(stderr, "beat schedule preview: the expression is longer than %d bytes\n",
                        CRON_TEXT_MAX);
                return 2;
            }
            if (len > 0) {
                expr[len++] = ' ';
            }
            memcpy(expr + len, w, wl + 1);
            len += wl;
        }
    }
    if (len == 0) {
        fprintf(stderr, "usage: beat schedule preview <cron> [--timezone TZ] [--from ISO] "
                        "[--count N] [--json]\n");
        return 2;
    }
    if (from != NULL && clock_parse_iso(from, &now) != 0) {
        fprintf(stderr,
                "beat schedule preview: --from: must be an ISO 8601 time with Z or an "
                "offset, like 2026-12-01T08:00:00Z (got \"%.60s\")\n",
                from);
        return 2;
    }
    c = cron_parse(expr, &e);
    const struct tz_zone *z = c ? tz_get(tz, &e) : NULL;
    if (c == NULL || z == NULL) {
        err_wrap(&e, c == NULL ? "cronExpression" : "timezone");
        rc = cli_fail("schedule preview", &e);
        goto out;
    }
    fires = xcalloc((size_t)count, sizeof *fires);
    if (cron_next_n(c, z, now, fires, (size_t)count, &e) != 0) {
        err_wrap(&e, "cronExpression");
        rc = cli_fail("schedule preview", &e);
        goto out;
    }
    char from_iso[32];
    clock_format_iso(now, from_iso);
    json_t *j = json_pack("{s:s, s:s, s:s, s:[]}", "expression", cron_expr_text(c), "timezone", tz,
                          "from", from_iso, "fires");
    json_t *arr = json_object_get(j, "fires");
    if (!as_json) {
        printf("next %lld fire%s of \"%s\" in %s after %s:\n", (long long)count,
               count == 1 ? "" : "s", cron_expr_text(c), tz, from_iso);
    }
    static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    for (int64_t i = 0; i < count; i++) {
        char local[TZ_ISO_SIZE], utc[32];
        int off = 0;
        tz_format_iso(z, fires[i], local, &e);
        tz_local_offset(z, fires[i], &off, &e);
        clock_format_iso(fires[i], utc);
        int64_t days = civil_floor_div(civil_floor_div(fires[i], 1000) + off, CIVIL_DAY);
        if (as_json) {
            json_array_append_new(arr, json_pack("{s:s, s:s}", "utc", utc, "local", local));
        } else {
            printf("  %s %s   %s\n", wd[civil_weekday(days)], local, utc);
        }
    }
    if (as_json) {
        char *s = json_dump_pretty(j);
        printf("%s\n", s);
        free(s);
    }
    json_decref(j);
    rc = 0;
out:
    free(fires);
    cron_expr_free(c);
    return rc;
}

/* ---- dispatch ---- */

/* Runs `beat schedule ...` or `beat pipeline ...`. */
int
cli_schedule_main(const char *home, int argc, char **argv)
{
    struct err e = { 0 };
    if (strcmp(argv[0], "pipeline") == 0) {
        return cmd_schedule_with_steps(home, "pipeline", &op_create_pipeline, argc - 1, argv + 1,
                                       true);
    }
    const char *sub = argc > 1 ? argv[1] : NULL;
    if (sub == NULL || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ||
        strcmp(sub, "help") == 0) {
        cmd_schedule_usage(sub == NULL ? stderr : stdout);
        return sub == NULL ? 2 : 0;
    }
    const struct cmd_schedule_sub *s = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(cmd_schedule_subs); i++) {
        if (strcmp(cmd_schedule_subs[i].name, sub) == 0 ||
            (cmd_schedule_subs[i].alias && strcmp(cmd_schedule_subs[i].alias, sub) == 0)) {
            s = &cmd_schedule_subs[i];
        }
    }
    if (s == NULL) {
        fprintf(stderr, "beat schedule: unknown command '%s'\n\n", sub);
        cmd_schedule_usage(stderr);
        return 2;
    }
    int sargc = argc - 2;
    char **sargv = argv + 2;
    char cmd[64];
    snprintf(cmd, sizeof cmd, "schedule %s", s->name);
    if (s->op == NULL) {
        if (cli_wants_help(sargc, sargv)) {
            printf("usage: beat schedule preview <cron> [--timezone TZ] [--from ISO] [--count N] "
                   "[--json]\n\nPrints the next fire times of a cron expression in a time zone "
                   "(default UTC, from now, 5 times),\ncomputed here without a daemon.\n");
            return 0;
        }
        return cmd_schedule_preview(sargc, sargv);
    }
    bool pipeline = s->op == &op_schedule_pipeline;
    if (s->op == &op_schedule_task) {
        for (int i = 0; i < sargc; i++) {
            if (strcmp(sargv[i], "--") == 0) {
                break;
            }
            if (strcmp(sargv[i], "--pipeline") == 0) {
                pipeline = true;
            }
        }
    }
    if (pipeline) {
        /* Drop --pipeline itself; the rest is SchedulePipeline's. */
        char **v = xcalloc((size_t)sargc + 1, sizeof *v);
        int n = 0;
        for (int i = 0; i < sargc; i++) {
            if (strcmp(sargv[i], "--pipeline") != 0) {
                v[n++] = sargv[i];
            }
        }
        int rc = cmd_schedule_with_steps(home, cmd, &op_schedule_pipeline, n, v, false);
        free(v);
        return rc;
    }
    if (cli_wants_help(sargc, sargv)) {
        op_cli_help(s->op, stdout);
        return 0;
    }
    for (int i = 0; i < sargc && s->op == &op_schedule_task; i++) {
        if (strcmp(sargv[i], "--") == 0) {
            break;
        }
        if (strcmp(sargv[i], "--step") == 0 || strncmp(sargv[i], "--step=", 7) == 0) {
            err_set(&e, ERR_INVALID,
                    "--step: only with --pipeline (beat schedule create "
                    "--pipeline --step A --step B --cron ...)");
            return cli_fail(cmd, &e);
        }
    }
    json_t *args = NULL;
    if (op_cli_parse(s->op, sargc, sargv, &args, &e) != 0) {
        return cli_fail(cmd, &e);
    }
    return cmd_schedule_call(home, cmd, s->op, args);
}
