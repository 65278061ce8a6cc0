/* Unit tests for core/config.c and cli/cmd-config.c: precedence key by key, per-key fallback
 * with the problems it reports, file edits (atomic, modes, other keys kept), masking, and the
 * docs table staying in sync with the key table. Each test gets its own temporary home. */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <fcntl.h>
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
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include "cli/cmd-config.h"
#include "core/config.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/str.h"
#include "util/xmalloc.h"

struct fixture {
    char *dir;  /* the temporary directory */
    char *home; /* dir/home: not created, so config_set must create it */
    char *path; /* home/config.json */
};

static int
setup(void **state)
{
    const char *tmp = getenv("TMPDIR");
    struct fixture *f = xcalloc(1, sizeof *f);
    f->dir = xasprintf("%s/beat-test-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(f->dir) == NULL) {
        return -1;
    }
    f->home = xasprintf("%s/home", f->dir);
    f->path = xasprintf("%s/config.json", f->home);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    fs_remove_tree(f->dir, NULL);
    free(f->dir);
    free(f->home);
    free(f->path);
    free(f);
    return 0;
}

/* Writes text as the config file (creating home 0700). */
static void
write_file(const struct fixture *f, const char *text)
{
    struct err e = { 0 };
    assert_int_equal(fs_mkdir_p(f->home, 0700, &e), 0);
    assert_int_equal(fs_write_atomic(f->path, text, strlen(text), 0644, &e), 0);
}

/* Reads the config file as a string (caller frees), NULL when absent. */
static char *
read_text(const struct fixture *f)
{
    size_t len;
    return fs_read_file(f->path, 1 << 20, &len, NULL);
}

/* Reads the config file as JSON (caller decrefs). */
static json_t *
read_json(const struct fixture *f)
{
    char *text = read_text(f);
    assert_non_null(text);
    json_t *v = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(v);
    return v;
}

/* Asserts that exactly one problem contains every one of the given fragments (NULL-ended). */
static void
assert_problem(const struct config *c, ...)
{
    const char *const *p = config_problems(c);
    int found = 0;
    for (; *p; p++) {
        va_list ap;
        va_start(ap, c);
        bool all = true;
        for (const char *frag = va_arg(ap, const char *); frag; frag = va_arg(ap, const char *)) {
            all = all && strstr(*p, frag) != NULL;
        }
        va_end(ap);
        found += all;
    }
    if (found != 1) {
        for (p = config_problems(c); *p; p++) {
            print_message("problem: %s\n", *p);
        }
        fail_msg("expected exactly one matching problem, found %d", found);
    }
}

static size_t
nproblems(const struct config *c)
{
    size_t n = 0;
    for (const char *const *p = config_problems(c); *p; p++) {
        n++;
    }
    return n;
}

/* The show entry for key (borrowed from show). */
static const json_t *
show_entry(const json_t *show, const char *key)
{
    size_t i;
    const json_t *entry;
    json_array_foreach(json_object_get(show, "keys"), i, entry)
    {
        if (strcmp(json_get_str(entry, "key"), key) == 0) {
            return entry;
        }
    }
    fail_msg("no key %s in show", key);
    return NULL;
}

/* Asserts where key's value came from. */
static void
assert_source(const struct config *c, const char *key, const char *source)
{
    json_t *show = config_show_json(c);
    assert_string_equal(json_get_str(show_entry(show, key), "source"), source);
    json_decref(show);
}

static void
test_defaults(void **state)
{
    struct fixture *f = *state;
    struct config *c = config_load(f->home, NULL);
    assert_int_equal(config_int(c, "timeout"), 1800000);
    assert_int_equal(config_int(c, "maxOutputBuffer"), 10485760);
    assert_int_equal(config_int(c, "killGracePeriodMs"), 5000);
    assert_string_equal(config_str(c, "logLevel"), "info");
    assert_null(config_str(c, "defaultAgent"));
    assert_int_equal(config_int(c, "taskRetentionDays"), 30);
    assert_int_equal(config_int(c, "maxWorkers"), 16);
    assert_int_equal(config_int(c, "cpuThreshold"), 90);
    assert_int_equal(config_int(c, "memoryReserve"), 1073741824);
    assert_int_equal(config_int(c, "cpuCoresReserved"), 0);
    assert_int_equal(config_int(c, "missedRunGraceMs"), 60000);
    assert_int_equal(nproblems(c), 0);
    assert_null(config_agent(c, "claude"));

    json_t *show = config_show_json(c);
    assert_string_equal(json_get_str(show, "path"), f->path);
    size_t i;
    const json_t *entry;
    json_array_foreach(json_object_get(show, "keys"), i, entry)
    {
        assert_string_equal(json_get_str(entry, "source"), "default");
        assert_true(json_equal(json_object_get(entry, "value"), json_object_get(entry, "default")));
        assert_non_null(json_get_str(entry, "env"));
        assert_non_null(json_get_str(entry, "description"));
        assert_non_null(json_get_str(entry, "range"));
        assert_true(json_is_true(json_object_get(entry, "live")));
        assert_null(json_object_get(entry, "problem"));
    }
    assert_int_equal(json_array_size(json_object_get(show, "keys")), 11);
    json_decref(show);
    config_free(c);

    /* No home: defaults and environment only. */
    c = config_load(NULL, NULL);
    assert_int_equal(config_int(c, "maxWorkers"), 16);
    config_free(c);
    config_free(NULL);
}

static void
test_precedence_per_key(void **state)
{
    struct fixture *f = *state;
    write_file(f, "{\"timeout\": 60000, \"maxWorkers\": 8, \"logLevel\": \"debug\", "
                  "\"defaultAgent\": \"codex\"}");
    json_t *env = json_pack("{s:s, s:s, s:s}", "TASK_TIMEOUT", "120000", "LOG_LEVEL", "warn",
                            "CPU_THRESHOLD", "75");
    struct config *c = config_load(f->home, env);
    assert_int_equal(nproblems(c), 0);
    assert_int_equal(config_int(c, "timeout"), 120000);
    assert_source(c, "timeout", "env:TASK_TIMEOUT");
    assert_int_equal(config_int(c, "maxWorkers"), 8);
    assert_source(c, "maxWorkers", "file");
    assert_string_equal(config_str(c, "logLevel"), "warn");
    assert_source(c, "logLevel", "env:LOG_LEVEL");
    assert_string_equal(config_str(c, "defaultAgent"), "codex");
    assert_source(c, "defaultAgent", "file");
    assert_int_equal(config_int(c, "cpuThreshold"), 75);
    assert_source(c, "cpuThreshold", "env:CPU_THRESHOLD");
    assert_int_equal(config_int(c, "taskRetentionDays"), 30);
    assert_source(c, "taskRetentionDays", "default");
    config_free(c);
    json_decref(env);

    /* An empty variable reads as unset: the file's value stays. */
    env = json_pack("{s:s}", "MAX_WORKERS", "");
    c = config_load(f->home, env);
    assert_int_equal(config_int(c, "maxWorkers"), 8);
    assert_int_equal(nproblems(c), 0);
    config_free(c);
    json_decref(env);
}

