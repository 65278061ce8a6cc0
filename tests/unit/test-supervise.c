/* Tests for runtime/supervise.c: each case writes a spec.json into a temp task dir, runs
 * supervise_main() in a forked child (so this process is never the supervisor), waits for it
 * with a deadline and checks the files it leaves. The agents are /bin/sh command lines chosen
 * by the tests; the product itself never runs a shell. */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

/* cmocka needs setjmp.h, stdarg.h and stddef.h first. */
// clang-format off
#include <cmocka.h>
// clang-format on

#include "runtime/supervise.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/xmalloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

#define DEADLINE_MS 20000 /* generous: a slow CI machine must not fail a correct run */

/* Flags for sup_start: what the test process does to itself before becoming the supervisor. */
#define SUP_DIRTY_SIGNALS 0x1 /* ignore SIGUSR1 and SIGCHLD, block SIGUSR2 */
#define SUP_LEAK_FD       0x2 /* leave fd 50 open without CLOEXEC */
#define SUP_FSIZE_LIMIT   0x4 /* RLIMIT_FSIZE of 1000 bytes: log writes fail with EFBIG */

struct run {
    pid_t pid;
    int64_t started; /* monotonic ms */
    int64_t elapsed;
    int status;
};

static char *
tdir_new(void)
{
    const char *base = getenv("TMPDIR");
    char *tmpl = xasprintf("%s/beat-super-XXXXXX", base && base[0] ? base : "/tmp");
    assert_non_null(mkdtemp(tmpl));
    char *real = realpath(tmpl, NULL);
    assert_non_null(real);
    free(tmpl);
    return real;
}

static void
tdir_free(char *dir)
{
    struct err e;
    assert_int_equal(fs_remove_tree(dir, &e), 0);
    free(dir);
}

static char *
path_in(const char *dir, const char *name)
{
    return xasprintf("%s/%s", dir, name);
}

static bool
file_exists(const char *dir, const char *name)
{
    char *p = path_in(dir, name);
    bool ok = access(p, F_OK) == 0;
    free(p);
    return ok;
}

static char *
file_read(const char *dir, const char *name, size_t *len)
{
    char *p = path_in(dir, name);
    struct err e;
    char *data = fs_read_file(p, 256u << 20, len, &e);
    if (data == NULL) {
        fail_msg("%s", e.msg);
    }
    free(p);
    return data;
}

static void
file_write(const char *dir, const char *name, const void *data, size_t len)
{
    char *p = path_in(dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    free(p);
}

static json_t *
json_read(const char *dir, const char *name)
{
    char *p = path_in(dir, name);
    json_error_t je;
    json_t *v = json_load_file(p, 0, &je);
    if (v == NULL) {
        fail_msg("%s: %s", p, je.text);
    }
    free(p);
    return v;
}

/* A spec with sane defaults running argv (NULL-terminated) in dir. */
static json_t *
spec_argv(const char *dir, const char *const *argv)
{
    json_t *a = json_array();
    for (size_t i = 0; argv[i]; i++) {
        json_array_append_new(a, json_string(argv[i]));
    }
    return json_pack("{s:o, s:[s], s:s, s:i, s:i, s:i}", "argv", a, "env", "PATH=/usr/bin:/bin",
                     "cwd", dir, "timeoutMs", 20000, "maxOutput", 1 << 20, "graceMs", 2000);
}

static json_t *
spec_sh(const char *dir, const char *script)
{
    const char *argv[] = { "/bin/sh", "-c", script, NULL };
    return spec_argv(dir, argv);
}

/* Writes spec.json (and frees spec). */
static void
spec_write(const char *dir, json_t *spec)
{
    char *text = json_dumps(spec, JSON_COMPACT);
    file_write(dir, SUPERVISE_SPEC, text, strlen(text));
    free(text);
    json_decref(spec);
}

/* Writes this process's VmHWM (kB) to DIR/hwm, so the test can bound the supervisor's memory. */
static void
sup_record_hwm(const char *dir)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) {
            break;
        }
    }
    if (f) {
        fclose(f);
    }
    char *text = xasprintf("%ld", kb);
    file_write(dir, "hwm", text, strlen(text));
    free(text);
}

