/* The beat command line. Finds the operation from the words given, parses and validates its
 * arguments with the op table (the same validator the daemon runs), sends it to the daemon
 * as an MCP tools/call and renders the answer; a few commands (daemon, mcp, config, help)
 * run here. Only this layer prints and chooses exit statuses. */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cmd-agents.h"
#include "cli/cmd-config.h"
#include "cli/cmd-top.h"
#include "cli/cmd-schedule.h"
#include "cli/render.h"
#include "core/op.h"
#include "core/ops.h"
#include "mcp/client.h"
#include "mcp/daemon.h"
#include "mcp/relay.h"
#include "runtime/supervise.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define FOLLOW_INTERVAL_MS 100

static volatile sig_atomic_t cli_interrupted;

static void
cli_sigint(int sig)
{
    (void)sig;
    cli_interrupted = 1;
}

/* The state directory: $BACKBEAT_HOME, else ~/.backbeat. */
static char *
cli_home(void)
{
    const char *h = getenv("BACKBEAT_HOME");
    if (h && *h) {
        return xstrdup(h);
    }
    const char *home = getenv("HOME");
    return xasprintf("%s/.backbeat", home && *home ? home : ".");
}

static const struct op *cli_find_op(const char *word);

/* Commands that run here rather than as one operation of the table. */
static const struct {
    const char *words;
    const char *summary;
} cli_local_commands[] = {
    { "list, ls", "List tasks as a table (like status without an id)." },
    { "top", "Live view of the pool: running agents' CPU, memory and runtime, the queue." },
    { "schedule ...", "Schedules: create, list, get, pause, resume, cancel, preview." },
    { "agents list|check", "Which agents are installed, their versions and authentication." },
    { "init", "Detect installed agents, pick the default one, write the configuration." },
    { "config", "Show or change settings: config show|set|reset|path|keys." },
    { "daemon", "Run the daemon in the foreground." },
    { "daemon start", "Start the daemon in the background (commands do it on demand)." },
    { "daemon stop", "Stop the daemon; running agents go on (--kill-tasks stops them)." },
    { "daemon status", "Show whether the daemon runs, its pool and task counts." },
    { "daemon restart", "Stop and start the daemon (after an upgrade)." },
    { "mcp start", "Serve MCP on stdio for an MCP client (relays to the daemon)." },
    { "mcp config", "Print MCP client configuration for Claude Code, Codex, Gemini CLI." },
    { "mcp test", "Start the server, initialize, list the tools and report." },
    { "version", "Print the version." },
};

static void
cli_usage(FILE *out)
{
    fprintf(out,
            "beat %s: delegate work to background coding agents (claude, codex, gemini, or "
            "any agent CLI you configure)\n\nusage: beat <command> [arguments]\n\ntasks:\n",
            BEAT_VERSION);
    /* In the order people reach for them; the table itself is sorted by MCP name. */
    static const char *const order[] = { "run",    "status", "logs",     "wait",   "cancel",
                                         "retry",  "resume", "pipeline", "system", NULL };
    for (const char *const *w = order; *w; w++) {
        const struct op *op = cli_find_op(*w);
        if (op != NULL) {
            fprintf(out, "  %-18s %s\n", op->cli, op->summary);
        }
    }
    fprintf(out, "\nmore:\n");
    for (size_t i = 0; i < sizeof cli_local_commands / sizeof cli_local_commands[0]; i++) {
        fprintf(out, "  %-18s %s\n", cli_local_commands[i].words, cli_local_commands[i].summary);
    }
    fprintf(out, "\nRun 'beat <command> --help' for a command's options.\n"
                 "State lives in $BACKBEAT_HOME (default ~/.backbeat).\n");
}

static const struct op *
cli_find_op(const char *word)
{
    for (const struct op *const *p = op_table; *p; p++) {
        if ((*p)->cli && strcmp((*p)->cli, word) == 0 && !((*p)->flags & OP_NO_CLI)) {
            return *p;
        }
    }
    return NULL;
}

/* True when --help or -h comes before any "--". */
bool
cli_wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            return false;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return true;
        }
    }
    return false;
}

