/* Tests for core/resources.c: reading recorded /proc samples (tests/fixtures/proc), the CPU
 * delta, agent footprints, admission decisions with their reasons, the projection of agents
 * still settling, cost learning, and the start-up recovery decision. No clock is read: every
 * time is a parameter. */
#include <sys/stat.h>

#include <setjmp.h>
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

#include "core/resources.h"
#include "util/fsutil.h"
#include "util/xmalloc.h"

#define MIB  (1024LL * 1024)
#define GIB  (1024LL * MIB)
#define PAGE 4096

static const char *
fixtures(void)
{
    const char *f = getenv("BEAT_FIXTURES");
    return f && *f ? f : "tests/fixtures";
}

/* A new empty directory under $TMPDIR; caller frees (after removing the tree). */
static char *
temp_dir(void)
{
    const char *t = getenv("TMPDIR");
    char *tmpl = xasprintf("%s/test-resources-XXXXXX", t && *t ? t : "/tmp");
    assert_non_null(mkdtemp(tmpl));
    return tmpl;
}

static char *
proc_dir(const char *name)
{
    return xasprintf("%s/proc/%s", fixtures(), name);
}

/* Reads fixture name at time now for the given pgids into r. */
static void
feed(struct resources *r, const char *name, int64_t now, const struct resources_agent *agents,
     size_t n)
{
    struct resources_raw raw;
    struct err e;
    int pgids[8];
    size_t np = 0;
    char *dir = proc_dir(name);
    for (size_t i = 0; i < n && np < 8; i++) {
        if (agents[i].pgid > 0) {
            pgids[np++] = agents[i].pgid;
        }
    }
    assert_int_equal(resources_read(dir, pgids, np, now, &raw, &e), 0);
    resources_update(r, &raw, agents, n);
    resources_raw_fini(&raw);
    free(dir);
}

static struct resources_agent
agent(const char *id, const char *type, int pgid, int64_t started)
{
    struct resources_agent a;
    memset(&a, 0, sizeof a);
    snprintf(a.id, sizeof a.id, "%s", id);
    snprintf(a.type, sizeof a.type, "%s", type);
    a.pgid = pgid;
    a.started_ms = started;
    return a;
}

static const struct resources_settings defaults = {
    .max_workers = 16,
    .cpu_threshold = 90,
    .memory_reserve = 1 * GIB,
    .cpu_cores_reserved = 0,
};

/* ---- reading ---- */

static void
test_read_idle(void **state)
{
    (void)state;
    struct resources_raw raw;
    struct err e;
    int pgids[] = { 4242, 777 };
    char *dir = proc_dir("idle-t0");
    assert_int_equal(resources_read(dir, pgids, 2, 5, &raw, &e), 0);
    assert_int_equal(raw.at_ms, 5);
    assert_int_equal(raw.ncpu, 2);
    assert_int_equal(raw.cpu_total, 96000);
    assert_int_equal(raw.cpu_busy, 15000);
    assert_true(raw.load1 > 0.09 && raw.load1 < 0.11);
    assert_int_equal(raw.mem_total, 4 * GIB);
    assert_int_equal(raw.mem_available, 3670016LL * 1024);
    assert_true(raw.has_psi_cpu && raw.has_psi_memory);
    assert_true(raw.psi_cpu_some10 > 0.99 && raw.psi_cpu_some10 < 1.01);
    assert_int_equal(raw.ngroups, 2);
    /* node and bash; the zombie and the unrelated process do not count. */
    assert_int_equal(raw.groups[0].pgid, 4242);
    assert_int_equal(raw.groups[0].nprocs, 2);
    assert_int_equal(raw.groups[0].rss_pages, 76800 + 2560);
    assert_int_equal(raw.groups[0].ticks, 50 + 10 + 3 + 1 + 2);
    assert_int_equal(raw.groups[1].pgid, 777);
    assert_int_equal(raw.groups[1].nprocs, 0);
    resources_raw_fini(&raw);
    free(dir);
}

