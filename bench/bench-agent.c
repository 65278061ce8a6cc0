/* bench-agent: a stand-in agent CLI for the benchmarks, started under the name `claude`.
 * The first thing it does is write the monotonic time to $BENCH_STAMP_FILE, so a benchmark can
 * tell when the exec happened without paying python's start-up; it then prints a minimal claude
 * stream (init and result) and writes its exit time just before exiting. Not a fake of the
 * real CLI's options: tests/fake-agents is that. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HOLD_DIRECTIVE "[wait-file="

static void
bench_stamp(const char *kind)
{
    const char *path = getenv("BENCH_STAMP_FILE");
    const char *task = getenv("BACKBEAT_TASK_ID");
    struct timespec ts;
    char line[256];

    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (path == NULL) {
        return;
    }
    int n = snprintf(line, sizeof line, "%s %lld %s %d\n", kind,
                     (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, task ? task : "-",
                     (int)getpid());
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        return;
    }
    /* One short O_APPEND write: lines of concurrent agents never interleave. */
    if (write(fd, line, (size_t)n) < 0) {
        perror("bench-agent: write stamp");
    }
    close(fd);
}

/* Blocks while the prompt's [wait-file=PATH] does not exist, polling every 10 ms like the fake
 * agents. Gives up (false) when PATH's directory is gone: the benchmark that held this agent
 * ended without releasing it, and an orphan must not poll forever. */
static bool
bench_hold(const char *prompt)
{
    const char *p = strstr(prompt, HOLD_DIRECTIVE);
    char path[4096], dir[4096];

    if (p == NULL) {
        return true;
    }
    p += strlen(HOLD_DIRECTIVE);
    size_t n = strcspn(p, "]");
    if (n >= sizeof path) {
        return true;
    }
    memcpy(path, p, n);
    path[n] = '\0';
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (slash != NULL) {
        *(slash == dir ? slash + 1 : slash) = '\0';
    } else {
        snprintf(dir, sizeof dir, ".");
    }
    while (access(path, F_OK) != 0) {
        if (access(dir, F_OK) != 0) {
            return false;
        }
        struct timespec pause = { .tv_sec = 0, .tv_nsec = 10 * 1000000 };
        nanosleep(&pause, NULL);
    }
    return true;
}

int
main(int argc, char **argv)
{
    bench_stamp("start");
    const char *task = getenv("BACKBEAT_TASK_ID");
    if (!bench_hold(argc > 1 ? argv[argc - 1] : "")) {
        fprintf(stderr, "bench-agent: the wait-file's directory is gone; giving up\n");
        return 1;
    }
    printf("{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"bench-%s\"}\n",
           task ? task : "none");
    printf("{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"ok\","
           "\"session_id\":\"bench-%s\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}\n",
           task ? task : "none");
    fflush(stdout);
    bench_stamp("exit");
    return 0;
}