/* Prints "beat CMD: message" and returns the exit status for the error. */
int
cli_fail(const char *cmd, const struct err *e)
{
    fprintf(stderr, "beat %s: %s\n", cmd, e->msg);
    return err_exit_status(e->code);
}

/* Removes the CLI-only flags from args, returning whether --json was given. */
static bool
cli_strip(json_t *args, const char *name)
{
    json_t *v = json_object_get(args, name);
    bool set = json_is_true(v);
    json_object_del(args, name);
    return set;
}

/* ---- following output ---- */

static void
cli_write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

static void
cli_pause(int ms)
{
    poll(NULL, 0, ms);
}

/* Prints a task's output as it is written until the task ends. Returns the final status
 * object (TaskStatus) or NULL; on Ctrl-C cancels the task when cancel_on_interrupt. */
static json_t *
cli_follow(struct rpc_client *c, const char *id, bool from_start, bool cancel_on_interrupt,
           bool *interrupted, struct err *e)
{
    int64_t off = 0, eoff = 0;
    bool first = true;
    *interrupted = false;
    for (;;) {
        json_t *args = json_pack("{s:s}", "taskId", id);
        if (!first || from_start) {
            json_object_set_new(args, "offset", json_integer(off));
            json_object_set_new(args, "errorsOffset", json_integer(eoff));
        }
        json_t *r = rpc_call_tool(c, "TaskLogs", args, -1, NULL, NULL, e);
        json_decref(args);
        if (r == NULL) {
            return NULL;
        }
        const char *out = json_get_str(r, "output");
        const char *err = json_get_str(r, "errors");
        if (out) {
            cli_write_all(1, out, strlen(out));
        }
        if (err) {
            cli_write_all(2, err, strlen(err));
        }
        int64_t noff = json_get_int(r, "offset", off);
        int64_t neoff = json_get_int(r, "errorsOffset", eoff);
        bool moved = noff != off || neoff != eoff;
        off = noff;
        eoff = neoff;
        const char *status = json_get_str(r, "status");
        bool ended = status && (strcmp(status, "completed") == 0 ||
                                strcmp(status, "failed") == 0 ||
                                strcmp(status, "cancelled") == 0);
        json_decref(r);
        first = false;
        if (ended && !moved) {
            break;
        }
        if (cli_interrupted && !*interrupted) {
            *interrupted = true;
            if (!cancel_on_interrupt) {
                break;
            }
            fprintf(stderr, "\nCancelling task %s...\n", id);
            json_t *ca = json_pack("{s:s, s:s}", "taskId", id, "reason",
                                   "User interrupted (SIGINT)");
            json_t *cr = rpc_call_tool(c, "CancelTask", ca, -1, NULL, NULL, e);
            json_decref(ca);
            json_decref(cr);
            continue;
        }
        if (!moved && !ended) {
            cli_pause(FOLLOW_INTERVAL_MS);
        }
    }
    json_t *sa = json_pack("{s:s}", "taskId", id);
    json_t *st = rpc_call_tool(c, "TaskStatus", sa, -1, NULL, NULL, e);
    json_decref(sa);
    return st;
}

static int
cli_exit_for_task(const json_t *st)
{
    const char *status = json_get_str(st, "status");
    if (status && strcmp(status, "completed") == 0) {
        return 0;
    }
    if (status && strcmp(status, "failed") == 0) {
        json_t *code = json_object_get(st, "exitCode");
        const char *end = json_get_str(st, "endReason");
        if (json_is_integer(code) && json_integer_value(code) > 0 &&
            !(end && strcmp(end, "timeout") == 0)) {
            return (int)(json_integer_value(code) & 0xff);
        }
    }
    return 1;
}

/* ---- generic op commands ---- */