static void
test_read_recorded(void **state)
{
    (void)state;
    struct resources *r = resources_new(PAGE, 100);
    struct resources_agent a = agent("task-a", "claude", 27987, 0);
    feed(r, "recorded-t0", 1000, &a, 1);
    feed(r, "recorded-t1", 2000, &a, 1);
    const struct resources_machine *m = resources_machine(r);
    assert_int_equal(m->ncpu, 2);
    assert_false(m->cpu_from_load);
    assert_true(m->cpu_percent >= 0 && m->cpu_percent <= 100);
    assert_true(m->mem_available > 0 && m->mem_available <= m->mem_total);
    const struct resources_agent *got = resources_agent_find(r, "task-a");
    assert_non_null(got);
    assert_true(got->measured);
    assert_int_equal(got->nprocs, 1);
    assert_int_equal(got->rss, 4021LL * PAGE); /* field 24 of the recorded stat line */
    assert_true(got->cpu_known);
    resources_free(r);
}

static void
test_read_missing(void **state)
{
    (void)state;
    struct resources_raw raw;
    struct err e;
    char *dir = proc_dir("no-such-dir");
    assert_int_equal(resources_read(dir, NULL, 0, 0, &raw, &e), -1);
    assert_int_equal(e.code, ERR_IO);
    resources_raw_fini(&raw);
    free(dir);
}

/* A kernel without PSI and a meminfo without MemAvailable still give a usable sample. */
static void
test_read_old_kernel(void **state)
{
    (void)state;
    char *dir = temp_dir();
    struct err e;
    struct resources_raw raw;
    char *p = xasprintf("%s/stat", dir);
    const char *stat = "cpu  1 2 3 4\ncpu0 1 2 3 4\n";
    assert_int_equal(fs_write_atomic(p, stat, strlen(stat), 0600, &e), 0);
    free(p);
    p = xasprintf("%s/meminfo", dir);
    const char *mem = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 20 kB\nCached: 300 kB\n";
    assert_int_equal(fs_write_atomic(p, mem, strlen(mem), 0600, &e), 0);
    free(p);
    assert_int_equal(resources_read(dir, NULL, 0, 0, &raw, &e), 0);
    assert_int_equal(raw.ncpu, 1);
    assert_int_equal(raw.cpu_total, 10);
    assert_int_equal(raw.cpu_busy, 6);
    assert_int_equal(raw.mem_available, 420 * 1024);
    assert_false(raw.has_psi_cpu);
    assert_false(raw.has_psi_memory);
    assert_true(raw.load1 < 0);
    resources_raw_fini(&raw);
    assert_int_equal(fs_remove_tree(dir, &e), 0);
    free(dir);
}

/* ---- machine and agent figures ---- */

static void
test_cpu_delta(void **state)
{
    (void)state;
    struct resources *r = resources_new(PAGE, 100);
    feed(r, "idle-t0", 1000, NULL, 0);
    /* One reading: the load average stands in (0.10 over 2 CPUs). */
    assert_true(resources_machine(r)->cpu_from_load);
    assert_true(resources_machine(r)->cpu_percent > 4.99 &&
                resources_machine(r)->cpu_percent < 5.01);
    feed(r, "busy-t1", 2000, NULL, 0);
    assert_false(resources_machine(r)->cpu_from_load);
    assert_true(resources_machine(r)->cpu_percent > 94.99 &&
                resources_machine(r)->cpu_percent < 95.01);
    resources_free(r);

    r = resources_new(PAGE, 100);
    feed(r, "idle-t0", 1000, NULL, 0);
    feed(r, "idle-t1", 2000, NULL, 0);
    assert_true(resources_machine(r)->cpu_percent > 4.99 &&
                resources_machine(r)->cpu_percent < 5.01);
    /* The same counters again: too few ticks for a new figure, the last one stays. */
    feed(r, "idle-t1", 2100, NULL, 0);
    assert_true(resources_machine(r)->cpu_percent > 4.99 &&
                resources_machine(r)->cpu_percent < 5.01);
    resources_free(r);
}