static void
sup_start(struct run *r, const char *dir, int flags)
{
    fflush(NULL);
    r->started = clock_mono_ms();
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        if (flags & SUP_DIRTY_SIGNALS) {
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, SIGUSR2);
            sigprocmask(SIG_BLOCK, &set, NULL);
            signal(SIGUSR1, SIG_IGN);
            signal(SIGCHLD, SIG_IGN);
        }
        if (flags & SUP_FSIZE_LIMIT) {
            struct rlimit rl = { .rlim_cur = 1000, .rlim_max = RLIM_INFINITY };
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        if (flags & SUP_LEAK_FD) {
            int fd = open("/dev/null", O_RDONLY);
            dup2(fd, 50);
            close(fd);
        }
        int rc = supervise_main(dir);
        sup_record_hwm(dir);
        exit(rc); /* exit, not _exit: LeakSanitizer checks the supervisor's memory */
    }
}

/* Waits for the supervisor with a deadline; kills it and fails the test when it hangs. */
static void
sup_wait(struct run *r, int expect_rc)
{
    int64_t end = clock_mono_ms() + DEADLINE_MS;
    for (;;) {
        pid_t p = waitpid(r->pid, &r->status, WNOHANG);
        if (p == r->pid) {
            break;
        }
        assert_int_equal(p, 0);
        if (clock_mono_ms() > end) {
            kill(r->pid, SIGKILL);
            waitpid(r->pid, &r->status, 0);
            fail_msg("supervisor did not finish within %d ms", DEADLINE_MS);
        }
        poll(NULL, 0, 5);
    }
    r->elapsed = clock_mono_ms() - r->started;
    if (!WIFEXITED(r->status)) {
        fail_msg("supervisor died by signal %d", WTERMSIG(r->status));
    }
    assert_int_equal(WEXITSTATUS(r->status), expect_rc);
}

/* Waits until DIR/name exists (the supervisor writes it atomically). */
/* Waits until stdout.log holds exactly want. */
static void
wait_output(const char *dir, const char *want)
{
    int64_t end = clock_mono_ms() + DEADLINE_MS;
    char *p = path_in(dir, SUPERVISE_STDOUT);
    for (;;) {
        struct err e;
        size_t len = 0;
        char *got = fs_read_file(p, 4096, &len, &e);
        bool done = got && len == strlen(want) && memcmp(got, want, len) == 0;
        free(got);
        if (done) {
            break;
        }
        if (clock_mono_ms() > end) {
            fail_msg("stdout never became \"%s\"", want);
        }
        poll(NULL, 0, 5);
    }
    free(p);
}

static void
wait_file(const char *dir, const char *name)
{
    int64_t end = clock_mono_ms() + DEADLINE_MS;
    while (!file_exists(dir, name)) {
        if (clock_mono_ms() > end) {
            fail_msg("%s never appeared", name);
        }
        poll(NULL, 0, 5);
    }
}

/* Runs the spec already written in dir to completion and returns exit.json. */
static json_t *
sup_run(const char *dir, struct run *r, int flags)
{
    sup_start(r, dir, flags);
    sup_wait(r, 0);
    assert_false(file_exists(dir, SUPERVISE_SPEC));
    return json_read(dir, SUPERVISE_EXIT);
}

static void
assert_end(const json_t *ex, const char *end)
{
    const char *got = json_string_value(json_object_get(ex, "end"));
    assert_non_null(got);
    if (strcmp(got, end) != 0) {
        char *text = json_dumps(ex, JSON_COMPACT);
        fail_msg("end is %s, want %s: %s", got, end, text);
    }
}

static void
assert_null_field(const json_t *ex, const char *key)
{
    const json_t *v = json_object_get(ex, key);
    assert_non_null(v);
    assert_true(json_is_null(v));
}

static int64_t
int_field(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) {
        fail_msg("%s is not an integer", key);
    }
    return json_integer_value(v);
}

static void
assert_file_eq(const char *dir, const char *name, const char *want)
{
    size_t len;
    char *got = file_read(dir, name, &len);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(got, want, len);
    free(got);
}

static void
test_exit_zero(void **state)
{
    (void)state;
    char *dir = tdir_new();
    struct run r;
    spec_write(dir, spec_sh(dir, "printf out1; printf err1 >&2; printf out2"));
    json_t *ex = sup_run(dir, &r, 0);
    assert_end(ex, "exited");
    assert_int_equal(int_field(ex, "exitCode"), 0);
    assert_null_field(ex, "signal");
    assert_null_field(ex, "error");
    assert_int_equal(int_field(ex, "stdoutBytes"), 8);
    assert_int_equal(int_field(ex, "stderrBytes"), 4);
    assert_int_equal(int_field(ex, "droppedBytes"), 0);
    assert_true(json_is_false(json_object_get(ex, "truncated")));
    assert_true(int_field(ex, "endedAt") > 0);
    assert_int_equal(json_object_size(ex), 9);
    assert_file_eq(dir, SUPERVISE_STDOUT, "out1out2");
    assert_file_eq(dir, SUPERVISE_STDERR, "err1");
    assert_true(file_exists(dir, SUPERVISE_AGENT));

    struct stat st;
    char *p = path_in(dir, SUPERVISE_STDOUT);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    free(p);
    p = path_in(dir, SUPERVISE_EXIT);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    free(p);
    json_decref(ex);
    tdir_free(dir);
}