static int
cli_run_op(const char *home, const struct op *op, int argc, char **argv)
{
    struct err e = { 0 };
    json_t *args = NULL, *result = NULL;
    struct rpc_client *c = NULL;
    int rc = 1;

    if (cli_wants_help(argc, argv)) {
        op_cli_help(op, stdout);
        return 0;
    }
    if (op_cli_parse(op, argc, argv, &args, &e) != 0) {
        return cli_fail(op->cli, &e);
    }
    bool as_json = cli_strip(args, "json");
    bool foreground = cli_strip(args, "foreground");
    bool follow = cli_strip(args, "follow");
    if (op_validate(op, args, &e) != 0) {
        rc = cli_fail(op->cli, &e);
        goto out;
    }
    c = rpc_client_open(home, true, &e);
    if (c == NULL) {
        rc = cli_fail(op->cli, &e);
        goto out;
    }
    result = rpc_call_tool(c, op->name, args, -1, NULL, NULL, &e);
    if (result == NULL) {
        rc = cli_fail(op->cli, &e);
        goto out;
    }
    if (as_json && !foreground && !follow) {
        char *s = json_dump_pretty(result);
        printf("%s\n", s);
        free(s);
        rc = 0;
        goto out;
    }
    if (foreground || follow) {
        const char *id = json_get_str(result, foreground ? "taskId" : "taskId");
        bool interrupted = false;
        struct sigaction sa = { .sa_handler = cli_sigint };
        sigaction(SIGINT, &sa, NULL);
        if (foreground) {
            fprintf(stderr, "Task %s %s (agent %s)\n", id, json_get_str(result, "status"),
                    json_get_str(result, "agent"));
        } else {
            /* logs -f: print what is there, then follow from its end. */
            const char *out = json_get_str(result, "output");
            cli_write_all(1, out, strlen(out));
        }
        json_t *st;
        if (foreground) {
            st = cli_follow(c, id, true, true, &interrupted, &e);
        } else {
            st = cli_follow(c, id, false, false, &interrupted, &e);
        }
        if (st == NULL) {
            rc = cli_fail(op->cli, &e);
            goto out;
        }
        if (foreground) {
            render_task_end(st, stderr);
            rc = interrupted ? 130 : cli_exit_for_task(st);
            if (as_json) {
                char *s = json_dump_pretty(st);
                printf("%s\n", s);
                free(s);
            }
        } else {
            rc = 0;
        }
        json_decref(st);
        goto out;
    }
    render_result(op, args, result, stdout);
    if (op == &op_status && json_object_get(result, "tasks") != NULL) {
        /* A task list ends with the pool, so "why is mine still queued" has an answer. */
        json_t *none = json_object();
        json_t *sys = rpc_call_tool(c, "SystemStatus", none, 5000, NULL, NULL, &e);
        json_decref(none);
        render_pool_line(sys, stdout);
        json_decref(sys);
    }
    rc = 0;
out:
    json_decref(result);
    json_decref(args);
    rpc_client_close(c);
    return rc;
}

/* `beat list` / `beat ls`: TaskStatus without an id, as a table. */
static int
cli_list(const char *home, int argc, char **argv)
{
    const struct op *op = &op_status;
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] != '-' && (i == 0 || argv[i - 1][0] != '-')) {
            fprintf(stderr, "beat list: unexpected argument \"%s\" (did you mean 'beat status "
                            "%s'?)\n", argv[i], argv[i]);
            return 2;
        }
    }
    return cli_run_op(home, op, argc, argv);
}

/* ---- daemon management ---- */

static long
cli_daemon_pid(const char *home, bool *running)
{
    char *path = xasprintf("%s/daemon.lock", home);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    *running = false;
    if (fd < 0) {
        return 0;
    }
    char buf[32] = { 0 };
    ssize_t n = read(fd, buf, sizeof buf - 1);
    long pid = n > 0 ? strtol(buf, NULL, 10) : 0;
    /* The lock is held exactly while a daemon runs. */
    if (flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
        *running = true;
    }
    close(fd);
    return pid;
}