static void
test_agent_footprint(void **state)
{
    (void)state;
    struct resources *r = resources_new(PAGE, 100);
    struct resources_agent a[] = { agent("task-a", "claude", 4242, 0),
                                   agent("task-b", "codex", 0, 900) };
    feed(r, "idle-t0", 1000, a, 2);
    const struct resources_agent *got = resources_agent_find(r, "task-a");
    assert_true(got->measured);
    assert_false(got->cpu_known); /* one reading: no CPU delta yet */
    assert_int_equal(got->rss, (76800LL + 2560) * PAGE);
    feed(r, "idle-t1", 2000, a, 2);
    got = resources_agent_find(r, "task-a");
    assert_true(got->cpu_known);
    assert_int_equal(got->nprocs, 2);
    assert_int_equal(got->rss, (78080LL + 2560) * PAGE);
    /* 8 ticks of 10 ms in one second: 8% of a core. */
    assert_true(got->cpu_percent > 7.99 && got->cpu_percent < 8.01);
    got = resources_agent_find(r, "task-b");
    assert_false(got->measured); /* its pgid is not known yet */
    assert_null(resources_agent_find(r, "task-c"));

    /* A sync keeps what was measured; dropping an agent forgets it. */
    resources_sync(r, a, 1);
    assert_true(resources_agent_find(r, "task-a")->cpu_known);
    assert_null(resources_agent_find(r, "task-b"));
    json_t *j = resources_agent_json(r, "task-a", 2000);
    assert_int_equal(json_integer_value(json_object_get(j, "rss")), (78080LL + 2560) * PAGE);
    assert_true(json_is_true(json_object_get(j, "settling")));
    json_decref(j);
    j = resources_agent_json(r, "task-a", 9000);
    assert_true(json_is_false(json_object_get(j, "settling")));
    json_decref(j);
    resources_free(r);
}

/* ---- decisions ---- */

static void
test_decide_memory(void **state)
{
    (void)state;
    struct resources *r = resources_new(PAGE, 100);
    struct resources_settings s = defaults;
    char *why = NULL;
    feed(r, "lowmem", 1000, NULL, 0);
    s.memory_reserve = 2560 * MIB;
    assert_false(resources_decide(r, &s, "claude", 1000, &why));
    assert_string_equal(why,
                        "memory: 1.1 GiB available, 2.5 GiB reserve, 400 MiB per claude agent");
    free(why);
    /* The reserve alone would fit; the agent's own expected use would not. */
    s.memory_reserve = 900 * MIB;
    assert_false(resources_decide(r, &s, "claude", 1000, &why));
    free(why);
    s.memory_reserve = 600 * MIB;
    assert_true(resources_decide(r, &s, "claude", 1000, &why));
    assert_null(why);
    /* No pressure files: no pressure check, and the JSON says so. */
    json_t *j = resources_json(r, 1000);
    assert_true(json_is_null(json_object_get(j, "pressure")));
    json_decref(j);
    resources_free(r);
}

static void
test_decide_workers(void **state)
{
    (void)state;
    struct resources *r = resources_new(PAGE, 100);
    struct resources_settings s = defaults;
    struct resources_agent a[] = { agent("task-a", "claude", 11, 0),
                                   agent("task-b", "claude", 12, 0) };
    char *why = NULL;
    feed(r, "idle-t0", 100000, a, 2);
    s.max_workers = 2;
    assert_false(resources_decide(r, &s, "claude", 100000, &why));
    assert_string_equal(why, "workers: 2 running, maxWorkers 2");
    free(why);
    s.max_workers = 3;
    assert_true(resources_decide(r, &s, "claude", 100000, &why));
    resources_free(r);
}