static void
test_exit_code(void **state)
{
    (void)state;
    char *dir = tdir_new();
    struct run r;
    spec_write(dir, spec_sh(dir, "echo failing >&2; exit 3"));
    json_t *ex = sup_run(dir, &r, 0);
    assert_end(ex, "exited");
    assert_int_equal(int_field(ex, "exitCode"), 3);
    assert_null_field(ex, "signal");
    assert_file_eq(dir, SUPERVISE_STDERR, "failing\n");
    json_decref(ex);
    tdir_free(dir);
}

/* agent.json while the agent runs, then an outside SIGKILL: signaled, not exited. */
static void
test_agent_json_and_outside_kill(void **state)
{
    (void)state;
    char *dir = tdir_new();
    struct run r;
    int64_t before = clock_now_ms();
    spec_write(dir, spec_sh(dir, "echo ready; exec sleep 30"));
    sup_start(&r, dir, 0);
    wait_file(dir, SUPERVISE_AGENT);
    assert_false(file_exists(dir, SUPERVISE_SPEC));
    json_t *ag = json_read(dir, SUPERVISE_AGENT);
    int pid = (int)int_field(ag, "pid");
    int64_t start = int_field(ag, "procStart");
    int64_t actual = 0;
    assert_true(pid > 0);
    assert_int_equal(int_field(ag, "pgid"), pid);
    assert_int_equal(getpgid(pid), pid);
    assert_int_equal(int_field(ag, "supervisorPid"), r.pid);
    assert_true(int_field(ag, "startedAt") >= before);
    assert_true(int_field(ag, "startedAt") <= clock_now_ms());
    assert_int_equal(proc_start_time(pid, &actual), 0);
    assert_int_equal(actual, start);
    assert_true(start > 0);
    assert_true(proc_is_ours(pid, start));
    assert_false(proc_is_ours(pid, start + 1));
    assert_int_equal(proc_start_time(r.pid, &actual), 0);
    assert_int_equal(int_field(ag, "supervisorStart"), actual);
    assert_true(proc_is_ours(r.pid, actual));
    assert_int_equal(json_object_size(ag), 6);

    assert_int_equal(kill(pid, SIGKILL), 0);
    sup_wait(&r, 0);
    json_t *ex = json_read(dir, SUPERVISE_EXIT);
    assert_end(ex, "signaled");
    assert_null_field(ex, "exitCode");
    assert_int_equal(int_field(ex, "signal"), SIGKILL);
    assert_false(proc_is_ours(pid, start));
    json_decref(ex);
    json_decref(ag);
    tdir_free(dir);
}

/* The agent and its children ignore SIGTERM: only SIGKILL after the grace period ends it. */
static void
test_timeout_kill_after_grace(void **state)
{
    (void)state;
    char *dir = tdir_new();
    struct run r;
    json_t *spec = spec_sh(dir, "trap '' TERM; echo started; sleep 30; echo late");
    /* Long enough for the shell to set its trap before the timeout fires. */
    json_object_set_new(spec, "timeoutMs", json_integer(1000));
    json_object_set_new(spec, "graceMs", json_integer(300));
    spec_write(dir, spec);
    json_t *ex = sup_run(dir, &r, 0);
    assert_end(ex, "timeout");
    assert_null_field(ex, "exitCode");
    assert_int_equal(int_field(ex, "signal"), SIGKILL);
    assert_file_eq(dir, SUPERVISE_STDOUT, "started\n");
    assert_true(r.elapsed >= 1300);
    assert_true(r.elapsed < 10000);
    json_decref(ex);
    tdir_free(dir);
}

