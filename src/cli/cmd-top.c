/* `beat top`: asks the daemon for SystemStatus once a second and draws the pool: capacity and
 * queue, what limits it now, the machine's CPU, memory and pressure, the learned cost per agent
 * type, and each running agent's CPU, RSS and runtime. It only reads; nothing here changes the
 * daemon's state. */
#include "cli/cmd-top.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/render.h"
#include "core/resources.h"
#include "mcp/client.h"
#include "util/clock.h"
#include "util/json.h"

#define TOP_INTERVAL_MS     1000
#define TOP_CALL_TIMEOUT_MS 5000
#define TOP_ROWS_MAX        200 /* agents listed at most; the rest are counted */

static volatile sig_atomic_t top_stop;

static void
top_on_signal(int sig)
{
    (void)sig;
    top_stop = 1;
}

static void
top_bytes(const json_t *o, const char *key, char out[32])
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v)) {
        resources_format_bytes(json_integer_value(v), out);
    } else {
        snprintf(out, 32, "-");
    }
}

static double
top_num(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static void
top_render_machine(const json_t *pool, FILE *out)
{
    json_t *lim = json_object_get(pool, "limits");
    json_t *res = json_object_get(pool, "resources");
    json_t *cpu = json_object_get(res, "cpu");
    json_t *mem = json_object_get(res, "memory");
    json_t *psi = json_object_get(res, "pressure");
    json_t *costs = json_object_get(res, "costs");
    char a[32], b[32], c[32];

    int64_t cores = json_get_int(cpu, "cores", 0);
    int64_t threshold = json_get_int(lim, "cpuThreshold", 0);
    if (cores > 0) {
        fprintf(out, "cpu       %.1f%% of %lld cores%s", top_num(cpu, "percent"), (long long)cores,
                json_is_true(json_object_get(cpu, "fromLoadAverage")) ? " (from load average)"
                                                                      : "");
        if (threshold >= 100) {
            fprintf(out, " (no CPU check: cpuThreshold 100)\n");
        } else {
            fprintf(out, " (threshold %lld%%, %lld reserved)\n", (long long)threshold,
                    (long long)json_get_int(lim, "cpuCoresReserved", 0));
        }
    } else {
        fprintf(out, "cpu       unknown\n");
    }
    top_bytes(mem, "available", a);
    top_bytes(mem, "total", b);
    top_bytes(lim, "memoryReserve", c);
    fprintf(out, "memory    %s available of %s (reserve %s)\n", a, b, c);
    if (json_is_object(psi)) {
        fprintf(out, "pressure  cpu %.1f%%, memory %.1f%% (full %.1f%%) of the last 10 s\n",
                top_num(psi, "cpuSome10"), top_num(psi, "memorySome10"),
                top_num(psi, "memoryFull10"));
    } else {
        fprintf(out, "pressure  not reported by this kernel\n");
    }
    fprintf(out, "cost     ");
    const char *type;
    json_t *v;
    json_object_foreach(costs, type, v)
    {
        top_bytes(v, "rss", a);
        fprintf(out, " %s %s, %.1f%% cpu (%lld samples);", type, a, top_num(v, "cpuPercent"),
                (long long)json_get_int(v, "samples", 0));
    }
    json_t *assumed = json_object_get(res, "assumedCost");
    top_bytes(assumed, "rss", a);
    fprintf(out, " %s %s, %.1f%% cpu (assumed until measured)",
            json_object_size(costs) ? "others" : "each agent", a, top_num(assumed, "cpuPercent"));
    fputc('\n', out);
}

/* Draws one frame from a SystemStatus result. */
static void
top_render(const json_t *st, FILE *out)
{
    json_t *d = json_object_get(st, "daemon");
    json_t *pool = json_object_get(st, "pool");
    json_t *q = json_object_get(pool, "queued");
    json_t *tasks = json_object_get(pool, "tasks");
    char up[32], a[32], rt[32];

    render_duration(json_get_int(d, "uptimeMs", 0), up);
    fprintf(out, "backbeat %s  pid %lld  up %s  %s\n", json_get_str(d, "version"),
            (long long)json_get_int(d, "pid", 0), up, json_get_str(d, "home"));
    fprintf(out, "pool      %lld running of %lld; queued P0 %lld, P1 %lld, P2 %lld\n",
            (long long)json_get_int(pool, "running", 0),
            (long long)json_get_int(pool, "capacity", 0), (long long)json_get_int(q, "P0", 0),
            (long long)json_get_int(q, "P1", 0), (long long)json_get_int(q, "P2", 0));
    const char *limited = json_get_str(pool, "limitedBy");
    fprintf(out, "limit     %s\n", limited ? limited : "none: nothing is waiting");
    top_render_machine(pool, out);
    fprintf(out, "\n%-41s  %-8s %7s %6s %9s %9s\n", "TASK", "AGENT", "PID", "CPU%", "RSS",
            "RUNTIME");
    size_t n = json_array_size(tasks);
    for (size_t i = 0; i < n && i < TOP_ROWS_MAX; i++) {
        json_t *t = json_array_get(tasks, i);
        char pid[16] = "-", cpu[16] = "-";
        if (json_is_integer(json_object_get(t, "pid"))) {
            snprintf(pid, sizeof pid, "%lld", (long long)json_get_int(t, "pid", 0));
        }
        if (json_is_number(json_object_get(t, "cpuPercent"))) {
            snprintf(cpu, sizeof cpu, "%.1f", top_num(t, "cpuPercent"));
        }
        top_bytes(t, "rss", a);
        render_duration(json_get_int(t, "runtimeMs", 0), rt);
        fprintf(out, "%-41s  %-8s %7s %6s %9s %9s%s\n", json_get_str(t, "taskId"),
                json_get_str(t, "agent") ? json_get_str(t, "agent") : "-", pid, cpu, a, rt,
                json_is_true(json_object_get(t, "settling")) ? "  starting" : "");
    }
    if (n > TOP_ROWS_MAX) {
        fprintf(out, "... and %zu more\n", n - TOP_ROWS_MAX);
    }
    if (n == 0) {
        fprintf(out, "(no agent is running)\n");
    }
}

/* Waits up to ms for q on a terminal (or just waits); Ctrl-C interrupts. */
static void
top_wait(bool keys, int ms)
{
    int64_t deadline = clock_mono_ms() + ms;
    while (!top_stop) {
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0) {
            return;
        }
        struct pollfd pfd = { .fd = 0, .events = POLLIN };
        int n = poll(keys ? &pfd : NULL, keys ? 1 : 0, (int)left);
        if (n > 0 && (pfd.revents & POLLIN)) {
            char ch;
            ssize_t r = read(0, &ch, 1);
            if (r == 1 && (ch == 'q' || ch == 'Q')) {
                top_stop = 1;
            } else if (r == 0) {
                keys = false; /* the terminal went away: keep drawing until a signal */
            }
        } else if (n > 0) {
            keys = false;
        }
    }
}