static int
cli_daemon_stop(const char *home, bool kill_tasks)
{
    bool running;
    long pid = cli_daemon_pid(home, &running);
    if (!running || pid <= 0) {
        printf("daemon is not running (%s)\n", home);
        return 0;
    }
    if (kill_tasks) {
        char *marker = xasprintf("%s/stop-kill-tasks", home);
        int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd);
        }
        free(marker);
    }
    if (kill((pid_t)pid, SIGTERM) != 0) {
        fprintf(stderr, "beat daemon stop: signal pid %ld: %s\n", pid, strerror(errno));
        return 1;
    }
    int64_t deadline = clock_mono_ms() + 30000;
    while (clock_mono_ms() < deadline) {
        /* Wait for that process to end: a client may start a new daemon meanwhile. */
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
            running = false;
        } else {
            cli_daemon_pid(home, &running);
            running = running || kill((pid_t)pid, 0) == 0;
        }
        if (!running) {
            printf("daemon stopped (pid %ld)%s\n", pid,
                   kill_tasks ? "; running tasks were cancelled"
                              : "; running agents go on and are re-adopted at the next start");
            return 0;
        }
        cli_pause(20);
    }
    fprintf(stderr, "beat daemon stop: pid %ld did not stop within 30 s\n", pid);
    return 1;
}

static int
cli_daemon_status(const char *home, bool as_json)
{
    struct err e = { 0 };
    bool running;
    cli_daemon_pid(home, &running);
    if (!running) {
        if (as_json) {
            printf("{\"running\": false, \"home\": \"%s\"}\n", home);
        } else {
            printf("daemon is not running (%s)\n", home);
        }
        return 3;
    }
    struct rpc_client *c = rpc_client_open(home, false, &e);
    if (c == NULL) {
        return cli_fail("daemon status", &e);
    }
    json_t *args = json_object();
    json_t *r = rpc_call_tool(c, "SystemStatus", args, 5000, NULL, NULL, &e);
    json_decref(args);
    rpc_client_close(c);
    if (r == NULL) {
        return cli_fail("daemon status", &e);
    }
    if (as_json) {
        char *s = json_dump_pretty(r);
        printf("%s\n", s);
        free(s);
    } else {
        render_result(&op_system, NULL, r, stdout);
    }
    json_decref(r);
    return 0;
}

static int
cli_daemon(const char *home, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;
    bool as_json = false, kill_tasks = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
        } else if (strcmp(argv[i], "--kill-tasks") == 0) {
            kill_tasks = true;
        } else if (strcmp(argv[i], "--help") != 0 && strcmp(argv[i], "-h") != 0) {
            fprintf(stderr, "beat daemon: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (cli_wants_help(argc - 1, argv + 1)) {
        printf("usage: beat daemon [start|stop [--kill-tasks]|status [--json]|restart]\n\n"
               "Without a subcommand the daemon runs in the foreground (for systemd or "
               "debugging).\nOne daemon runs per state directory ($BACKBEAT_HOME, default "
               "~/.backbeat); commands start it on demand.\n");
        return 0;
    }
    if (sub == NULL || strcmp(sub, "run") == 0) {
        return daemon_main(home, isatty(2) && getenv("BACKBEAT_LOG_STDERR") != NULL);
    }
    if (strcmp(sub, "start") == 0) {
        struct err e = { 0 };
        int fd;
        if (daemon_connect(home, true, &fd, &e) != 0) {
            return cli_fail("daemon start", &e);
        }
        close(fd);
        bool running;
        long pid = cli_daemon_pid(home, &running);
        printf("daemon running (pid %ld, %s)\n", pid, home);
        return 0;
    }
    if (strcmp(sub, "stop") == 0) {
        return cli_daemon_stop(home, kill_tasks);
    }
    if (strcmp(sub, "status") == 0) {
        return cli_daemon_status(home, as_json);
    }
    if (strcmp(sub, "restart") == 0) {
        int rc = cli_daemon_stop(home, kill_tasks);
        if (rc != 0) {
            return rc;
        }
        char *start[] = { "daemon", "start", NULL };
        return cli_daemon(home, 2, start);
    }
    fprintf(stderr, "beat daemon: unknown subcommand '%s' (start, stop, status, restart)\n", sub);
    return 2;
}

/* ---- mcp ---- */