/* An agent that obeys SIGTERM ends at the timeout, without waiting for the grace period. */
static void
test_timeout_term(void **state)
{
    (void)state;
    char *dir = tdir_new();
    struct run r;
    const char *argv[] = { "/bin/sleep", "30", NULL };
    json_t *spec = spec_argv(dir, argv);
    json_object_set_new(spec, "timeoutMs", json_integer(200));
    json_object_set_new(spec, "graceMs", json_integer(15000));
    spec_write(dir, spec);
    json_t *ex = sup_run(dir, &r, 0);
    assert_end(ex, "timeout");
    assert_int_equal(int_field(ex, "signal"), SIGTERM);
    assert_true(r.elapsed >= 200);
    assert_true(r.elapsed < 10000);
    json_decref(ex);
    tdir_free(dir);
}

static void
test_cancel(void **state)
{
    (void)state;
    char *dir = tdir_new();
    struct run r;
    spec_write(dir, spec_sh(dir, "echo hi; exec sleep 30"));
    sup_start(&r, dir, 0);
    wait_file(dir, SUPERVISE_AGENT);
    json_t *ag = json_read(dir, SUPERVISE_AGENT);
    int pid = (int)int_field(ag, "pid");
    int64_t start = int_field(ag, "procStart");
    /* SIGHUP is ignored: the supervisor must survive it and still report the cancel. */
    assert_int_equal(kill(r.pid, SIGHUP), 0);
    assert_int_equal(kill(r.pid, SIGTERM), 0);
    sup_wait(&r, 0);
    json_t *ex = json_read(dir, SUPERVISE_EXIT);
    assert_end(ex, "cancelled");
    assert_int_equal(int_field(ex, "signal"), SIGTERM);
    assert_false(proc_is_ours(pid, start));
    json_decref(ex);
    json_decref(ag);
    tdir_free(dir);
}

/* Cancel (by SIGINT) of an agent that ignores SIGTERM: SIGKILL after grace, still cancelled. */
static void
test_cancel_stubborn(void **state)
{
    (void)state;
    char *dir = tdir_new();
    struct run r;
    json_t *spec = spec_sh(dir, "trap '' TERM; echo hi; sleep 30");
    json_object_set_new(spec, "graceMs", json_integer(300));
    spec_write(dir, spec);
    sup_start(&r, dir, 0);
    wait_output(dir, "hi\n"); /* printed after the trap is set */
    int64_t sent = clock_mono_ms();
    assert_int_equal(kill(r.pid, SIGINT), 0);
    sup_wait(&r, 0);
    assert_true(clock_mono_ms() - sent >= 300);
    json_t *ex = json_read(dir, SUPERVISE_EXIT);
    assert_end(ex, "cancelled");
    assert_int_equal(int_field(ex, "signal"), SIGKILL);
    json_decref(ex);
    tdir_free(dir);
}

/* 50 MB through a 1 MB cap: files capped, the rest counted, the supervisor's memory small. */
static void
test_max_output(void **state)
{
    (void)state;
    char *dir = tdir_new();
    struct run r;
    json_t *spec = spec_sh(dir, "head -c 25000000 /dev/zero & head -c 25000000 /dev/zero >&2; "
                                "wait");
    json_object_set_new(spec, "maxOutput", json_integer(1000000));
    spec_write(dir, spec);
    json_t *ex = sup_run(dir, &r, 0);
    assert_end(ex, "exited");
    assert_int_equal(int_field(ex, "exitCode"), 0);
    int64_t out = int_field(ex, "stdoutBytes"), err = int_field(ex, "stderrBytes");
    assert_int_equal(out + err, 1000000);
    assert_int_equal(int_field(ex, "droppedBytes"), 49000000);
    assert_true(json_is_true(json_object_get(ex, "truncated")));
    size_t len;
    char *data = file_read(dir, SUPERVISE_STDOUT, &len);
    assert_int_equal(len, out);
    free(data);
    data = file_read(dir, SUPERVISE_STDERR, &len);
    assert_int_equal(len, err);
    free(data);
#ifndef TEST_ASAN
    char *hwm = file_read(dir, "hwm", &len);
    long kb = strtol(hwm, NULL, 10);
    assert_true(kb > 0);
    if (kb >= 16 * 1024) {
        fail_msg("supervisor VmHWM %ld kB", kb);
    }
    free(hwm);
#endif
    json_decref(ex);
    tdir_free(dir);
}