static void
test_partial_invalidity(void **state)
{
    struct fixture *f = *state;
    write_file(f, "{\"timeout\": 60000, \"maxOutputBuffer\": 5, \"defaultAgent\": \"codex\", "
                  "\"maxWorkers\": 8}");
    json_t *env = json_pack("{s:s, s:s, s:s}", "MAX_WORKERS", "abc", "TASK_RETENTION_DAYS", "90",
                            "CPU_THRESHOLD", "101");
    struct config *c = config_load(f->home, env);

    /* The bad ones fall back alone... */
    assert_int_equal(config_int(c, "maxWorkers"), 8); /* env bad -> the file's value */
    assert_source(c, "maxWorkers", "file");
    assert_int_equal(config_int(c, "maxOutputBuffer"), 10485760); /* file bad -> default */
    assert_int_equal(config_int(c, "cpuThreshold"), 90);          /* env bad -> default */
    /* ...and every other value survives (B16). */
    assert_int_equal(config_int(c, "timeout"), 60000);
    assert_string_equal(config_str(c, "defaultAgent"), "codex");
    assert_int_equal(config_int(c, "taskRetentionDays"), 90);

    assert_int_equal(nproblems(c), 3);
    assert_problem(c,
                   "MAX_WORKERS=abc (environment, key maxWorkers): must be an integer 1..1024; "
                   "using the value from config.json, 8",
                   NULL);
    assert_problem(c,
                   "maxOutputBuffer=5 (config.json): must be an integer 1024..1073741824 (bytes); "
                   "using the default 10485760",
                   NULL);
    assert_problem(c, "CPU_THRESHOLD=101", "environment", "cpuThreshold", "1..100",
                   "using the default 90", NULL);

    /* show carries the problem on the key too. */
    json_t *show = config_show_json(c);
    assert_non_null(strstr(json_get_str(show_entry(show, "maxWorkers"), "problem"), "abc"));
    assert_null(json_object_get(show_entry(show, "timeout"), "problem"));
    assert_int_equal(json_array_size(json_object_get(show, "problems")), 3);
    json_decref(show);
    config_free(c);
    json_decref(env);
}

static void
test_env_integer_parsing(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *raw;
        int64_t want; /* -1: rejected, the default 16 is used */
    } cases[] = {
        { "42", 42 },   { " 42 ", 42 },  { "\t7\n", 7 }, { "+9", 9 },
        { "0008", 8 },  { "42abc", -1 }, { "1.5", -1 },  { "1e3", -1 },
        { "0x10", -1 }, { "   ", -1 },   { "abc", -1 },  { "-1", -1 },
        { "0", -1 },    { "1025", -1 },  { "4 2", -1 },  { "99999999999999999999", -1 },
        { "-", -1 },    { "+", -1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *env = json_pack("{s:s}", "MAX_WORKERS", cases[i].raw);
        struct config *c = config_load(f->home, env);
        if (cases[i].want < 0) {
            if (config_int(c, "maxWorkers") != 16 || nproblems(c) != 1) {
                fail_msg("'%s' should be rejected", cases[i].raw);
            }
            assert_non_null(strstr(config_problems(c)[0], "must be an integer 1..1024"));
        } else if (config_int(c, "maxWorkers") != cases[i].want || nproblems(c) != 0) {
            fail_msg("'%s' should read as %lld", cases[i].raw, (long long)cases[i].want);
        }
        config_free(c);
        json_decref(env);
    }

    /* A variable that is not a string (the env object comes from clients) is a problem too. */
    json_t *env = json_pack("{s:i}", "MAX_WORKERS", 5);
    struct config *c = config_load(f->home, env);
    assert_int_equal(config_int(c, "maxWorkers"), 16);
    assert_problem(c, "MAX_WORKERS=5 (environment", NULL);
    config_free(c);
    json_decref(env);
}

static void
test_file_value_types(void **state)
{
    struct fixture *f = *state;
    write_file(f, "{\"timeout\": 1.5, \"maxWorkers\": \"8\", \"logLevel\": 3, "
                  "\"killGracePeriodMs\": 2000.0, \"cpuThreshold\": true, \"memoryReserve\": null, "
                  "\"defaultAgent\": \"nope\", \"taskRetentionDays\": 365}");
    struct config *c = config_load(f->home, NULL);
    assert_int_equal(config_int(c, "timeout"), 1800000);
    assert_int_equal(config_int(c, "maxWorkers"), 16);
    assert_string_equal(config_str(c, "logLevel"), "info");
    assert_int_equal(config_int(c, "killGracePeriodMs"), 5000);
    assert_int_equal(config_int(c, "cpuThreshold"), 90);
    assert_int_equal(config_int(c, "memoryReserve"), 1073741824); /* null = not set */
    assert_source(c, "memoryReserve", "default");
    assert_null(config_str(c, "defaultAgent"));
    assert_int_equal(config_int(c, "taskRetentionDays"), 365);
    assert_int_equal(nproblems(c), 6);
    assert_problem(c, "timeout=1.5 (config.json)", "not a real number", NULL);
    assert_problem(c, "maxWorkers=\"8\" (config.json)", "not a string", "using the default 16",
                   NULL);
    assert_problem(c, "logLevel=3 (config.json): must be one of debug, info, warn, error",
                   "not an integer", NULL);
    assert_problem(c, "killGracePeriodMs=2000.0", "not a real number", NULL);
    assert_problem(c, "cpuThreshold=true", "not a boolean", NULL);
    assert_problem(c,
                   "defaultAgent=\"nope\" (config.json): must be a known agent: claude, codex, "
                   "gemini; leaving it unset",
                   NULL);
    config_free(c);
}

static void
test_default_agent_fallbacks(void **state)
{
    struct fixture *f = *state;
    json_t *env = json_pack("{s:s}", "BACKBEAT_DEFAULT_AGENT", "copilot");
    struct config *c = config_load(f->home, env);
    assert_null(config_str(c, "defaultAgent"));
    assert_problem(c, "BACKBEAT_DEFAULT_AGENT=copilot (environment, key defaultAgent)",
                   "must be a known agent", "leaving it unset", NULL);
    config_free(c);

    write_file(f, "{\"defaultAgent\": \"gemini\"}");
    c = config_load(f->home, env);
    assert_string_equal(config_str(c, "defaultAgent"), "gemini");
    assert_problem(c, "copilot", "using the value from config.json, gemini", NULL);
    config_free(c);
    json_decref(env);
}

static void
test_malformed_file(void **state)
{
    struct fixture *f = *state;
    write_file(f, "{\"timeout\": 60000,");
    json_t *env = json_pack("{s:s}", "MAX_WORKERS", "6");
    struct config *c = config_load(f->home, env);
    assert_int_equal(config_int(c, "timeout"), 1800000);
    assert_int_equal(config_int(c, "maxWorkers"), 6); /* the environment still applies */
    assert_int_equal(nproblems(c), 1);
    assert_problem(c, f->path, "is not valid JSON", "line 1", NULL);
    config_free(c);
    json_decref(env);

    write_file(f, "{\"a\": 1, \"a\": 2}"); /* duplicate keys are refused by the parser */
    c = config_load(f->home, NULL);
    assert_problem(c, "is not valid JSON", NULL);
    config_free(c);
}

static void
test_non_object_file(void **state)
{
    struct fixture *f = *state;
    write_file(f, "[1, 2]");
    struct config *c = config_load(f->home, NULL);
    assert_problem(c, "must hold a JSON object, not an array", NULL);
    assert_int_equal(config_int(c, "maxWorkers"), 16);
    config_free(c);

    write_file(f, "\"timeout\"");
    c = config_load(f->home, NULL);
    assert_problem(c, "not a string", NULL);
    config_free(c);

    /* Empty or blank files read as {} without complaint. */
    write_file(f, " \n\t");
    c = config_load(f->home, NULL);
    assert_int_equal(nproblems(c), 0);
    config_free(c);
    write_file(f, "");
    c = config_load(f->home, NULL);
    assert_int_equal(nproblems(c), 0);
    config_free(c);

    /* A directory where the file should be. */
    assert_int_equal(unlink(f->path), 0);
    assert_int_equal(mkdir(f->path, 0700), 0);
    c = config_load(f->home, NULL);
    assert_int_equal(nproblems(c), 1);
    assert_problem(c, "ignoring the file", NULL);
    config_free(c);
}