static void
test_decide_cpu(void **state)
{
    (void)state;
    struct resources *r = resources_new(PAGE, 100);
    struct resources_settings s = defaults;
    struct resources_agent a = agent("task-a", "claude", 4242, 0);
    char *why = NULL;
    feed(r, "idle-t0", 100000, NULL, 0);
    feed(r, "busy-t1", 101000, NULL, 0);
    /* 95% busy, but none of ours runs: the first agent starts anyway. */
    assert_true(resources_decide(r, &s, "claude", 101000, &why));
    resources_sync(r, &a, 1);
    assert_false(resources_decide(r, &s, "claude", 101000, &why));
    assert_string_equal(why, "cpu: 1.9 of 2 cores busy, +0.10 per claude agent, limit 1.8 "
                             "(cpuThreshold 90%, 0 cores reserved)");
    free(why);
    /* 100 turns the CPU checks off. */
    s.cpu_threshold = 100;
    assert_true(resources_decide(r, &s, "claude", 101000, &why));
    /* Reserving every core still leaves one usable: 1 * 90% = 0.9 of a core. */
    s.cpu_threshold = 90;
    s.cpu_cores_reserved = 8;
    assert_false(resources_decide(r, &s, "claude", 101000, &why));
    assert_non_null(strstr(why, "limit 0.9 (cpuThreshold 90%, 8 cores reserved)"));
    free(why);
    resources_free(r);

    /* An idle machine: fine. */
    r = resources_new(PAGE, 100);
    s = defaults;
    feed(r, "idle-t0", 100000, &a, 1);
    feed(r, "idle-t1", 101000, &a, 1);
    assert_true(resources_decide(r, &s, "claude", 101000, &why));
    resources_free(r);
}

static void
test_decide_pressure(void **state)
{
    (void)state;
    struct resources *r = resources_new(PAGE, 100);
    char *why = NULL;
    feed(r, "psi-memory", 1000, NULL, 0);
    assert_false(resources_decide(r, &defaults, "claude", 1000, &why));
    assert_string_equal(why, "memory pressure: tasks stalled on memory 25% of the last 10 s "
                             "(limit 10%)");
    free(why);
    json_t *j = resources_json(r, 1500);
    json_t *p = json_object_get(j, "pressure");
    assert_true(json_number_value(json_object_get(p, "memorySome10")) > 24.9);
    assert_true(json_number_value(json_object_get(p, "memoryFull10")) > 8.4);
    assert_int_equal(json_integer_value(json_object_get(j, "sampleAgeMs")), 500);
    json_decref(j);
    resources_free(r);
}

/* A fresh resources with nothing read never blocks on figures it does not have. */
static void
test_decide_unknown(void **state)
{
    (void)state;
    struct resources *r = resources_new(PAGE, 100);
    struct resources_agent a = agent("task-a", "claude", 0, 0);
    char *why = NULL;
    resources_sync(r, &a, 1);
    assert_true(resources_decide(r, &defaults, "claude", 0, &why));
    assert_null(why);
    resources_free(r);
}

/* Agents just started count at their type's cost until they settle, so a burst is bounded
 * before any measurement: 3.5 GiB available, 1 GiB reserve, 400 MiB each -> 6 fit. */
static void
test_projection_burst(void **state)
{
    (void)state;
    struct resources *r = resources_new(PAGE, 100);
    struct resources_agent a[16];
    size_t n = 0;
    char *why = NULL;
    feed(r, "idle-t0", 50000, NULL, 0);
    for (;;) {
        if (!resources_decide(r, &defaults, "claude", 50000, &why)) {
            break;
        }
        char id[16];
        snprintf(id, sizeof id, "task-%zu", n);
        a[n] = agent(id, "claude", 0, 50000);
        n++;
        resources_sync(r, a, n);
        assert_true(n < 16);
    }
    assert_int_equal(n, 6);
    assert_string_equal(why, "memory: 3.5 GiB available, 1.0 GiB reserve, 400 MiB per claude "
                             "agent, 2.3 GiB more for 6 starting");
    free(why);

    /* Once they have settled (pgid known, older than the settling time), only what the
     * machine measures counts: the same 3.5 GiB admits more. */
    for (size_t i = 0; i < n; i++) {
        a[i].pgid = 9000 + (int)i;
        a[i].started_ms = 50000 - RESOURCES_SETTLE_MS;
    }
    resources_sync(r, a, n);
    assert_true(resources_decide(r, &defaults, "claude", 50000, &why));
    resources_free(r);
}