/* A log write fails (file-size limit): the error is reported, the rest counted as dropped. */
static void
test_write_failure(void **state)
{
    (void)state;
    char *dir = tdir_new();
    struct run r;
    spec_write(dir, spec_sh(dir, "head -c 5000 /dev/zero; echo done >&2"));
    json_t *ex = sup_run(dir, &r, SUP_FSIZE_LIMIT);
    assert_end(ex, "exited");
    assert_int_equal(int_field(ex, "exitCode"), 0);
    assert_int_equal(int_field(ex, "stdoutBytes"), 1000);
    assert_int_equal(int_field(ex, "stderrBytes"), 5);
    assert_int_equal(int_field(ex, "droppedBytes"), 4000);
    assert_true(json_is_true(json_object_get(ex, "truncated")));
    assert_string_equal(json_string_value(json_object_get(ex, "error")),
                        "write stdout.log: File too large");
    assert_file_eq(dir, SUPERVISE_STDERR, "done\n");
    json_decref(ex);
    tdir_free(dir);
}

static void
test_missing_binary(void **state)
{
    (void)state;
    char *dir = tdir_new();
    struct run r;
    const char *argv[] = { "/nonexistent/beat-agent", "--x", NULL };
    spec_write(dir, spec_argv(dir, argv));
    json_t *ex = sup_run(dir, &r, 0);
    assert_end(ex, "spawn_error");
    assert_string_equal(json_string_value(json_object_get(ex, "error")),
                        "exec /nonexistent/beat-agent: No such file or directory");
    assert_null_field(ex, "exitCode");
    assert_null_field(ex, "signal");
    assert_false(file_exists(dir, SUPERVISE_AGENT));
    assert_true(file_exists(dir, SUPERVISE_STDOUT));
    json_decref(ex);
    tdir_free(dir);
}

static void
test_missing_cwd(void **state)
{
    (void)state;
    char *dir = tdir_new();
    struct run r;
    char *cwd = path_in(dir, "gone");
    json_t *spec = spec_sh(dir, "echo never");
    json_object_set_new(spec, "cwd", json_string(cwd));
    spec_write(dir, spec);
    json_t *ex = sup_run(dir, &r, 0);
    assert_end(ex, "spawn_error");
    char *want = xasprintf("chdir %s: No such file or directory", cwd);
    assert_string_equal(json_string_value(json_object_get(ex, "error")), want);
    assert_file_eq(dir, SUPERVISE_STDOUT, "");
    free(want);
    free(cwd);
    json_decref(ex);
    tdir_free(dir);
}

/* A grandchild keeps stdout open after the agent exits: the group's SIGTERM ends it. */
static void
test_grandchild_term(void **state)
{
    (void)state;
    char *dir = tdir_new();
    struct run r;
    json_t *spec = spec_sh(dir, "sleep 30 & echo parent-done");
    json_object_set_new(spec, "graceMs", json_integer(15000));
    spec_write(dir, spec);
    json_t *ex = sup_run(dir, &r, 0);
    assert_end(ex, "exited");
    assert_int_equal(int_field(ex, "exitCode"), 0);
    assert_file_eq(dir, SUPERVISE_STDOUT, "parent-done\n");
    assert_true(r.elapsed < 10000);
    json_decref(ex);
    tdir_free(dir);
}

/* The grandchild ignores SIGTERM: SIGKILL after grace, and it is really gone. */
static void
test_grandchild_kill(void **state)
{
    (void)state;
    char *dir = tdir_new();
    struct run r;
    /* The agent exits only once the grandchild ignores SIGTERM (g.ready), else the race is ours. */
    json_t *spec = spec_sh(dir, "(trap '' TERM; : >g.ready; exec sleep 30) & "
                                "while [ ! -e g.ready ]; do :; done; echo $!");
    json_object_set_new(spec, "graceMs", json_integer(300));
    spec_write(dir, spec);
    json_t *ex = sup_run(dir, &r, 0);
    assert_end(ex, "exited");
    assert_int_equal(int_field(ex, "exitCode"), 0);
    assert_true(r.elapsed >= 300);
    assert_true(r.elapsed < 10000);
    size_t len;
    char *out = file_read(dir, SUPERVISE_STDOUT, &len);
    int gpid = atoi(out);
    assert_true(gpid > 0);
    assert_false(proc_is_ours(gpid, 0));
    free(out);
    json_decref(ex);
    tdir_free(dir);
}

