/* Unit tests for rt_run_capture in runtime/rt.c: output and exit status of a short command, the
 * byte bound, the timeout (the whole process group is killed), the environment given, a program
 * that does not exist (no callback), cancellation (no callback, child reaped) and a command that
 * leaves something holding its pipes. Every test runs its own loop and closes it cleanly. */
#include <sys/stat.h>

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

/* cmocka needs setjmp.h, stdarg.h and stddef.h first. */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include "runtime/rt.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/xmalloc.h"

struct fixture {
    uv_loop_t loop;
    struct rt *rt;
    char *dir;
};

/* What a callback saw, copied out of the borrowed result. */
struct seen {
    int calls;
    struct rt_capture_result res;
    char *out, *err;
};

static int
setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof *fx);
    const char *tmp = getenv("TMPDIR");
    uv_loop_init(&fx->loop);
    fx->rt = rt_new(&fx->loop);
    fx->dir = xasprintf("%s/beat-test-capture-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(fx->dir) == NULL) {
        return -1;
    }
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fx = *state;
    rt_free(fx->rt);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    fs_remove_tree(fx->dir, NULL);
    free(fx->dir);
    free(fx);
    return 0;
}

static void
capture_cb(void *arg, const struct rt_capture_result *res)
{
    struct seen *s = arg;
    s->calls++;
    s->res = *res;
    s->out = xstrdup(res->out);
    s->err = xstrdup(res->err);
    s->res.out = s->res.err = NULL;
    assert_int_equal(strlen(s->out), res->out_len);
}

static void
seen_fini(struct seen *s)
{
    free(s->out);
    free(s->err);
}

/* Runs the loop until nothing is left, and fails when that takes longer than ms. */
static void
run_loop(struct fixture *fx, int64_t ms)
{
    int64_t t0 = clock_mono_ms();
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_true(clock_mono_ms() - t0 < ms);
}

static void
test_output_and_status(void **state)
{
    struct fixture *fx = *state;
    struct seen s = { 0 };
    char *argv[] = { "/bin/sh", "-c", "echo hello; echo oops >&2; printf 'x=%s' \"$X\"; exit 3",
                     NULL };
    char *envp[] = { "X=42", NULL };
    struct err e = { 0 };
    struct rt_capture *c = rt_run_capture(fx->rt, argv, envp, 5000, 1024, capture_cb, &s, &e);
    assert_non_null(c);
    run_loop(fx, 5000);
    assert_int_equal(s.calls, 1);
    assert_string_equal(s.out, "hello\nx=42");
    assert_string_equal(s.err, "oops\n");
    assert_int_equal(s.res.exit_status, 3);
    assert_int_equal(s.res.term_signal, 0);
    assert_false(s.res.timed_out);
    assert_false(s.res.truncated);
    seen_fini(&s);

    /* No environment at all when envp is NULL (not the daemon's). */
    struct seen s2 = { 0 };
    char *argv2[] = { "/bin/sh", "-c", "echo \"[$HOME][$PATH]\"", NULL };
    assert_non_null(rt_run_capture(fx->rt, argv2, NULL, 5000, 1024, capture_cb, &s2, &e));
    run_loop(fx, 5000);
    assert_int_equal(s2.calls, 1);
    assert_int_equal(s2.res.exit_status, 0);
    assert_true(strncmp(s2.out, "[][", 3) == 0); /* sh may set its own default PATH */
    seen_fini(&s2);
}

static void
test_bounded(void **state)
{
    struct fixture *fx = *state;
    struct seen s = { 0 };
    /* 1 MiB on stdout: 100 bytes kept, the rest read and dropped, so the child never blocks. */
    char *argv[] = { "/bin/sh", "-c", "head -c 1048576 /dev/zero | tr '\\0' y; echo done >&2",
                     NULL };
    struct err e = { 0 };
    assert_non_null(rt_run_capture(fx->rt, argv, NULL, 10000, 100, capture_cb, &s, &e));
    run_loop(fx, 10000);
    assert_int_equal(s.calls, 1);
    assert_int_equal(strlen(s.out), 100);
    assert_true(s.res.truncated);
    assert_int_equal(s.res.exit_status, 0);
    assert_string_equal(s.err, "done\n");
    seen_fini(&s);
}