static int
top_usage(FILE *out, int rc)
{
    fprintf(out, "usage: beat top [--once]\n\n"
                 "A live view of the pool, refreshed each second: running agents with their CPU,\n"
                 "memory and runtime, the queue per priority, and what limits starting more.\n"
                 "q or Ctrl-C quits. --once prints one view and exits (for scripts).\n");
    return rc;
}

/* Runs `beat top`. */
int
cli_top_main(const char *home, int argc, char **argv)
{
    struct err e = { 0 };
    struct termios saved;
    bool once = false, raw = false;
    int rc = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--once") == 0) {
            once = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return top_usage(stdout, 0);
        } else {
            fprintf(stderr, "beat top: unknown option %s\n", argv[i]);
            return top_usage(stderr, 2);
        }
    }
    struct rpc_client *c = rpc_client_open(home, true, &e);
    if (c == NULL) {
        fprintf(stderr, "beat top: %s\n", e.msg);
        return err_exit_status(e.code);
    }
    bool tty_out = isatty(1);
    bool keys = !once && isatty(0);
    if (!once) {
        struct sigaction sa = { .sa_handler = top_on_signal }; /* no SA_RESTART: poll wakes */
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }
    if (keys && tcgetattr(0, &saved) == 0) {
        struct termios t = saved;
        t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        t.c_cc[VMIN] = 0;
        t.c_cc[VTIME] = 0;
        raw = tcsetattr(0, TCSANOW, &t) == 0;
    }
    while (!top_stop) {
        json_t *args = json_object();
        json_t *st =
            c ? rpc_call_tool(c, "SystemStatus", args, TOP_CALL_TIMEOUT_MS, NULL, NULL, &e) : NULL;
        json_decref(args);
        if (st == NULL && once) {
            fprintf(stderr, "beat top: %s\n", e.msg);
            rc = err_exit_status(e.code);
            break;
        }
        char *frame = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&frame, &len);
        if (m == NULL) {
            json_decref(st);
            rc = 1;
            break;
        }
        if (tty_out && !once) {
            fputs("\033[H\033[2J", m); /* home, clear: one write per frame, no flicker */
        }
        if (st != NULL) {
            top_render(st, m);
        } else {
            fprintf(m, "daemon unavailable: %s (retrying each second)\n", e.msg);
        }
        if (!once) {
            fputs(keys ? "\nq or Ctrl-C quits\n" : "\n", m);
        }
        fclose(m);
        fwrite(frame, 1, len, stdout);
        fflush(stdout);
        free(frame);
        json_decref(st);
        if (once) {
            break;
        }
        if (st == NULL) {
            /* The daemon restarted or stopped: connect again (without starting one). */
            rpc_client_close(c);
            c = rpc_client_open(home, false, &e);
        }
        top_wait(keys, TOP_INTERVAL_MS);
    }
    if (raw) {
        tcsetattr(0, TCSANOW, &saved);
    }
    rpc_client_close(c);
    return rc;
}