/* A grandchild that left the group (setsid) holds the pipe: we stop waiting after grace. */
static void
test_grandchild_escaped(void **state)
{
    (void)state;
    char *dir = tdir_new();
    struct run r;
    json_t *spec = spec_sh(dir, "setsid sh -c ': >g.ready; exec sleep 30' & "
                                "while [ ! -e g.ready ]; do :; done; echo $!");
    json_object_set_new(spec, "graceMs", json_integer(300));
    spec_write(dir, spec);
    json_t *ex = sup_run(dir, &r, 0);
    assert_end(ex, "exited");
    assert_int_equal(int_field(ex, "exitCode"), 0);
    assert_true(r.elapsed >= 300);
    assert_true(r.elapsed < 10000);
    size_t len;
    char *out = file_read(dir, SUPERVISE_STDOUT, &len);
    int gpid = atoi(out);
    assert_true(gpid > 0);
    kill(gpid, SIGKILL); /* out of our reach by design; the test cleans up after itself */
    free(out);
    json_decref(ex);
    tdir_free(dir);
}

static void
test_binary_output(void **state)
{
    (void)state;
    char *dir = tdir_new();
    struct run r;
    unsigned char data[1024 + 3];
    for (size_t i = 0; i < 1024; i++) {
        data[i] = (unsigned char)(i * 7);
    }
    memcpy(data + 1024, "\xff\xfe\x00", 3);
    file_write(dir, "bin.dat", data, sizeof(data));
    spec_write(dir, spec_sh(dir, "cat bin.dat; cat bin.dat >&2"));
    json_t *ex = sup_run(dir, &r, 0);
    assert_end(ex, "exited");
    for (int i = 0; i < 2; i++) {
        size_t len;
        char *got = file_read(dir, i == 0 ? SUPERVISE_STDOUT : SUPERVISE_STDERR, &len);
        assert_int_equal(len, sizeof(data));
        assert_memory_equal(got, data, sizeof(data));
        free(got);
    }
    assert_int_equal(int_field(ex, "stdoutBytes"), sizeof(data));
    json_decref(ex);
    tdir_free(dir);
}

static void
test_stdin_devnull(void **state)
{
    (void)state;
    char *dir = tdir_new();
    struct run r;
    const char *cat[] = { "/bin/cat", NULL };
    spec_write(dir, spec_argv(dir, cat));
    json_t *ex = sup_run(dir, &r, 0);
    assert_end(ex, "exited");
    assert_int_equal(int_field(ex, "exitCode"), 0);
    assert_int_equal(int_field(ex, "stdoutBytes"), 0);
    assert_true(r.elapsed < 10000);
    json_decref(ex);

    const char *link[] = { "/bin/readlink", "/proc/self/fd/0", NULL };
    spec_write(dir, spec_argv(dir, link));
    ex = sup_run(dir, &r, 0);
    assert_end(ex, "exited");
    assert_file_eq(dir, SUPERVISE_STDOUT, "/dev/null\n");
    json_decref(ex);
    tdir_free(dir);
}