/* A settling agent already measured at 310 MiB owes only the rest of its 400 MiB. */
static void
test_projection_measured(void **state)
{
    (void)state;
    struct resources *r = resources_new(PAGE, 100);
    struct resources_agent a = agent("task-a", "claude", 4242, 1000);
    struct resources_settings s = defaults;
    char *why = NULL;
    feed(r, "idle-t0", 1000, &a, 1);
    /* 3584 MiB - (400 - 310) MiB - 400 MiB = 3094 MiB: a reserve of 3095 MiB is one too many. */
    s.memory_reserve = 3094 * MIB;
    assert_true(resources_decide(r, &s, "claude", 1000, &why));
    s.memory_reserve = 3095 * MIB;
    assert_false(resources_decide(r, &s, "claude", 1000, &why));
    assert_non_null(strstr(why, "90 MiB more for 1 starting"));
    free(why);
    resources_free(r);
}

static void
test_learning(void **state)
{
    (void)state;
    struct resources *r = resources_new(PAGE, 100);
    struct resources_cost c = resources_cost_of(r, "claude");
    assert_int_equal(c.samples, 0);
    assert_int_equal((int64_t)c.rss, RESOURCES_PRIOR_RSS);
    assert_true(c.cpu_percent > RESOURCES_PRIOR_CPU - 0.01);

    /* Still settling (started at 0, read at 1 s and 2 s): measured, not learned. */
    struct resources_agent young = agent("task-y", "gemini", 4242, 0);
    feed(r, "idle-t0", 1000, &young, 1);
    feed(r, "idle-t1", 2000, &young, 1);
    assert_true(resources_agent_find(r, "task-y")->cpu_known);
    assert_int_equal(resources_cost_of(r, "gemini").samples, 0);
    resources_free(r);

    /* Settled long ago: the first reading with a CPU delta replaces the prior outright. */
    r = resources_new(PAGE, 100);
    struct resources_agent old = agent("task-o", "claude", 4242, -60000);
    feed(r, "idle-t0", 1000, &old, 1);
    assert_int_equal(resources_cost_of(r, "claude").samples, 0); /* no CPU delta yet */
    feed(r, "idle-t1", 2000, &old, 1);
    c = resources_cost_of(r, "claude");
    assert_int_equal(c.samples, 1);
    assert_int_equal((int64_t)c.rss, (78080LL + 2560) * PAGE);
    assert_true(c.cpu_percent > 7.99 && c.cpu_percent < 8.01);
    assert_int_equal(resources_cost_of(r, "codex").samples, 0); /* other types keep the prior */
    /* The next reading (same RSS, no CPU since: counted as the 1% floor) moves the average a
     * fifth of the way: 8 + 0.2 * (1 - 8) = 6.6. */
    feed(r, "idle-t1", 3000, &old, 1);
    c = resources_cost_of(r, "claude");
    assert_int_equal(c.samples, 2);
    assert_int_equal((int64_t)c.rss, (78080LL + 2560) * PAGE);
    assert_true(c.cpu_percent > 6.59 && c.cpu_percent < 6.61);
    json_t *j = resources_json(r, 3000);
    json_t *costs = json_object_get(j, "costs");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(costs, "claude"), "samples")), 2);
    assert_null(json_object_get(costs, "codex"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "assumedCost"), "rss")),
                     RESOURCES_PRIOR_RSS);
    json_decref(j);
    resources_free(r);
}

static void
test_format_bytes(void **state)
{
    (void)state;
    char b[32];
    resources_format_bytes(512, b);
    assert_string_equal(b, "512 B");
    resources_format_bytes(400 * MIB, b);
    assert_string_equal(b, "400 MiB");
    resources_format_bytes(1181116006LL, b);
    assert_string_equal(b, "1.1 GiB");
    resources_format_bytes(-1, b);
    assert_string_equal(b, "unknown");
}

/* ---- recovery ---- */