static void
test_timeout_kills_group(void **state)
{
    struct fixture *fx = *state;
    struct seen s = { 0 };
    char *pidfile = xasprintf("%s/child.pid", fx->dir);
    char *script = xasprintf("sleep 30 & echo $! > %s; echo started; wait", pidfile);
    char *argv[] = { "/bin/sh", "-c", script, NULL };
    struct err e = { 0 };
    assert_non_null(rt_run_capture(fx->rt, argv, NULL, 300, 1024, capture_cb, &s, &e));
    run_loop(fx, 5000);
    assert_int_equal(s.calls, 1);
    assert_true(s.res.timed_out);
    assert_int_equal(s.res.term_signal, SIGKILL);
    assert_int_equal(s.res.exit_status, -1);
    assert_string_equal(s.out, "started\n");
    /* The background sleep was in the group: it is gone too (reaped by init eventually, so
     * wait for it with a deadline rather than expecting it at once). */
    size_t len;
    char *text = fs_read_file(pidfile, 64, &len, NULL);
    assert_non_null(text);
    pid_t child = (pid_t)atoi(text);
    assert_true(child > 0);
    int64_t deadline = clock_mono_ms() + 5000;
    bool gone = false;
    while (!gone && clock_mono_ms() < deadline) {
        char stat_path[64];
        snprintf(stat_path, sizeof stat_path, "/proc/%d/stat", (int)child);
        char *st = fs_read_file(stat_path, 4096, &len, NULL);
        gone = st == NULL || strstr(st, ") Z ") != NULL; /* reaped, or dead and not yet reaped */
        free(st);
        if (!gone) {
            usleep(10000);
        }
    }
    assert_true(gone);
    free(text);
    free(script);
    free(pidfile);
    seen_fini(&s);
}

/* A process outside the group holding the pipes does not keep the capture waiting past its
 * timeout once the command itself has exited. */
static void
test_exit_with_pipes_held(void **state)
{
    struct fixture *fx = *state;
    struct seen s = { 0 };
    char *argv[] = { "/bin/sh", "-c", "setsid sleep 30 & echo $!", NULL };
    struct err e = { 0 };
    assert_non_null(rt_run_capture(fx->rt, argv, NULL, 300, 1024, capture_cb, &s, &e));
    run_loop(fx, 5000);
    assert_int_equal(s.calls, 1);
    assert_false(s.res.timed_out);
    assert_int_equal(s.res.exit_status, 0);
    pid_t held = (pid_t)atoi(s.out);
    assert_true(held > 0);
    kill(held, SIGKILL); /* the one we left behind on purpose */
    seen_fini(&s);
}

static void
test_missing_program(void **state)
{
    struct fixture *fx = *state;
    struct seen s = { 0 };
    char *argv[] = { "/no/such/program", "--version", NULL };
    struct err e = { 0 };
    assert_null(rt_run_capture(fx->rt, argv, NULL, 1000, 1024, capture_cb, &s, &e));
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_non_null(strstr(e.msg, "/no/such/program"));
    run_loop(fx, 5000);
    assert_int_equal(s.calls, 0);

    /* Not executable: an error too, never a callback. */
    char *path = xasprintf("%s/plain", fx->dir);
    assert_int_equal(fs_write_atomic(path, "x", 1, 0600, &e), 0);
    char *argv2[] = { path, NULL };
    assert_null(rt_run_capture(fx->rt, argv2, NULL, 1000, 1024, capture_cb, &s, &e));
    assert_int_equal(e.code, ERR_IO);
    run_loop(fx, 5000);
    assert_int_equal(s.calls, 0);
    free(path);
}

static void
test_cancel(void **state)
{
    struct fixture *fx = *state;
    struct seen s = { 0 };
    char *argv[] = { "/bin/sh", "-c", "echo $$; exec sleep 30", NULL };
    struct err e = { 0 };
    struct rt_capture *c = rt_run_capture(fx->rt, argv, NULL, 30000, 1024, capture_cb, &s, &e);
    assert_non_null(c);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    rt_capture_cancel(c);
    run_loop(fx, 5000); /* the loop ends: the child was killed and reaped */
    assert_int_equal(s.calls, 0);
    rt_capture_cancel(NULL);

    /* Cancel right away, before the loop ever ran. */
    c = rt_run_capture(fx->rt, argv, NULL, 30000, 1024, capture_cb, &s, &e);
    assert_non_null(c);
    rt_capture_cancel(c);
    run_loop(fx, 5000);
    assert_int_equal(s.calls, 0);
}

/* Many at once, as ListAgents does: each reports once. */
static void
test_parallel(void **state)
{
    struct fixture *fx = *state;
    struct seen s[8] = { 0 };
    struct err e = { 0 };
    for (int i = 0; i < 8; i++) {
        char *script = xasprintf("echo %d", i);
        char *argv[] = { "/bin/sh", "-c", script, NULL };
        assert_non_null(rt_run_capture(fx->rt, argv, NULL, 5000, 64, capture_cb, &s[i], &e));
        free(script);
    }
    run_loop(fx, 5000);
    for (int i = 0; i < 8; i++) {
        char want[8];
        snprintf(want, sizeof want, "%d\n", i);
        assert_int_equal(s[i].calls, 1);
        assert_string_equal(s[i].out, want);
        seen_fini(&s[i]);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_output_and_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_kills_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exit_with_pipes_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_program, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