/* The agent gets exactly the spec's env and cwd, no stray fd, default signal state. */
static void
test_environment(void **state)
{
    (void)state;
    char *dir = tdir_new();
    struct run r;
    char *sub = path_in(dir, "work");
    assert_int_equal(mkdir(sub, 0700), 0);

    const char *env[] = { "/usr/bin/env", NULL };
    json_t *spec = spec_argv(sub, env);
    json_object_set_new(spec, "env", json_pack("[s,s]", "FOO=bar", "X=1 2"));
    spec_write(dir, spec);
    json_t *ex = sup_run(dir, &r, 0);
    assert_end(ex, "exited");
    assert_file_eq(dir, SUPERVISE_STDOUT, "FOO=bar\nX=1 2\n");
    json_decref(ex);

    const char *pwd[] = { "/bin/pwd", "-P", NULL };
    spec_write(dir, spec_argv(sub, pwd));
    ex = sup_run(dir, &r, 0);
    char *want = xasprintf("%s\n", sub);
    assert_file_eq(dir, SUPERVISE_STDOUT, want);
    free(want);
    json_decref(ex);

    spec_write(dir,
               spec_sh(dir, "if [ -e /proc/$$/fd/50 ]; then echo leaked; else echo clean; fi"));
    ex = sup_run(dir, &r, SUP_LEAK_FD);
    assert_file_eq(dir, SUPERVISE_STDOUT, "clean\n");
    json_decref(ex);

    const char *status[] = { "/bin/grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL };
    spec_write(dir, spec_argv(dir, status));
    ex = sup_run(dir, &r, SUP_DIRTY_SIGNALS);
    assert_end(ex, "exited");
    assert_int_equal(int_field(ex, "exitCode"), 0);
    {
        /* Nothing blocked, nothing ignored: except the signals glibc reserves for itself
         * (32 and 33, below SIGRTMIN), whose disposition no glibc program can change; a
         * launcher outside our control may have left them ignored. */
        size_t len;
        char *got = file_read(dir, SUPERVISE_STDOUT, &len);
        unsigned long long blk = ~0ULL, ign = ~0ULL;
        assert_int_equal(sscanf(got, "SigBlk:\t%llx\nSigIgn:\t%llx", &blk, &ign), 2);
        unsigned long long reserved = (1ULL << 31) | (1ULL << 32);
        assert_int_equal(blk & ~reserved, 0);
        assert_int_equal(ign & ~reserved, 0);
        free(got);
    }
    json_decref(ex);
    free(sub);
    tdir_free(dir);
}

struct bad_spec {
    const char *text;
    const char *error; /* expected substring of exit.json's error */
};

static void
test_invalid_specs(void **state)
{
    (void)state;
    static const struct bad_spec cases[] = {
        { "not json", "spec.json: invalid JSON" },
        { "[]", "spec.json: must be a JSON object" },
        { "{\"env\":[],\"cwd\":\"/\",\"timeoutMs\":0,\"maxOutput\":0,\"graceMs\":0}",
          "argv: missing" },
        { "{\"argv\":[],\"env\":[],\"cwd\":\"/\",\"timeoutMs\":0,\"maxOutput\":0,\"graceMs\":0}",
          "argv: must not be empty" },
        { "{\"argv\":\"/bin/true\",\"env\":[],\"cwd\":\"/\",\"timeoutMs\":0,\"maxOutput\":0,"
          "\"graceMs\":0}",
          "argv: must be an array of strings" },
        { "{\"argv\":[\"true\"],\"env\":[],\"cwd\":\"/\",\"timeoutMs\":0,\"maxOutput\":0,"
          "\"graceMs\":0}",
          "argv[0]: must be an absolute path" },
        { "{\"argv\":[\"/bin/true\",3],\"env\":[],\"cwd\":\"/\",\"timeoutMs\":0,\"maxOutput\":0,"
          "\"graceMs\":0}",
          "argv[1]: must be a string" },
        { "{\"argv\":[\"/bin/true\",\"a\\u0000b\"],\"env\":[],\"cwd\":\"/\",\"timeoutMs\":0,"
          "\"maxOutput\":0,\"graceMs\":0}",
          "without NUL bytes" },
        { "{\"argv\":[\"/bin/true\"],\"env\":[\"A=1\",\"NOEQ\"],\"cwd\":\"/\",\"timeoutMs\":0,"
          "\"maxOutput\":0,\"graceMs\":0}",
          "env[1]: must be NAME=VALUE" },
        { "{\"argv\":[\"/bin/true\"],\"env\":[\"=x\"],\"cwd\":\"/\",\"timeoutMs\":0,"
          "\"maxOutput\":0,\"graceMs\":0}",
          "env[0]: must be NAME=VALUE" },
        { "{\"argv\":[\"/bin/true\"],\"cwd\":\"/\",\"timeoutMs\":0,\"maxOutput\":0,\"graceMs\":0}",
          "env: missing" },
        { "{\"argv\":[\"/bin/true\"],\"env\":[],\"cwd\":\"tmp\",\"timeoutMs\":0,\"maxOutput\":0,"
          "\"graceMs\":0}",
          "cwd: must be an absolute path" },
        { "{\"argv\":[\"/bin/true\"],\"env\":[],\"cwd\":\"/\",\"timeoutMs\":-1,\"maxOutput\":0,"
          "\"graceMs\":0}",
          "timeoutMs: must be an integer from 0 to" },
        { "{\"argv\":[\"/bin/true\"],\"env\":[],\"cwd\":\"/\",\"timeoutMs\":0,\"maxOutput\":\"1\","
          "\"graceMs\":0}",
          "maxOutput: must be an integer" },
        { "{\"argv\":[\"/bin/true\"],\"env\":[],\"cwd\":\"/\",\"timeoutMs\":0,\"maxOutput\":0,"
          "\"graceMs\":1.5}",
          "graceMs: must be an integer" },
        { "{\"argv\":[\"/bin/true\"],\"env\":[],\"cwd\":\"/\",\"timeoutMs\":0,\"maxOutput\":0}",
          "graceMs: missing" },
        { "{\"argv\":[\"/bin/true\"],\"env\":[],\"cwd\":\"/\",\"timeoutMs\":0,\"maxOutput\":0,"
          "\"graceMs\":0,\"bogus\":1}",
          "unknown field \"bogus\"" },
        { "{\"argv\":[\"/bin/true\"],\"argv\":[\"/bin/true\"],\"env\":[],\"cwd\":\"/\","
          "\"timeoutMs\":0,\"maxOutput\":0,\"graceMs\":0}",
          "spec.json: invalid JSON" },
    };
    char *dir = tdir_new();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct run r;
        file_write(dir, SUPERVISE_SPEC, cases[i].text, strlen(cases[i].text));
        json_t *ex = sup_run(dir, &r, 0);
        assert_end(ex, "spawn_error");
        const char *msg = json_string_value(json_object_get(ex, "error"));
        assert_non_null(msg);
        if (strstr(msg, cases[i].error) == NULL) {
            fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, msg, cases[i].error);
        }
        assert_false(file_exists(dir, SUPERVISE_AGENT));
        json_decref(ex);
    }

    /* Larger than 4 MiB: refused without being parsed, and still unlinked. */
    size_t big = (4u << 20) + 1;
    char *text = xmalloc(big);
    memset(text, ' ', big);
    file_write(dir, SUPERVISE_SPEC, text, big);
    free(text);
    struct run r;
    json_t *ex = sup_run(dir, &r, 0);
    assert_end(ex, "spawn_error");
    assert_non_null(strstr(json_string_value(json_object_get(ex, "error")), "larger than"));
    json_decref(ex);
    tdir_free(dir);
}