static void
test_recover_decide(void **state)
{
    (void)state;
    static const struct {
        struct resources_recover_facts f;
        enum resources_recover want;
    } cases[] = {
        /* The end is on disk: record it, whatever else holds. */
        { { .has_exit = true }, RESOURCES_RECOVER_RECORD },
        { { .has_exit = true, .supervisor_alive = true }, RESOURCES_RECOVER_RECORD },
        { { .has_exit = true, .spec_unread = true }, RESOURCES_RECOVER_RECORD },
        /* Its supervisor lives: adopt it. */
        { { .supervisor_alive = true }, RESOURCES_RECOVER_ADOPT },
        { { .supervisor_alive = true, .agent_alive = true }, RESOURCES_RECOVER_ADOPT },
        { { .supervisor_alive = true, .spec_unread = true }, RESOURCES_RECOVER_ADOPT },
        /* The daemon died before any supervisor read the spec: the agent never ran. */
        { { .spec_unread = true }, RESOURCES_RECOVER_RESPAWN },
        /* Nothing tells the end (or an agent runs with nobody capturing it): lost. */
        { { 0 }, RESOURCES_RECOVER_LOST },
        { { .agent_alive = true }, RESOURCES_RECOVER_LOST },
        { { .spec_unread = true, .agent_alive = true }, RESOURCES_RECOVER_LOST },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum resources_recover got = resources_recover_decide(&cases[i].f);
        if (got != cases[i].want) {
            fail_msg("case %zu: got %s, want %s", i, resources_recover_name(got),
                     resources_recover_name(cases[i].want));
        }
    }
}

static void
write_cmdline(const char *root, int pid, const char *const *argv, size_t argc)
{
    char *dir = xasprintf("%s/%d", root, pid);
    char *path = xasprintf("%s/cmdline", dir);
    char buf[1024];
    size_t len = 0;
    struct err e;
    assert_int_equal(fs_mkdir_p(dir, 0700, &e), 0);
    for (size_t i = 0; i < argc; i++) {
        size_t n = strlen(argv[i]) + 1;
        memcpy(buf + len, argv[i], n);
        len += n;
    }
    assert_int_equal(fs_write_atomic(path, buf, len, 0600, &e), 0);
    free(path);
    free(dir);
}

static void
test_find_supervisor(void **state)
{
    (void)state;
    char *root = temp_dir();
    struct err e;
    const char *id = "task-0b7c5a3e-5b1e-4e8a-9c55-1f2d3c4b5a69";
    const char *other[] = { "/usr/bin/beat", "__supervise", "/h/output/task-1" };
    const char *daemon[] = { "/usr/bin/beat", "daemon" };
    const char *near[] = { "/usr/bin/beat", "__supervise",
                           "/h/output/x-task-0b7c5a3e-5b1e-4e8a-9c55-1f2d3c4b5a69" };
    write_cmdline(root, 10, other, 3);
    write_cmdline(root, 11, daemon, 2);
    write_cmdline(root, 12, near, 3);
    assert_int_equal(resources_find_supervisor(root, id), 0);
    char *dir = xasprintf("/h/output/%s", id);
    const char *ours[] = { "/usr/bin/beat", "__supervise", dir };
    write_cmdline(root, 13, ours, 3);
    assert_int_equal(resources_find_supervisor(root, id), 13);
    free(dir);
    assert_int_equal(resources_find_supervisor("/nonexistent-proc", id), 0);
    assert_int_equal(fs_remove_tree(root, &e), 0);
    free(root);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_idle),           cmocka_unit_test(test_read_recorded),
        cmocka_unit_test(test_read_missing),        cmocka_unit_test(test_read_old_kernel),
        cmocka_unit_test(test_cpu_delta),           cmocka_unit_test(test_agent_footprint),
        cmocka_unit_test(test_decide_memory),       cmocka_unit_test(test_decide_workers),
        cmocka_unit_test(test_decide_cpu),          cmocka_unit_test(test_decide_pressure),
        cmocka_unit_test(test_decide_unknown),      cmocka_unit_test(test_projection_burst),
        cmocka_unit_test(test_projection_measured), cmocka_unit_test(test_learning),
        cmocka_unit_test(test_format_bytes),        cmocka_unit_test(test_recover_decide),
        cmocka_unit_test(test_find_supervisor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