static void
test_unknown_keys_in_file(void **state)
{
    struct fixture *f = *state;
    write_file(f, "{\"timeot\": 5000, \"MAX_WORKERS\": 3, \"zzzzzzzzzz\": 1, \"maxworkers\": 2, "
                  "\"maxWorkers\": 7}");
    struct config *c = config_load(f->home, NULL);
    assert_int_equal(config_int(c, "maxWorkers"), 7);
    assert_int_equal(nproblems(c), 4);
    assert_problem(c, "unknown key 'timeot' in config.json; did you mean 'timeout'?", NULL);
    assert_problem(c, "unknown key 'MAX_WORKERS' in config.json; did you mean 'maxWorkers'?", NULL);
    assert_problem(c, "unknown key 'maxworkers' in config.json; did you mean 'maxWorkers'?", NULL);
    assert_problem(c, "unknown key 'zzzzzzzzzz' in config.json (ignored", NULL);
    config_free(c);

    /* Unknown keys stay in the file when another key is set. */
    struct err e = { 0 };
    assert_int_equal(config_set(f->home, "timeout", "60000", &e), 0);
    json_t *root = read_json(f);
    assert_int_equal(json_integer_value(json_object_get(root, "timeot")), 5000);
    assert_int_equal(json_integer_value(json_object_get(root, "zzzzzzzzzz")), 1);
    assert_int_equal(json_integer_value(json_object_get(root, "timeout")), 60000);
    json_decref(root);
}

static void
test_set_unknown_key(void **state)
{
    struct fixture *f = *state;
    struct err e = { 0 };
    assert_int_equal(config_set(f->home, "timeot", "60000", &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    assert_string_equal(e.msg, "unknown key 'timeot'; did you mean 'timeout'?");
    assert_int_equal(config_set(f->home, "LOG_LEVEL", "debug", &e), -1);
    assert_string_equal(e.msg, "unknown key 'LOG_LEVEL'; did you mean 'logLevel'?");
    assert_int_equal(config_set(f->home, "qqqqqqqqqqqqqqqq", "1", &e), -1);
    assert_non_null(strstr(e.msg, "unknown key 'qqqqqqqqqqqqqqqq'; known keys: timeout, "));
    assert_non_null(strstr(e.msg, "missedRunGraceMs"));
    assert_int_equal(config_set(f->home, "agents", "{}", &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    /* Nothing was written, not even the directory. */
    struct stat st;
    assert_int_equal(stat(f->home, &st), -1);
}

static void
test_set_invalid_values(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *key, *value, *msg;
    } cases[] = {
        { "maxWorkers", "0", "invalid value '0' for maxWorkers: must be an integer 1..1024" },
        { "maxWorkers", "abc", "invalid value 'abc' for maxWorkers: must be an integer 1..1024" },
        { "maxWorkers", "8x", "invalid value '8x' for maxWorkers: must be an integer 1..1024" },
        { "maxWorkers", "", "invalid value '' for maxWorkers: must be an integer 1..1024" },
        { "timeout", "1.5",
          "invalid value '1.5' for timeout: must be an integer 1000..86400000 (ms)" },
        { "logLevel", "verbose",
          "invalid value 'verbose' for logLevel: must be one of debug, info, warn, error" },
        { "logLevel", "DEBUG",
          "invalid value 'DEBUG' for logLevel: must be one of debug, info, warn, error" },
        { "defaultAgent", "copilot",
          "invalid value 'copilot' for defaultAgent: "
          "must be a known agent: claude, codex, gemini" },
        { "memoryReserve", "68719476737",
          "invalid value '68719476737' for memoryReserve: "
          "must be an integer 0..68719476736 (bytes)" },
    };
    write_file(f, "{\"maxWorkers\": 2}\n");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct err e = { 0 };
        assert_int_equal(config_set(f->home, cases[i].key, cases[i].value, &e), -1);
        assert_int_equal(e.code, ERR_INVALID);
        assert_string_equal(e.msg, cases[i].msg);
        struct err e2 = { 0 };
        assert_int_equal(config_check_value(cases[i].key, cases[i].value, &e2), -1);
        assert_string_equal(e2.msg, cases[i].msg);
    }
    char *text = read_text(f);
    assert_string_equal(text, "{\"maxWorkers\": 2}\n");
    free(text);

    /* Long, control-character values are quoted bounded and printable. */
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[3] = '\n';
    struct err e = { 0 };
    assert_int_equal(config_check_value("logLevel", big, &e), -1);
    assert_non_null(strstr(e.msg, "'xxx?xxx"));
    assert_non_null(strstr(e.msg, "x...' for logLevel"));
    assert_null(strchr(e.msg, '\n'));

    assert_int_equal(config_check_value("maxWorkers", " 12 ", &e), 0);
    assert_int_equal(config_check_value("defaultAgent", "claude", &e), 0);
    assert_int_equal(config_check_value("maxWrkers", "3", &e), -1);
    assert_string_equal(e.msg, "unknown key 'maxWrkers'; did you mean 'maxWorkers'?");
}

static void
test_set_keeps_everything_else(void **state)
{
    struct fixture *f = *state;
    const char *agents =
        "{\"claude\": {\"apiKey\": \"sk-ant-0123456789\", \"model\": \"opus\", "
        "\"extraArgs\": [\"--x\"]}, \"mine\": {\"command\": [\"my-agent\", \"{prompt}\"]}}";
    char *text = xasprintf("{\"maxWorkers\": 2, \"agents\": %s, \"custom\": {\"a\": [1]}}", agents);
    write_file(f, text);
    free(text);

    struct err e = { 0 };
    assert_int_equal(config_set(f->home, "timeout", " 60000 ", &e), 0);
    assert_int_equal(config_set(f->home, "logLevel", "debug", &e), 0);
    assert_int_equal(config_set(f->home, "maxWorkers", "8", &e), 0);
    assert_int_equal(config_set(f->home, "defaultAgent", "claude", &e), 0);

    json_t *root = read_json(f);
    json_t *want_agents = json_loads(agents, 0, NULL);
    assert_true(json_equal(json_object_get(root, "agents"), want_agents));
    json_decref(want_agents);
    assert_true(json_is_integer(json_object_get(root, "timeout")));
    assert_int_equal(json_integer_value(json_object_get(root, "timeout")), 60000);
    assert_int_equal(json_integer_value(json_object_get(root, "maxWorkers")), 8);
    assert_string_equal(json_get_str(root, "logLevel"), "debug");
    assert_string_equal(json_get_str(root, "defaultAgent"), "claude");
    assert_non_null(json_object_get(json_object_get(root, "custom"), "a"));
    assert_int_equal(json_object_size(root), 6);
    /* Order is kept: edited keys stay where they were. */
    assert_string_equal(json_object_iter_key(json_object_iter(root)), "maxWorkers");
    json_decref(root);

    /* The file was rewritten with 0600 (it was 0644), and no temporary file is left behind. */
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    DIR *d = opendir(f->home);
    assert_non_null(d);
    int entries = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        /* config.lock serialises writers and stays; anything else would be a leftover. */
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
            strcmp(de->d_name, "config.lock") != 0) {
            assert_string_equal(de->d_name, "config.json");
            entries++;
        }
    }
    closedir(d);
    assert_int_equal(entries, 1);

    /* The loaded result agrees. */
    struct config *c = config_load(f->home, NULL);
    assert_int_equal(nproblems(c), 1);
    assert_problem(c, "unknown key 'custom' in config.json", NULL);
    assert_int_equal(config_int(c, "timeout"), 60000);
    assert_string_equal(json_get_str(config_agent(c, "claude"), "apiKey"), "sk-ant-0123456789");
    assert_non_null(config_agent(c, "mine"));
    assert_null(config_agent(c, "codex"));
    config_free(c);
}