static int
cli_mcp_config(void)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        str_copy(exe, "beat", sizeof exe);
    } else {
        exe[n] = '\0';
    }
    printf("Claude Code: add to .mcp.json in your project (or run the command below)\n"
           "{\n  \"mcpServers\": {\n    \"backbeat\": {\n      \"command\": \"%s\",\n"
           "      \"args\": [\"mcp\", \"start\"]\n    }\n  }\n}\n"
           "  claude mcp add backbeat -- %s mcp start\n\n"
           "Codex: add to ~/.codex/config.toml\n"
           "[mcp_servers.backbeat]\ncommand = \"%s\"\nargs = [\"mcp\", \"start\"]\n"
           "default_tools_approval_mode = \"approve\"\n"
           "# codex passes only a few variables to MCP servers: add what your agents need,\n"
           "# e.g. env = { \"ANTHROPIC_API_KEY\" = \"...\" }, or store keys with beat config.\n\n"
           "Gemini CLI: add to ~/.gemini/settings.json\n"
           "{\n  \"mcpServers\": {\n    \"backbeat\": {\n      \"command\": \"%s\",\n"
           "      \"args\": [\"mcp\", \"start\"],\n      \"trust\": true\n    }\n  }\n}\n",
           exe, exe, exe, exe);
    return 0;
}

static int
cli_mcp_test(const char *home)
{
    struct err e = { 0 };
    int64_t t0 = clock_mono_ms();
    struct rpc_client *c = rpc_client_open(home, true, &e);
    if (c == NULL) {
        return cli_fail("mcp test", &e);
    }
    int64_t t1 = clock_mono_ms();
    json_t *r = rpc_request(c, "tools/list", NULL, 10000, &e);
    rpc_client_close(c);
    if (r == NULL) {
        return cli_fail("mcp test", &e);
    }
    json_t *tools = json_object_get(r, "tools");
    printf("ok: initialized in %lld ms; %zu tools:", (long long)(t1 - t0), json_array_size(tools));
    for (size_t i = 0; i < json_array_size(tools); i++) {
        printf(" %s", json_get_str(json_array_get(tools, i), "name"));
    }
    printf("\n");
    json_decref(r);
    return 0;
}

static int
cli_mcp(const char *home, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;
    if (sub == NULL || cli_wants_help(argc - 1, argv + 1)) {
        printf("usage: beat mcp start|config|test\n\n"
               "  start   serve MCP on stdin/stdout (what an MCP client launches)\n"
               "  config  print configuration for Claude Code, Codex and Gemini CLI\n"
               "  test    start the daemon if needed, initialize, list the tools\n");
        return sub == NULL ? 2 : 0;
    }
    if (strcmp(sub, "start") == 0) {
        return mcp_relay_main(home);
    }
    if (strcmp(sub, "config") == 0) {
        return cli_mcp_config();
    }
    if (strcmp(sub, "test") == 0) {
        return cli_mcp_test(home);
    }
    fprintf(stderr, "beat mcp: unknown subcommand '%s' (start, config, test)\n", sub);
    return 2;
}

/* Runs the command line. */
int
cli_main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], SUPERVISE_MODE_ARG) == 0) {
        return supervise_main(argv[2]);
    }
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        if (argc >= 3 && strcmp(argv[1], "help") == 0 && cli_find_op(argv[2])) {
            op_cli_help(cli_find_op(argv[2]), stdout);
            return 0;
        }
        cli_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0 ||
        strcmp(argv[1], "-V") == 0) {
        printf("beat %s\n", BEAT_VERSION);
        return 0;
    }
    char *home = cli_home();
    int rc;
    const struct op *op;
    if (strcmp(argv[1], "daemon") == 0) {
        rc = cli_daemon(home, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "mcp") == 0) {
        rc = cli_mcp(home, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "config") == 0) {
        rc = cli_config_main(home, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "agents") == 0) {
        rc = cli_agents_main(home, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "init") == 0) {
        rc = cli_init_main(home, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "top") == 0) {
        rc = cli_top_main(home, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "schedule") == 0 || strcmp(argv[1], "pipeline") == 0) {
        rc = cli_schedule_main(home, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "list") == 0 || strcmp(argv[1], "ls") == 0) {
        rc = cli_list(home, argc - 2, argv + 2);
    } else if ((op = cli_find_op(argv[1])) != NULL) {
        rc = cli_run_op(home, op, argc - 2, argv + 2);
    } else {
        fprintf(stderr, "beat: unknown command '%s' (see 'beat help')\n", argv[1]);
        rc = 2;
    }
    free(home);
    return rc;
}