/* No spec.json: nothing to supervise, and an existing exit.json must not be overwritten. */
static void
test_missing_spec(void **state)
{
    (void)state;
    char *dir = tdir_new();
    struct run r;
    file_write(dir, SUPERVISE_EXIT, "{}", 2);
    sup_start(&r, dir, 0);
    sup_wait(&r, 1);
    assert_file_eq(dir, SUPERVISE_EXIT, "{}");
    tdir_free(dir);
}

static void
test_proc_is_ours(void **state)
{
    (void)state;
    int64_t self = 0;
    assert_int_equal(proc_start_time(getpid(), &self), 0);
    assert_true(self > 0);
    assert_true(proc_is_ours(getpid(), self));
    assert_true(proc_is_ours(getpid(), 0));
    assert_false(proc_is_ours(getpid(), self + 1));
    assert_false(proc_is_ours(0, 0));
    assert_false(proc_is_ours(-1, 0));
    assert_int_equal(proc_start_time(-5, &self), -1);

    /* A child renames itself to a name full of ") (" and still reads the same start time. */
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int64_t before = 0, after = 0;
        close(pipefd[0]);
        proc_start_time(getpid(), &before);
        prctl(PR_SET_NAME, "a) 1 2 (b) x");
        int ok = proc_start_time(getpid(), &after) == 0 && after == before && before > 0;
        char c = ok ? 'y' : 'n';
        if (write(pipefd[1], &c, 1) != 1) {
            _exit(2);
        }
        _exit(0);
    }
    close(pipefd[1]);
    char c = 0;
    assert_int_equal(read(pipefd[0], &c, 1), 1);
    close(pipefd[0]);
    assert_int_equal(c, 'y');
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    /* Dead and reaped: not ours, whatever start time we remembered. */
    assert_false(proc_is_ours(pid, 0));
    assert_int_equal(proc_start_time(pid, &self), -1);
}

/* A zombie (exited, not yet reaped) is not a live agent. */
static void
test_proc_zombie(void **state)
{
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(0);
    }
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
    int64_t start = 0;
    assert_int_equal(proc_start_time(pid, &start), 0);
    assert_false(proc_is_ours(pid, start));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_zero),
        cmocka_unit_test(test_exit_code),
        cmocka_unit_test(test_agent_json_and_outside_kill),
        cmocka_unit_test(test_timeout_kill_after_grace),
        cmocka_unit_test(test_timeout_term),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_cancel_stubborn),
        cmocka_unit_test(test_max_output),
        cmocka_unit_test(test_write_failure),
        cmocka_unit_test(test_missing_binary),
        cmocka_unit_test(test_missing_cwd),
        cmocka_unit_test(test_grandchild_term),
        cmocka_unit_test(test_grandchild_kill),
        cmocka_unit_test(test_grandchild_escaped),
        cmocka_unit_test(test_binary_output),
        cmocka_unit_test(test_stdin_devnull),
        cmocka_unit_test(test_environment),
        cmocka_unit_test(test_invalid_specs),
        cmocka_unit_test(test_missing_spec),
        cmocka_unit_test(test_proc_is_ours),
        cmocka_unit_test(test_proc_zombie),
    };
    if (getenv("TEST_FILTER")) {
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