static void
test_set_creates_home_with_modes(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    assert_int_equal(stat(f->home, &st), -1);
    struct err e = { 0 };
    mode_t old = umask(0);
    int rc = config_set(f->home, "maxWorkers", "3", &e);
    umask(old);
    assert_int_equal(rc, 0);
    assert_int_equal(stat(f->home, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *text = read_text(f);
    assert_string_equal(text, "{\n  \"maxWorkers\": 3\n}\n");
    free(text);
}

static void
test_edit_refuses_bad_file(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = { "{\"maxWorkers\": 2,", "[]", "42" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(f, bad[i]);
        struct err e = { 0 };
        assert_int_equal(config_set(f->home, "maxWorkers", "3", &e), -1);
        assert_int_equal(e.code, ERR_STATE);
        assert_non_null(strstr(e.msg, f->path));
        assert_non_null(strstr(e.msg, "left unchanged: fix it by hand"));
        assert_int_equal(config_reset(f->home, "maxWorkers", &e), -1);
        assert_int_equal(e.code, ERR_STATE);
        char *text = read_text(f);
        assert_string_equal(text, bad[i]);
        free(text);
    }
}

static void
test_reset(void **state)
{
    struct fixture *f = *state;
    struct err e = { 0 };
    /* No file: resetting a known key is a no-op that creates nothing. */
    assert_int_equal(config_reset(f->home, "timeout", &e), 0);
    struct stat st;
    assert_int_equal(stat(f->home, &st), -1);

    write_file(f, "{\"timeout\": 60000, \"maxWorkers\": 3, \"timeot\": 1, "
                  "\"agents\": {\"codex\": {\"model\": \"o3\"}}}");
    assert_int_equal(config_reset(f->home, "timeout", &e), 0);
    assert_int_equal(config_reset(f->home, "timeout", &e), 0); /* already gone */
    assert_int_equal(config_reset(f->home, "timeot", &e), 0);  /* a typo can be removed */
    json_t *root = read_json(f);
    assert_null(json_object_get(root, "timeout"));
    assert_null(json_object_get(root, "timeot"));
    assert_int_equal(json_integer_value(json_object_get(root, "maxWorkers")), 3);
    assert_string_equal(
        json_get_str(json_object_get(json_object_get(root, "agents"), "codex"), "model"), "o3");
    json_decref(root);

    assert_int_equal(config_reset(f->home, "timoeut", &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    assert_string_equal(e.msg, "unknown key 'timoeut'; did you mean 'timeout'?");
    assert_int_equal(config_reset(f->home, "agents", &e), -1);
    assert_int_equal(e.code, ERR_INVALID);

    struct config *c = config_load(f->home, NULL);
    assert_int_equal(config_int(c, "timeout"), 1800000);
    assert_source(c, "timeout", "default");
    assert_int_equal(nproblems(c), 0);
    config_free(c);
}

static void
test_masking(void **state)
{
    struct fixture *f = *state;
    char *m;
    static const struct {
        const char *in, *out;
    } cases[] = {
        { "", "***" },
        { "abc", "***" },
        { "12345678", "***" },
        { "123456789", "123...789" },
        { "sk-ant-api03-abcdefghijkl", "sk-...jkl" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        m = config_mask_secret(cases[i].in);
        assert_string_equal(m, cases[i].out);
        free(m);
    }

    write_file(f,
               "{\"agents\": {"
               "\"claude\": {\"apiKey\": \"sk-ant-api03-abcdefghijkl\", \"model\": \"opus\","
               "  \"baseUrl\": \"https://me:hunter2pass@proxy.example/v1\"},"
               "\"codex\": {\"apiKey\": \"short\"},"
               "\"gemini\": {\"apiKey\": \"AIzaSyAnotherSecret\","
               "  \"env\": {\"GEMINI_API_KEY\": \"AIzaSyVerySecretValue\", \"Auth_Token\": \"t0k\","
               "           \"FOO\": \"plain\"}}}}");
    struct config *c = config_load(f->home, NULL);
    assert_int_equal(nproblems(c), 0);
    json_t *show = config_show_json(c);
    char *text = json_dumps(show, 0);
    assert_null(strstr(text, "abcdefghijkl"));
    assert_null(strstr(text, "short"));
    assert_null(strstr(text, "AnotherSecret"));
    assert_null(strstr(text, "VerySecret"));
    assert_null(strstr(text, "hunter2"));
    free(text);
    const json_t *agents = json_object_get(show, "agents");
    assert_string_equal(json_get_str(json_object_get(agents, "claude"), "apiKey"), "sk-...jkl");
    assert_string_equal(json_get_str(json_object_get(agents, "claude"), "model"), "opus");
    assert_string_equal(json_get_str(json_object_get(agents, "claude"), "baseUrl"),
                        "https://***@proxy.example/v1");
    assert_string_equal(json_get_str(json_object_get(agents, "codex"), "apiKey"), "***");
    const json_t *gemini = json_object_get(agents, "gemini");
    assert_string_equal(json_get_str(gemini, "apiKey"), "AIz...ret");
    const json_t *genv = json_object_get(gemini, "env");
    assert_string_equal(json_get_str(genv, "GEMINI_API_KEY"), "AIz...lue");
    assert_string_equal(json_get_str(genv, "Auth_Token"), "***");
    assert_string_equal(json_get_str(genv, "FOO"), "plain");
    json_decref(show);
    /* The engine still gets the raw values. */
    assert_string_equal(json_get_str(config_agent(c, "claude"), "apiKey"),
                        "sk-ant-api03-abcdefghijkl");
    config_free(c);

    m = config_mask_url("http://user:pw@h:1/p?q=@x");
    assert_string_equal(m, "http://***@h:1/p?q=@x");
    free(m);
    m = config_mask_url("http://h/a@b");
    assert_string_equal(m, "http://h/a@b");
    free(m);

    /* Bad values are left out and reported, never quoting a key. */
    write_file(f, "{\"agents\": {\"gemini\": {\"apiKey\": 1234567890123, \"model\": \"flash\","
                  "  \"env\": {\"GEMINI_API_KEY\": \"AIzaSyVerySecretValue\", \"Auth_Token\": 5}},"
                  "\"claude\": {\"apiKey\": \"-sk-ant-VerySecret\"},"
                  "\"odd\": \"not an object\"}}");
    c = config_load(f->home, NULL);
    assert_int_equal(nproblems(c), 4);
    assert_problem(c, "agents.gemini.apiKey: must be a string", "(got an integer)",
                   "this field is ignored", NULL);
    assert_problem(c, "agents.gemini.env.Auth_Token: must be a string", NULL);
    assert_problem(c, "agents.claude.apiKey: must be a string", "not starting with -",
                   "(got a string)", NULL);
    assert_problem(c, "agents.odd in config.json must be an object, not a string; ignored", NULL);
    for (const char *const *p = config_problems(c); *p; p++) {
        assert_null(strstr(*p, "VerySecret"));
        assert_null(strstr(*p, "1234567890123"));
    }
    assert_null(json_object_get(config_agent(c, "gemini"), "apiKey"));
    assert_null(json_object_get(config_agent(c, "gemini"), "env"));
    assert_string_equal(json_get_str(config_agent(c, "gemini"), "model"), "flash");
    assert_null(config_agent(c, "odd"));
    assert_false(config_agent_known(config_agents(c), "odd"));
    config_free(c);

    /* A file that does not parse: the message keeps the position, never the text near it. */
    write_file(f, "{\"agents\": {\"claude\": {\"apiKey\": sk-ant-VerySecret}}}");
    c = config_load(f->home, NULL);
    assert_problem(c, "is not valid JSON", "line 1", NULL);
    assert_null(strstr(config_problems(c)[0], "VerySecret"));
    config_free(c);

    write_file(f, "{\"agents\": [1]}");
    c = config_load(f->home, NULL);
    assert_problem(c, "agents in config.json must be an object, not an array", NULL);
    assert_null(config_agent(c, "claude"));
    show = config_show_json(c);
    assert_int_equal(json_object_size(json_object_get(show, "agents")), 0);
    json_decref(show);
    config_free(c);
}

static void
test_diff(void **state)
{
    struct fixture *f = *state;
    struct config *a = config_load(f->home, NULL);
    write_file(f, "{\"timeout\": 60000, \"defaultAgent\": \"claude\", \"maxWorkers\": 16}");
    json_t *env = json_pack("{s:s}", "LOG_LEVEL", "debug");
    struct config *b = config_load(f->home, env);
    char **lines = config_diff(a, b);
    assert_int_equal(strv_len(lines), 3);
    assert_string_equal(lines[0], "timeout: 1800000 -> 60000 (file)");
    assert_string_equal(lines[1], "logLevel: info -> debug (env:LOG_LEVEL)");
    assert_string_equal(lines[2], "defaultAgent: (unset) -> claude (file)");
    strv_free(lines);
    lines = config_diff(b, b);
    assert_non_null(lines);
    assert_null(lines[0]);
    strv_free(lines);

    /* Agents: which changed, never how. */
    write_file(f, "{\"agents\": {\"claude\": {\"apiKey\": \"sk-one-0123456789\"}, "
                  "\"codex\": {\"model\": \"o3\"}}}");
    struct config *c1 = config_load(f->home, NULL);
    write_file(f, "{\"agents\": {\"claude\": {\"apiKey\": \"sk-two-0123456789\"}, "
                  "\"mine\": {\"command\": [\"t\", \"{prompt}\"]}}}");
    struct config *c2 = config_load(f->home, NULL);
    lines = config_diff(c1, c2);
    assert_int_equal(strv_len(lines), 3);
    assert_string_equal(lines[0], "agents.claude: changed");
    assert_string_equal(lines[1], "agents.mine: added");
    assert_string_equal(lines[2], "agents.codex: removed");
    strv_free(lines);
    config_free(c1);
    config_free(c2);
    config_free(a);
    config_free(b);
    json_decref(env);
}

static void
test_format_and_keys(void **state)
{
    (void)state;
    static const struct {
        int64_t v;
        const char *unit, *out;
    } cases[] = {
        { 1800000, "ms", "1800000 (30m)" },
        { 86400000, "ms", "86400000 (24h)" },
        { 5000, "ms", "5000 (5s)" },
        { 1500, "ms", "1500" },
        { 0, "ms", "0" },
        { 10485760, "bytes", "10485760 (10 MiB)" },
        { 1073741824, "bytes", "1073741824 (1 GiB)" },
        { 1024, "bytes", "1024 (1 KiB)" },
        { 1000, "bytes", "1000" },
        { 30, "days", "30" },
        { 4, NULL, "4" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = config_format_int(cases[i].v, cases[i].unit);
        assert_string_equal(s, cases[i].out);
        free(s);
    }

    json_t *keys = config_keys_json();
    assert_int_equal(json_array_size(keys), 11);
    const json_t *k = json_array_get(keys, 0);
    assert_string_equal(json_get_str(k, "key"), "timeout");
    assert_string_equal(json_get_str(k, "type"), "integer");
    assert_string_equal(json_get_str(k, "unit"), "ms");
    assert_string_equal(json_get_str(k, "range"), "1000..86400000");
    assert_string_equal(json_get_str(k, "env"), "TASK_TIMEOUT");
    assert_int_equal(json_integer_value(json_object_get(k, "default")), 1800000);
    json_decref(keys);

    /* config_int and config_str abort on a key that does not exist or has the wrong type. */
    for (int which = 0; which < 3; which++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            int devnull = open("/dev/null", O_WRONLY);
            dup2(devnull, 2); /* the abort's log line */
            struct config *c = config_load(NULL, NULL);
            if (which == 0) {
                config_int(c, "nope");
            } else if (which == 1) {
                config_int(c, "logLevel");
            } else {
                config_str(c, "timeout");
            }
            _exit(0);
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    }
}

/* The table between the markers in docs/configuration.md is exactly the generated one. */
static void
test_docs_table_in_sync(void **state)
{
    (void)state;
    const char *fixtures = getenv("BEAT_FIXTURES");
    if (fixtures == NULL) {
        fail_msg("BEAT_FIXTURES is not set (run through ctest)");
    }
    char *path = xasprintf("%s/../../docs/configuration.md", fixtures);
    size_t len;
    struct err e = { 0 };
    char *doc = fs_read_file(path, 1 << 20, &len, &e);
    if (doc == NULL) {
        fail_msg("%s", e.msg);
    }
    const char *begin_mark = "<!-- config-keys:begin (beat config keys --markdown) -->\n";
    const char *end_mark = "<!-- config-keys:end -->";
    char *begin = strstr(doc, begin_mark);
    assert_non_null(begin);
    begin += strlen(begin_mark);
    char *end = strstr(begin, end_mark);
    assert_non_null(end);
    *end = '\0';
    char *want = config_keys_markdown();
    if (strcmp(begin, want) != 0) {
        print_message("generated table:\n%s", want);
        fail_msg("docs/configuration.md's key table is stale; replace it with the output of "
                 "`beat config keys --markdown` (printed above)");
    }
    free(want);
    free(doc);
    free(path);
}

/* Runs cli_config_main with stdout and stderr captured into *out and *err (caller frees). */
static int
run_cli(const char *home, char **out, char **errout, int argc, ...)
{
    char *argv[8] = { NULL };
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc && i < 7; i++) {
        argv[i] = va_arg(ap, char *);
    }
    va_end(ap);

    char *tmpl[2] = { xasprintf("%s.out-XXXXXX", home), xasprintf("%s.err-XXXXXX", home) };
    int fds[2] = { mkstemp(tmpl[0]), mkstemp(tmpl[1]) };
    assert_true(fds[0] >= 0 && fds[1] >= 0);
    fflush(stdout);
    fflush(stderr);
    int saved[2] = { dup(1), dup(2) };
    dup2(fds[0], 1);
    dup2(fds[1], 2);
    int rc = cli_config_main(home, argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved[0], 1);
    dup2(saved[1], 2);
    char **dst[2] = { out, errout };
    for (int i = 0; i < 2; i++) {
        close(saved[i]);
        close(fds[i]);
        size_t len;
        *dst[i] = fs_read_file(tmpl[i], 1 << 20, &len, NULL);
        unlink(tmpl[i]);
        free(tmpl[i]);
    }
    return rc;
}

static void
test_cli(void **state)
{
    struct fixture *f = *state;
    /* The CLI resolves with this process's environment: keep it free of our variables. */
    json_t *keys = config_keys_json();
    size_t i;
    const json_t *k;
    json_array_foreach(keys, i, k)
    {
        unsetenv(json_get_str(k, "env"));
    }
    json_decref(keys);

    char *out, *err;
    assert_int_equal(run_cli(f->home, &out, &err, 2, "config", "path"), 0);
    char *want = xasprintf("%s\n", f->path);
    assert_string_equal(out, want);
    assert_string_equal(err, "");
    free(want);
    free(out);
    free(err);

    assert_int_equal(run_cli(f->home, &out, &err, 4, "config", "set", "maxWorkers", "6"), 0);
    assert_string_equal(out, "maxWorkers = 6\n");
    free(out);
    free(err);

    setenv("MAX_WORKERS", "9", 1);
    assert_int_equal(run_cli(f->home, &out, &err, 4, "config", "set", "maxWorkers", "7"), 0);
    assert_string_equal(out, "maxWorkers = 9\n");
    assert_non_null(strstr(err, "beat config: note: MAX_WORKERS is set in this environment"));
    free(out);
    free(err);
    unsetenv("MAX_WORKERS");

    assert_int_equal(run_cli(f->home, &out, &err, 4, "config", "set", "maxWorkers", "0"), 2);
    assert_string_equal(out, "");
    assert_string_equal(
        err, "beat config: invalid value '0' for maxWorkers: must be an integer 1..1024\n");
    free(out);
    free(err);

    /* A negative number is a value, not an option. */
    assert_int_equal(run_cli(f->home, &out, &err, 4, "config", "set", "cpuCoresReserved", "-1"), 2);
    assert_non_null(strstr(err, "invalid value '-1' for cpuCoresReserved"));
    free(out);
    free(err);

    assert_int_equal(run_cli(f->home, &out, &err, 4, "config", "set", "timeot", "5000"), 2);
    assert_string_equal(err, "beat config: unknown key 'timeot'; did you mean 'timeout'?\n");
    free(out);
    free(err);

    assert_int_equal(run_cli(f->home, &out, &err, 3, "config", "set", "timeout"), 2);
    assert_non_null(strstr(err, "usage: beat config set <key> <value>"));
    free(out);
    free(err);

    assert_int_equal(run_cli(f->home, &out, &err, 3, "config", "show", "--yaml"), 2);
    assert_non_null(strstr(err, "show does not take --yaml"));
    free(out);
    free(err);

    assert_int_equal(run_cli(f->home, &out, &err, 2, "config", "shwo"), 2);
    assert_non_null(strstr(err, "unknown command 'shwo'"));
    free(out);
    free(err);
    assert_int_equal(run_cli(f->home, &out, &err, 2, "config", "s"), 2);
    assert_non_null(strstr(err, "ambiguous command 's'; commands: show set"));
    free(out);
    free(err);
    assert_int_equal(run_cli(f->home, &out, &err, 2, "config", "pa"), 0); /* unique prefix */
    free(out);
    free(err);
    assert_int_equal(run_cli(f->home, &out, &err, 1, "config"), 2);
    assert_non_null(strstr(err, "usage: beat config"));
    free(out);
    free(err);

    /* show: a table, then the problems; show --json: the same data as JSON. */
    write_file(f, "{\"maxWorkers\": 6, \"timeot\": 1, \"agents\": {\"claude\": "
                  "{\"apiKey\": \"sk-ant-api03-abcdefghijkl\"}}}");
    assert_int_equal(run_cli(f->home, &out, &err, 2, "config", "show"), 0);
    assert_non_null(strstr(out, "KEY "));
    assert_non_null(strstr(out, "timeout "));
    assert_non_null(strstr(out, "1800000 (30m)"));
    assert_non_null(strstr(out, "  default\n"));
    assert_non_null(strstr(out, "  file\n"));
    assert_non_null(strstr(out, "did you mean 'timeout'?"));
    assert_non_null(strstr(out, "sk-...jkl"));
    assert_null(strstr(out, "abcdefghijkl"));
    free(out);
    free(err);

    assert_int_equal(run_cli(f->home, &out, &err, 3, "config", "show", "--json"), 0);
    json_t *show = json_loads(out, 0, NULL);
    assert_non_null(show);
    assert_string_equal(json_get_str(show, "path"), f->path);
    assert_int_equal(json_array_size(json_object_get(show, "problems")), 1);
    json_decref(show);
    free(out);
    free(err);

    assert_int_equal(run_cli(f->home, &out, &err, 3, "config", "reset", "maxWorkers"), 0);
    assert_string_equal(out, "maxWorkers reset; now 16\n");
    free(out);
    free(err);

    assert_int_equal(run_cli(f->home, &out, &err, 3, "config", "keys", "--markdown"), 0);
    want = config_keys_markdown();
    assert_string_equal(out, want);
    free(want);
    free(out);
    free(err);
    assert_int_equal(run_cli(f->home, &out, &err, 2, "config", "keys"), 0);
    assert_non_null(strstr(out, "timeout (integer, ms; default 1800000 (30m); 1000..86400000; "
                                "env TASK_TIMEOUT; live)\n"));
    free(out);
    free(err);

    /* A broken file: set fails with status 1 and leaves it alone. */
    write_file(f, "{oops");
    assert_int_equal(run_cli(f->home, &out, &err, 4, "config", "set", "maxWorkers", "2"), 1);
    assert_non_null(strstr(err, "is not valid JSON"));
    free(out);
    free(err);
}

/* ---- agents ---- */

static void
test_agents_load(void **state)
{
    struct fixture *f = *state;
    write_file(f,
               "{\"defaultAgent\": \"mine\", \"agents\": {"
               "\"claude\": {\"model\": \"opus\", \"modle\": \"x\", \"maxConcurrent\": 0,"
               "  \"command\": [\"c\", \"{prompt}\"], \"extraArgs\": [\"--v\"]},"
               "\"mine\": {\"command\": [\"my-tool\", \"--\", \"{prompt}\"], \"parser\": \"json\","
               "  \"maxConcurrent\": 2, \"description\": \"Mine\", \"model\": null},"
               "\"nocmd\": {\"model\": \"m\"},"
               "\"Bad Name\": {\"command\": [\"x\", \"{prompt}\"]},"
               "\"broken\": {\"command\": [\"x\"]}}}");
    struct config *c = config_load(f->home, NULL);
    assert_problem(c,
                   "unknown field 'modle' in agents.claude in config.json; did you mean "
                   "'model'?",
                   NULL);
    assert_problem(c, "agents.claude.maxConcurrent: must be an integer 1..1024 (got 0)",
                   "this field is ignored", NULL);
    assert_problem(c,
                   "agents.claude.command in config.json: claude is a built-in agent and only "
                   "user-defined agents take command; ignored",
                   NULL);
    assert_problem(c,
                   "agents.mine.parser: must be one of text, claude, codex, gemini (got "
                   "\"json\")",
                   NULL);
    assert_problem(c, "agents.nocmd in config.json has no usable command", NULL);
    assert_problem(c, "agents.nocmd.model is not passed to nocmd", NULL);
    assert_problem(c, "agents['Bad Name'] in config.json: not a valid agent name", NULL);
    assert_problem(c, "agents.broken.command: no argument holds {prompt}", NULL);
    assert_problem(c, "agents.broken in config.json has no usable command", NULL);
    assert_int_equal(nproblems(c), 9);

    /* Each bad field alone is left out; the rest of each agent stays. */
    const json_t *claude = config_agent(c, "claude");
    assert_string_equal(json_get_str(claude, "model"), "opus");
    assert_null(json_object_get(claude, "modle"));
    assert_null(json_object_get(claude, "maxConcurrent"));
    assert_null(json_object_get(claude, "command"));
    assert_non_null(json_object_get(claude, "extraArgs"));
    const json_t *mine = config_agent(c, "mine");
    assert_null(json_object_get(mine, "parser"));
    assert_null(json_object_get(mine, "model")); /* null is "not set" */
    assert_int_equal(json_integer_value(json_object_get(mine, "maxConcurrent")), 2);

    /* Known agents: built-ins, then user-defined ones (a broken one too: its tasks fail with
     * the reason). defaultAgent may name a user-defined agent. */
    assert_string_equal(config_str(c, "defaultAgent"), "mine");
    assert_true(config_agent_known(config_agents(c), "nocmd"));
    assert_true(config_agent_known(config_agents(c), "broken"));
    assert_false(config_agent_known(config_agents(c), "Bad Name"));
    assert_false(config_agent_known(config_agents(c), "aider"));
    assert_false(config_agent_known(NULL, "aider"));
    assert_true(config_agent_known(NULL, "gemini"));
    char *list = config_agent_list(c);
    assert_string_equal(list, "claude, codex, gemini, mine, nocmd, broken");
    free(list);
    assert_true(config_agent_is_user(c, "mine"));
    assert_false(config_agent_is_user(c, "claude"));
    assert_false(config_agent_is_user(c, "aider"));

    struct agent_conf ac;
    struct err e = { 0 };
    assert_int_equal(config_agent_conf(c, "mine", &ac, &e), 0);
    assert_int_equal(ac.cfg.format, AGENT_FORMAT_TEXT); /* the bad parser fell back */
    assert_int_equal(ac.max_concurrent, 2);
    agent_conf_fini(&ac);
    assert_int_equal(config_agent_conf(c, "aider", &ac, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    assert_string_equal(e.msg, "unknown agent 'aider'; known agents: claude, codex, gemini, mine, "
                               "nocmd, broken");
    agent_conf_fini(&ac);
    config_free(c);

    /* The environment may name a user-defined agent as well, and a bad one lists them. */
    json_t *env = json_pack("{s:s}", "BACKBEAT_DEFAULT_AGENT", "nocmd");
    c = config_load(f->home, env);
    assert_string_equal(config_str(c, "defaultAgent"), "nocmd");
    config_free(c);
    json_decref(env);
    env = json_pack("{s:s}", "BACKBEAT_DEFAULT_AGENT", "aider");
    c = config_load(f->home, env);
    assert_problem(c, "BACKBEAT_DEFAULT_AGENT=aider",
                   "must be a known agent: claude, codex, "
                   "gemini, mine, nocmd, broken; using the value from config.json, mine",
                   NULL);
    config_free(c);
    json_decref(env);
}

/* Asserts that config_set(key, value) fails with ERR_INVALID and a message containing want,
 * and that the file did not change. */
static void
assert_set_fails(const struct fixture *f, const char *key, const char *value, const char *want)
{
    char *before = read_text(f);
    struct err e = { 0 };
    int rc = value ? config_set(f->home, key, value, &e) : config_reset(f->home, key, &e);
    if (rc == 0 || strstr(e.msg, want) == NULL) {
        fail_msg("%s %s: want \"%s\", got rc=%d \"%s\"", value ? "set" : "reset", key, want, rc,
                 e.msg);
    }
    char *after = read_text(f);
    assert_true((before == NULL && after == NULL) ||
                (before && after && strcmp(before, after) == 0));
    free(before);
    free(after);
}

static void
test_agents_set_reset(void **state)
{
    struct fixture *f = *state;
    struct err e = { 0 };
    char *sh = xasprintf("[\"sh\", \"-c\", \"{prompt}\"]");

    /* Refused before anything is written, not even the directory. */
    assert_set_fails(f, "agents.claude.modle", "x",
                     "unknown field 'modle' for agents.claude; "
                     "did you mean 'model'?");
    struct stat st;
    assert_int_equal(stat(f->home, &st), -1);
    assert_set_fails(f, "agents.claude.zzzzzzzzzzzz", "x", "fields: command, env, parser");
    assert_set_fails(f, "agents.Claude.model", "x", "not a valid agent name");
    assert_set_fails(f, "agents..model", "x", "not a valid agent name");
    assert_set_fails(f, "agents.claude.command", sh, "claude is a built-in agent");
    assert_set_fails(f, "agents.claude.model", "-x", "not starting with -");
    assert_set_fails(f, "agents.claude.maxConcurrent", "two", "(got \"two\")");
    assert_set_fails(f, "agents.claude.extraArgs", "--x", "must be JSON text, an array");
    assert_set_fails(f, "agents.claude.apiKey", "-sk-VerySecret0", "not starting with -");
    assert_int_equal(config_set(f->home, "agents.claude.apiKey", "-sk-VerySecret0", &e), -1);
    assert_null(strstr(e.msg, "VerySecret"));
    assert_set_fails(f, "agents.mine.model", "m", "agents.mine: no such agent; define it first");
    assert_set_fails(f, "agents.mine.command", "[\"sh\", \"hi\"]", "no argument holds {prompt}");
    assert_set_fails(f, "agents.mine.command", "[\"no-such-program-xyz\", \"{prompt}\"]",
                     "no 'no-such-program-xyz' executable on PATH");
    assert_set_fails(f, "agents.mine.command", "[\"/no/such/prog\", \"{prompt}\"]",
                     "'/no/such/prog' is not an executable file");
    assert_set_fails(f, "agents.mine.command", "[\"bin/sh\", \"{prompt}\"]", "relative path");
    assert_set_fails(f, "agents.mine", "{\"model\": \"m\"}", "agents.mine.command: missing");
    assert_set_fails(f, "agents.mine", "[]", "agents.mine: must be an object");
    assert_set_fails(f, "agents.mine", "{oops", "must be a JSON object of its fields");
    assert_set_fails(f, "agents", "{}", "agents is not a setting itself");
    assert_int_equal(stat(f->home, &st), -1);

    /* Built-in fields, then a user-defined agent: command first, then anything. */
    assert_int_equal(config_set(f->home, "agents.claude.model", "opus", &e), 0);
    assert_int_equal(config_set(f->home, "agents.claude.maxConcurrent", " 2 ", &e), 0);
    assert_int_equal(
        config_set(f->home, "agents.claude.extraArgs", "[\"--allowedTools\", \"Bash\"]", &e), 0);
    assert_int_equal(config_set(f->home, "agents.mine.command", sh, &e), 0);
    assert_int_equal(config_set(f->home, "agents.mine.command",
                                "[\"/bin/sh\", \"-c\", "
                                "\"{prompt}\"]",
                                &e),
                     0);
    assert_int_equal(config_set(f->home, "agents.mine.parser", "claude", &e), 0);
    assert_int_equal(config_set(f->home, "agents.mine.env", "{\"A\": \"1\"}", &e), 0);
    assert_int_equal(config_set(f->home, "defaultAgent", "mine", &e), 0);
    assert_int_equal(config_set(f->home, "agents.other",
                                "{\"command\": [\"sh\", \"{prompt}\"], "
                                "\"description\": \"Other\"}",
                                &e),
                     0);
    json_t *root = read_json(f);
    json_t *agents = json_object_get(root, "agents");
    json_t *claude = json_object_get(agents, "claude");
    assert_string_equal(json_get_str(claude, "model"), "opus");
    assert_true(json_is_integer(json_object_get(claude, "maxConcurrent")));
    assert_int_equal(json_integer_value(json_object_get(claude, "maxConcurrent")), 2);
    assert_int_equal(json_array_size(json_object_get(claude, "extraArgs")), 2);
    json_t *mine = json_object_get(agents, "mine");
    assert_string_equal(json_string_value(json_array_get(json_object_get(mine, "command"), 0)),
                        "/bin/sh");
    assert_string_equal(json_get_str(mine, "parser"), "claude");
    assert_string_equal(json_get_str(json_object_get(mine, "env"), "A"), "1");
    assert_string_equal(json_get_str(json_object_get(agents, "other"), "description"), "Other");
    assert_string_equal(json_get_str(root, "defaultAgent"), "mine");
    json_decref(root);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    struct config *c = config_load(f->home, NULL);
    assert_int_equal(nproblems(c), 0);
    assert_string_equal(config_str(c, "defaultAgent"), "mine");
    config_free(c);

    /* Resets: the default agent cannot lose its definition; a user agent keeps its command. */
    assert_set_fails(f, "agents.mine", NULL,
                     "mine is the defaultAgent; set or reset defaultAgent "
                     "first");
    assert_set_fails(f, "agents.mine.command", NULL, "a user-defined agent needs its command");
    assert_set_fails(f, "agents.mine.parsr", NULL, "did you mean 'parser'?");
    assert_int_equal(config_reset(f->home, "agents.mine.parser", &e), 0);
    assert_int_equal(config_reset(f->home, "agents.mine.parser", &e), 0); /* already gone */
    assert_int_equal(config_reset(f->home, "agents.mine.model", &e), 0);  /* never set */
    assert_int_equal(config_reset(f->home, "agents.aider", &e), 0);       /* no such agent */
    assert_int_equal(config_reset(f->home, "defaultAgent", &e), 0);
    assert_int_equal(config_reset(f->home, "agents.mine", &e), 0);
    assert_int_equal(config_reset(f->home, "agents.other", &e), 0);
    assert_int_equal(config_reset(f->home, "agents.claude.model", &e), 0);
    assert_int_equal(config_reset(f->home, "agents.claude.extraArgs", &e), 0);
    root = read_json(f);
    agents = json_object_get(root, "agents");
    assert_int_equal(json_object_size(agents), 1);
    assert_int_equal(json_object_size(json_object_get(agents, "claude")), 1);
    json_decref(root);
    /* The last field of the last agent: the agents object goes too. */
    assert_int_equal(config_reset(f->home, "agents.claude.maxConcurrent", &e), 0);
    root = read_json(f);
    assert_int_equal(json_object_size(root), 0);
    json_decref(root);

    /* A typo'd field in the file can be removed; an unknown one not in the file is an error. */
    write_file(f, "{\"agents\": {\"claude\": {\"modle\": \"x\", \"model\": \"m\"}}}");
    assert_int_equal(config_reset(f->home, "agents.claude.modle", &e), 0);
    assert_set_fails(f, "agents.claude.modle", NULL, "did you mean 'model'?");
    /* An agents entry that is not an object: fields refused, the whole agent can be replaced. */
    write_file(f, "{\"agents\": {\"claude\": 5}}");
    assert_set_fails(f, "agents.claude.model", "m", "agents.claude in config.json is an integer");
    assert_int_equal(config_set(f->home, "agents.claude", "{\"model\": \"m\"}", &e), 0);
    write_file(f, "{\"agents\": []}");
    assert_set_fails(f, "agents.claude.model", "m", "agents in config.json is an array");
    free(sh);
}

static void
test_agents_update_is_atomic(void **state)
{
    struct fixture *f = *state;
    struct err e = { 0 };
    write_file(f, "{\"agents\": {\"claude\": {\"model\": \"old\"}}}");
    const char *keys[] = { "agents.claude.model", "agents.claude.maxConcurrent", "timeout" };
    const char *bad[] = { "new", "0", "60000" };
    assert_int_equal(config_update(f->home, keys, bad, 3, &e), -1);
    assert_non_null(strstr(e.msg, "maxConcurrent"));
    char *text = read_text(f);
    assert_string_equal(text, "{\"agents\": {\"claude\": {\"model\": \"old\"}}}");
    free(text);
    const char *good[] = { "new", "3", "60000" };
    assert_int_equal(config_update(f->home, keys, good, 3, &e), 0);
    const char *resets[] = { NULL, NULL, "70000" };
    assert_int_equal(config_update(f->home, keys, resets, 3, &e), 0);
    json_t *root = read_json(f);
    assert_null(json_object_get(root, "agents"));
    assert_int_equal(json_integer_value(json_object_get(root, "timeout")), 70000);
    json_decref(root);
    /* config_check_value knows agent keys too. */
    assert_int_equal(config_check_value("agents.claude.model", "opus", &e), 0);
    assert_int_equal(config_check_value("agents.claude.model", "-o", &e), -1);
    assert_int_equal(config_check_value("agents.mine.parser", "claude", &e), 0);
    assert_int_equal(config_check_value("agents.claude.parser", "claude", &e), -1);
}

static void
test_agent_can_start(void **state)
{
    struct fixture *f = *state;
    write_file(f, "{\"agents\": {\"claude\": {\"maxConcurrent\": 1}, "
                  "\"mine\": {\"command\": [\"t\", \"{prompt}\"], \"maxConcurrent\": 3}}}");
    struct config *c = config_load(f->home, NULL);
    char *why = NULL;
    assert_true(config_agent_can_start(c, "claude", 0, &why));
    assert_null(why);
    assert_false(config_agent_can_start(c, "claude", 1, &why));
    assert_string_equal(why, "agent claude: 1 running, maxConcurrent 1");
    free(why);
    why = NULL;
    assert_true(config_agent_can_start(c, "mine", 2, &why));
    assert_false(config_agent_can_start(c, "mine", 3, &why));
    assert_string_equal(why, "agent mine: 3 running, maxConcurrent 3");
    free(why);
    why = NULL;
    assert_false(config_agent_can_start(c, "mine", 7, &why)); /* after the cap was lowered */
    free(why);
    why = NULL;
    /* No cap: codex, unknown agents, no agent at all. */
    assert_true(config_agent_can_start(c, "codex", 1000, &why));
    assert_true(config_agent_can_start(c, "aider", 1000, &why));
    assert_true(config_agent_can_start(c, NULL, 1000, &why));
    assert_null(why);
    assert_int_equal(config_agent_max_concurrent(c, "claude"), 1);
    assert_int_equal(config_agent_max_concurrent(c, "codex"), 0);
    config_free(c);
    /* Without any configuration. */
    c = config_load(NULL, NULL);
    assert_true(config_agent_can_start(c, "claude", 50, &why));
    char **names = config_agent_names(c);
    assert_int_equal(strv_len(names), 3);
    strv_free(names);
    config_free(c);
}

static void
test_agents_cli(void **state)
{
    struct fixture *f = *state;
    char *out, *err;
    assert_int_equal(run_cli(f->home, &out, &err, 4, "config", "set", "agents.claude.apiKey",
                             "sk-ant-api03-abcdefghijkl"),
                     0);
    assert_string_equal(out, "agents.claude.apiKey = sk-...jkl\n");
    assert_string_equal(err, "");
    free(out);
    free(err);
    assert_int_equal(run_cli(f->home, &out, &err, 4, "config", "set", "agents.mine.command",
                             "[\"sh\", \"{prompt}\"]"),
                     0);
    assert_string_equal(out, "agents.mine.command = [\"sh\",\"{prompt}\"]\n");
    free(out);
    free(err);
    /* A setting that cannot reach the agent is set, with a note. */
    assert_int_equal(
        run_cli(f->home, &out, &err, 4, "config", "set", "agents.mine.apiKey", "mine-secret-123"),
        0);
    assert_string_equal(out, "agents.mine.apiKey = min...123\n");
    assert_non_null(strstr(err, "beat config: note: agents.mine.apiKey is not passed to mine"));
    assert_null(strstr(err, "secret"));
    free(out);
    free(err);
    assert_int_equal(run_cli(f->home, &out, &err, 4, "config", "set", "agents.mine.modle", "m"), 2);
    assert_string_equal(err, "beat config: unknown field 'modle' for agents.mine; did you mean "
                             "'model'?\n");
    free(out);
    free(err);
    assert_int_equal(run_cli(f->home, &out, &err, 3, "config", "show", "--json"), 0);
    assert_null(strstr(out, "abcdefghijkl"));
    assert_null(strstr(out, "mine-secret"));
    free(out);
    free(err);
    assert_int_equal(run_cli(f->home, &out, &err, 3, "config", "reset", "agents.mine.apiKey"), 0);
    assert_string_equal(out, "agents.mine.apiKey reset; now (unset)\n");
    free(out);
    free(err);
    assert_int_equal(run_cli(f->home, &out, &err, 3, "config", "reset", "agents.mine"), 0);
    assert_string_equal(out, "agents.mine reset; now (unset)\n");
    free(out);
    free(err);
}

/* Writers at the same moment each keep their key: read-change-write happens under a lock. */
static void
test_concurrent_sets(void **state)
{
    struct fixture *f = *state;
    static const char *const keys[] = { "timeout", "maxWorkers", "logLevel", "taskRetentionDays",
                                        "killGracePeriodMs", "cpuThreshold" };
    static const char *const values[] = { "60000", "3", "debug", "9", "2000", "80" };
    struct err e = { 0 };
    assert_int_equal(config_set(f->home, "memoryReserve", "0", &e), 0); /* home exists */
    pid_t pids[6];
    for (int i = 0; i < 6; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            struct err ce = { 0 };
            for (int round = 0; round < 20; round++) {
                if (config_set(f->home, keys[i], values[i], &ce) != 0) {
                    _exit(1);
                }
            }
            _exit(0);
        }
    }
    for (int i = 0; i < 6; i++) {
        int status = -1;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    struct config *c = config_load(f->home, NULL);
    assert_int_equal(config_int(c, "timeout"), 60000);
    assert_int_equal(config_int(c, "maxWorkers"), 3);
    assert_string_equal(config_str(c, "logLevel"), "debug");
    assert_int_equal(config_int(c, "taskRetentionDays"), 9);
    assert_int_equal(config_int(c, "killGracePeriodMs"), 2000);
    assert_int_equal(config_int(c, "cpuThreshold"), 80);
    assert_int_equal(config_int(c, "memoryReserve"), 0);
    config_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_sets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence_per_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_invalidity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_integer_parsing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_value_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_agent_fallbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_object_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_keys_in_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_unknown_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_invalid_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_keeps_everything_else, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_creates_home_with_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edit_refuses_bad_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_masking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_diff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_format_and_keys, setup, teardown),
        cmocka_unit_test(test_docs_table_in_sync),
        cmocka_unit_test_setup_teardown(test_cli, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agents_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agents_set_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agents_update_is_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_can_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agents_cli, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
