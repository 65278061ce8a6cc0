/* Unit tests for agents/: exact argv and environment of every driver, the bounds they enforce,
 * user-defined templates, the stream parsers fed the real CLIs' recorded output line by line
 * (tests/fixtures/agent-samples/), garbage input, and one round trip per driver through the
 * fake agents in tests/fake-agents/ (skipped when python3 is missing). */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

/* cmocka needs setjmp.h, stdarg.h and stddef.h first. */
#include <cmocka.h>

#include "agents/agent.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/str.h"
#include "util/xmalloc.h"

/* ---- helpers --------------------------------------------------------------------------------- */

/* Asserts that argv equals the NULL-terminated list want, printing both on a mismatch. */
static void
assert_argv(char *const *argv, const char *const *want)
{
    size_t i = 0;
    for (; want[i] != NULL; i++) {
        if (argv[i] == NULL || strcmp(argv[i], want[i]) != 0) {
            print_error("argv[%zu]: got '%s', want '%s'\n", i, argv[i] ? argv[i] : "(end)",
                        want[i]);
            fail();
        }
    }
    if (argv[i] != NULL) {
        print_error("argv[%zu]: got extra '%s'\n", i, argv[i]);
        fail();
    }
}

/* Parses a JSON literal used as a client env or config env. */
static json_t *
J(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    assert_non_null(v);
    return v;
}

static size_t
env_count(const struct agent_cmd *cmd)
{
    return strv_len(cmd->envp);
}

/* A spec with the usual task id and prompt. */
static struct agent_run_spec
spec_basic(const char *prompt, const json_t *client_env, const struct agent_config *cfg)
{
    struct agent_run_spec s = { 0 };
    s.task_id = "task-1";
    s.prompt = prompt;
    s.client_env = client_env;
    s.config = cfg;
    return s;
}

/* Builds with driver name and expects success. */
static void
build_ok(const char *driver, const struct agent_run_spec *s, struct agent_cmd *cmd)
{
    struct err e = { 0 };
    const struct agent_driver *d = agent_find(driver);
    assert_non_null(d);
    if (agent_build(d, s, cmd, &e) != 0) {
        print_error("build %s: %s\n", driver, e.msg);
        fail();
    }
}

/* Builds with driver name and expects ERR_INVALID with needle in the message. */
static void
build_fails(const char *driver, const struct agent_run_spec *s, const char *needle)
{
    struct err e = { 0 };
    struct agent_cmd cmd = { (char **)1, (char **)1 };
    assert_int_equal(agent_build(agent_find(driver), s, &cmd, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    if (strstr(e.msg, needle) == NULL) {
        print_error("error '%s' does not mention '%s'\n", e.msg, needle);
        fail();
    }
    assert_null(cmd.argv);
    assert_null(cmd.envp);
}

/* A string of n copies of c. */
static char *
repeat(char c, size_t n)
{
    char *s = xmalloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static char *
fixture_path(const char *name)
{
    const char *dir = getenv("BEAT_FIXTURES");
    return xasprintf("%s/%s", dir ? dir : "tests/fixtures", name);
}

/* Feeds the first max lines (0: all) of a sample to the parser. */
static void
feed_sample(enum agent_format f, const char *name, size_t max, struct agent_report *r)
{
    char *path = fixture_path(name);
    struct err e = { 0 };
    size_t len = 0, lines = 0;
    char *data = fs_read_file(path, 16 * 1024 * 1024, &len, &e);
    if (data == NULL) {
        print_error("%s: %s\n", path, e.msg);
        fail();
    }
    for (char *p = data; p < data + len && (max == 0 || lines < max); lines++) {
        char *nl = memchr(p, '\n', (size_t)(data + len - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(data + len - p);
        agent_parse_line(f, p, n, r);
        p += n + 1;
    }
    free(data);
    free(path);
}

static void
feed(enum agent_format f, const char *line, struct agent_report *r)
{
    agent_parse_line(f, line, strlen(line), r);
}

/* ---- registry -------------------------------------------------------------------------------- */

static void
test_registry(void **state)
{
    (void)state;
    const struct agent_driver *const *all = agent_builtins();
    enum agent_format f;

    assert_string_equal(all[0]->name, "claude");
    assert_string_equal(all[1]->name, "codex");
    assert_string_equal(all[2]->name, "gemini");
    assert_null(all[3]);
    assert_ptr_equal(agent_find("codex"), all[1]);
    assert_null(agent_find("nope"));
    assert_null(agent_find(NULL));
    assert_string_equal(all[0]->key_env, "ANTHROPIC_API_KEY");
    assert_string_equal(all[1]->key_env, "OPENAI_API_KEY");
    assert_string_equal(all[2]->key_env, "GEMINI_API_KEY");
    for (int i = 0; i < 3; i++) {
        assert_true(all[i]->supports_resume);
        assert_int_equal(agent_format_parse(agent_format_name(all[i]->format), &f), 0);
        assert_int_equal(f, all[i]->format);
    }
    assert_int_equal(agent_format_parse("text", &f), 0);
    assert_int_equal(f, AGENT_FORMAT_TEXT);
    assert_string_equal(agent_format_name(AGENT_FORMAT_GEMINI), "gemini");
    assert_int_equal(agent_format_parse("json", &f), -1);
    assert_int_equal(agent_format_parse(NULL, &f), -1);
}

/* ---- claude ---------------------------------------------------------------------------------- */

static void
test_claude_minimal(void **state)
{
    (void)state;
    json_t *env = J("{\"PATH\":\"/usr/bin\",\"HOME\":\"/home/u\",\"CLAUDECODE\":\"1\","
                    "\"CLAUDE_CODE_ENTRYPOINT\":\"cli\",\"CLAUDE_CODE_SSE_PORT\":\"4242\","
                    "\"CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR\":\"5\","
                    "\"CLAUDE_CODE_MAX_RETRIES\":\"3\",\"CLAUDE_CODE_OAUTH_TOKEN\":\"tok\","
                    "\"CLAUDECODE_X\":\"kept\",\"MY_CLAUDE_CODE_Y\":\"kept\"}");
    struct agent_run_spec s = spec_basic("say hi", env, NULL);
    struct agent_cmd cmd;

    build_ok("claude", &s, &cmd);
    assert_argv(cmd.argv, (const char *[]){ "claude", "-p", "--output-format", "stream-json",
                                            "--verbose", "--", "say hi", NULL });
    assert_string_equal(agent_cmd_getenv(&cmd, "PATH"), "/usr/bin");
    assert_string_equal(agent_cmd_getenv(&cmd, "HOME"), "/home/u");
    assert_null(agent_cmd_getenv(&cmd, "CLAUDECODE"));
    assert_null(agent_cmd_getenv(&cmd, "CLAUDE_CODE_ENTRYPOINT"));
    assert_null(agent_cmd_getenv(&cmd, "CLAUDE_CODE_SSE_PORT"));
    assert_null(agent_cmd_getenv(&cmd, "CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR"));
    assert_string_equal(agent_cmd_getenv(&cmd, "CLAUDE_CODE_MAX_RETRIES"), "3");
    assert_string_equal(agent_cmd_getenv(&cmd, "CLAUDE_CODE_OAUTH_TOKEN"), "tok");
    assert_string_equal(agent_cmd_getenv(&cmd, "CLAUDECODE_X"), "kept");
    assert_string_equal(agent_cmd_getenv(&cmd, "MY_CLAUDE_CODE_Y"), "kept");
    assert_string_equal(agent_cmd_getenv(&cmd, "BACKBEAT_TASK_ID"), "task-1");
    assert_string_equal(agent_cmd_getenv(&cmd, "BACKBEAT_WORKER"), "true");
    assert_null(agent_cmd_getenv(&cmd, "ANTHROPIC_API_KEY"));
    assert_null(agent_cmd_getenv(&cmd, "ANTHROPIC_BASE_URL"));
    assert_int_equal(env_count(&cmd), 8);
    agent_cmd_fini(&cmd);
    agent_cmd_fini(&cmd); /* idempotent */
    json_decref(env);
}

static void
test_claude_full(void **state)
{
    (void)state;
    char *extra[] = { "--allowedTools", "Bash", "Read", "--permission-mode", "acceptEdits", NULL };
    json_t *env = J("{\"PATH\":\"/bin\"}");
    struct agent_config cfg = {
        .model = "sonnet",
        .base_url = "http://127.0.0.1:18080",
        .system_prompt = "-be brief",
        .api_key = "sk-config",
        .extra_args = extra,
    };
    struct agent_run_spec s = spec_basic("fix it", env, &cfg);
    struct agent_cmd cmd;

    s.resume_session = "bc37249d-af73-4cd4-ae12-ee9ee66c6289";
    build_ok("claude", &s, &cmd);
    assert_argv(cmd.argv,
                (const char *[]){ "claude", "-p", "--output-format", "stream-json", "--verbose",
                                  "--model", "sonnet", "--append-system-prompt", "-be brief",
                                  "--resume", "bc37249d-af73-4cd4-ae12-ee9ee66c6289",
                                  "--allowedTools", "Bash", "Read", "--permission-mode",
                                  "acceptEdits", "--", "fix it", NULL });
    assert_string_equal(agent_cmd_getenv(&cmd, "ANTHROPIC_BASE_URL"), "http://127.0.0.1:18080");
    assert_string_equal(agent_cmd_getenv(&cmd, "ANTHROPIC_API_KEY"), "sk-config");
    agent_cmd_fini(&cmd);

    /* Per-task values win over configured ones; "" counts as unset. */
    s.model = "opus";
    s.system_prompt = "";
    s.resume_session = "";
    cfg.extra_args = NULL;
    build_ok("claude", &s, &cmd);
    assert_argv(cmd.argv,
                (const char *[]){ "claude", "-p", "--output-format", "stream-json", "--verbose",
                                  "--model", "opus", "--append-system-prompt", "-be brief", "--",
                                  "fix it", NULL });
    agent_cmd_fini(&cmd);
    json_decref(env);
}

static void
test_api_key_only_when_unset(void **state)
{
    (void)state;
    struct agent_config cfg = { .api_key = "sk-config" };
    json_t *have = J("{\"ANTHROPIC_API_KEY\":\"sk-client\",\"OPENAI_API_KEY\":\"sk-o\","
                     "\"GEMINI_API_KEY\":\"g\"}");
    json_t *empty = J("{\"ANTHROPIC_API_KEY\":\"\"}");
    struct agent_run_spec s = spec_basic("p", have, &cfg);
    struct agent_cmd cmd;

    build_ok("claude", &s, &cmd);
    assert_string_equal(agent_cmd_getenv(&cmd, "ANTHROPIC_API_KEY"), "sk-client");
    agent_cmd_fini(&cmd);
    build_ok("codex", &s, &cmd);
    assert_string_equal(agent_cmd_getenv(&cmd, "OPENAI_API_KEY"), "sk-o");
    agent_cmd_fini(&cmd);
    build_ok("gemini", &s, &cmd);
    assert_string_equal(agent_cmd_getenv(&cmd, "GEMINI_API_KEY"), "g");
    agent_cmd_fini(&cmd);

    s.client_env = empty;
    build_ok("claude", &s, &cmd);
    assert_string_equal(agent_cmd_getenv(&cmd, "ANTHROPIC_API_KEY"), "sk-config");
    agent_cmd_fini(&cmd);
    build_ok("codex", &s, &cmd);
    assert_string_equal(agent_cmd_getenv(&cmd, "OPENAI_API_KEY"), "sk-config");
    agent_cmd_fini(&cmd);
    build_ok("gemini", &s, &cmd);
    assert_string_equal(agent_cmd_getenv(&cmd, "GEMINI_API_KEY"), "sk-config");
    agent_cmd_fini(&cmd);
    json_decref(have);
    json_decref(empty);
}

static void
test_config_env_overrides(void **state)
{
    (void)state;
    json_t *client = J("{\"PATH\":\"/client\",\"ANTHROPIC_BASE_URL\":\"http://client\","
                       "\"BACKBEAT_TASK_ID\":\"spoof\",\"CLAUDE_CODE_USE_BEDROCK\":\"1\"}");
    json_t *cenv = J("{\"PATH\":\"/config\",\"CLAUDE_CODE_ENTRYPOINT\":\"explicit\","
                     "\"BACKBEAT_WORKER\":\"false\",\"GEMINI_CLI_NO_RELAUNCH\":\"false\"}");
    struct agent_config cfg = { .env = cenv, .base_url = "http://config" };
    struct agent_run_spec s = spec_basic("p", client, &cfg);
    struct agent_cmd cmd;

    build_ok("claude", &s, &cmd);
    assert_string_equal(agent_cmd_getenv(&cmd, "PATH"), "/config");
    assert_string_equal(agent_cmd_getenv(&cmd, "ANTHROPIC_BASE_URL"), "http://config");
    assert_string_equal(agent_cmd_getenv(&cmd, "CLAUDE_CODE_ENTRYPOINT"), "explicit");
    assert_string_equal(agent_cmd_getenv(&cmd, "CLAUDE_CODE_USE_BEDROCK"), "1");
    assert_string_equal(agent_cmd_getenv(&cmd, "BACKBEAT_TASK_ID"), "task-1");
    assert_string_equal(agent_cmd_getenv(&cmd, "BACKBEAT_WORKER"), "true");
    agent_cmd_fini(&cmd);
    build_ok("gemini", &s, &cmd);
    assert_string_equal(agent_cmd_getenv(&cmd, "GEMINI_CLI_NO_RELAUNCH"), "true");
    assert_string_equal(agent_cmd_getenv(&cmd, "GOOGLE_GEMINI_BASE_URL"), "http://config");
    agent_cmd_fini(&cmd);
    json_decref(client);
    json_decref(cenv);
}

/* ---- codex ----------------------------------------------------------------------------------- */

static void
test_codex(void **state)
{
    (void)state;
    char *extra[] = { "--sandbox", "workspace-write", NULL };
    json_t *env = J("{\"PATH\":\"/bin\",\"CLAUDECODE\":\"1\"}");
    struct agent_config cfg = { 0 };
    struct agent_run_spec s = spec_basic("say hi", env, &cfg);
    struct agent_cmd cmd;

    build_ok("codex", &s, &cmd);
    assert_argv(cmd.argv, (const char *[]){ "codex", "exec", "--json", "--skip-git-repo-check",
                                            "--", "say hi", NULL });
    assert_string_equal(agent_cmd_getenv(&cmd, "CLAUDECODE"), "1"); /* only claude strips */
    assert_null(agent_cmd_getenv(&cmd, "OPENAI_API_KEY"));
    assert_string_equal(agent_cmd_getenv(&cmd, "BACKBEAT_TASK_ID"), "task-1");
    agent_cmd_fini(&cmd);

    cfg.model = "gpt-5";
    cfg.system_prompt = "say \"hi\"\nthen\\stop\t\x01";
    cfg.base_url = "http://127.0.0.1:18080/v1";
    cfg.api_key = "sk-x";
    cfg.extra_args = extra;
    build_ok("codex", &s, &cmd);
    assert_argv(
        cmd.argv,
        (const char *[]){
            "codex",     "exec",
            "--json",    "--skip-git-repo-check",
            "--model",   "gpt-5",
            "-c",        "developer_instructions=\"say \\\"hi\\\"\\nthen\\\\stop\\t\\u0001\"",
            "-c",        "model_provider=\"backbeat\"",
            "-c",        "model_providers.backbeat.name=\"backbeat\"",
            "-c",        "model_providers.backbeat.base_url=\"http://127.0.0.1:18080/v1\"",
            "-c",        "model_providers.backbeat.env_key=\"OPENAI_API_KEY\"",
            "-c",        "model_providers.backbeat.wire_api=\"responses\"",
            "--sandbox", "workspace-write",
            "--",        "say hi",
            NULL });
    assert_string_equal(agent_cmd_getenv(&cmd, "OPENAI_API_KEY"), "sk-x");
    assert_null(agent_cmd_getenv(&cmd, "OPENAI_BASE_URL"));
    agent_cmd_fini(&cmd);

    /* Resume: every option before "resume", then -- <thread> <prompt>. */
    cfg.system_prompt = NULL;
    cfg.base_url = NULL;
    s.resume_session = "01a20cad-689c-72e1-8bee-97ecca3487ed";
    build_ok("codex", &s, &cmd);
    assert_argv(cmd.argv,
                (const char *[]){ "codex", "exec", "--json", "--skip-git-repo-check", "--model",
                                  "gpt-5", "--sandbox", "workspace-write", "resume", "--",
                                  "01a20cad-689c-72e1-8bee-97ecca3487ed", "say hi", NULL });
    agent_cmd_fini(&cmd);
    json_decref(env);
}

/* ---- gemini ---------------------------------------------------------------------------------- */

static void
test_gemini(void **state)
{
    (void)state;
    char *extra[] = { "--approval-mode", "yolo", NULL };
    struct agent_config cfg = { 0 };
    struct agent_run_spec s = spec_basic("say hi", NULL, &cfg);
    struct agent_cmd cmd;

    build_ok("gemini", &s, &cmd);
    assert_argv(cmd.argv, (const char *[]){ "gemini", "--prompt=say hi", "--skip-trust",
                                            "--output-format", "stream-json", NULL });
    assert_string_equal(agent_cmd_getenv(&cmd, "GEMINI_CLI_NO_RELAUNCH"), "true");
    assert_string_equal(agent_cmd_getenv(&cmd, "BACKBEAT_TASK_ID"), "task-1");
    assert_string_equal(agent_cmd_getenv(&cmd, "BACKBEAT_WORKER"), "true");
    assert_int_equal(env_count(&cmd), 3);
    assert_null(agent_cmd_getenv(&cmd, "GEMINI_API_KEY"));
    agent_cmd_fini(&cmd);

    cfg.model = "gemini-2.5-pro";
    cfg.system_prompt = "Be terse.";
    cfg.base_url = "http://127.0.0.1:18080";
    cfg.api_key = "g-key";
    cfg.extra_args = extra;
    s.resume_session = "6be9e420-6399-4690-8c14-022983c08e33";
    build_ok("gemini", &s, &cmd);
    assert_argv(cmd.argv, (const char *[]){ "gemini",
                                            "--prompt=<system-instructions>\nBe terse.\n"
                                            "</system-instructions>\n\nsay hi",
                                            "--skip-trust", "--output-format", "stream-json",
                                            "--model", "gemini-2.5-pro", "--resume",
                                            "6be9e420-6399-4690-8c14-022983c08e33",
                                            "--approval-mode", "yolo", NULL });
    assert_string_equal(agent_cmd_getenv(&cmd, "GOOGLE_GEMINI_BASE_URL"), "http://127.0.0.1:18080");
    assert_string_equal(agent_cmd_getenv(&cmd, "GEMINI_API_KEY"), "g-key");
    agent_cmd_fini(&cmd);
}

/* ---- what every driver must refuse or keep safe ---------------------------------------------- */

static void
test_prompt_starting_with_dash(void **state)
{
    (void)state;
    struct agent_run_spec s = spec_basic("--help -rf", NULL, NULL);
    struct agent_cmd cmd;

    build_ok("claude", &s, &cmd);
    assert_argv(cmd.argv, (const char *[]){ "claude", "-p", "--output-format", "stream-json",
                                            "--verbose", "--", "--help -rf", NULL });
    agent_cmd_fini(&cmd);
    build_ok("codex", &s, &cmd);
    assert_argv(cmd.argv, (const char *[]){ "codex", "exec", "--json", "--skip-git-repo-check",
                                            "--", "--help -rf", NULL });
    agent_cmd_fini(&cmd);
    build_ok("gemini", &s, &cmd);
    assert_argv(cmd.argv, (const char *[]){ "gemini", "--prompt=--help -rf", "--skip-trust",
                                            "--output-format", "stream-json", NULL });
    agent_cmd_fini(&cmd);
}

static void
test_oversize_arguments(void **state)
{
    (void)state;
    char *at_limit = repeat('a', AGENT_ARG_MAX - 1); /* strlen + NUL == MAX_ARG_STRLEN */
    char *over = repeat('a', AGENT_ARG_MAX);
    char *extra[] = { "--x", over, NULL };
    struct agent_config cfg = { 0 };
    struct agent_run_spec s = spec_basic(at_limit, NULL, &cfg);
    struct agent_cmd cmd;

    build_ok("claude", &s, &cmd);
    assert_int_equal(strlen(cmd.argv[6]), AGENT_ARG_MAX - 1);
    agent_cmd_fini(&cmd);
    build_fails("gemini", &s, "prompt"); /* "--prompt=" pushes it over */
    s.prompt = over;
    build_fails("claude", &s, "prompt");
    build_fails("codex", &s, "prompt");
    s.prompt = "p";
    cfg.system_prompt = over;
    build_fails("claude", &s, "system_prompt");
    build_fails("codex", &s, "system_prompt");
    build_fails("gemini", &s, "system_prompt and prompt");
    cfg.system_prompt = NULL;
    cfg.extra_args = extra;
    build_fails("claude", &s, "extra_args");
    free(at_limit);
    free(over);
}

static void
test_environment_bounds(void **state)
{
    (void)state;
    json_t *many = json_object(), *big = json_object(), *huge = json_object();
    char name[32], *val = repeat('v', 100 * 1024), *over = repeat('v', AGENT_ARG_MAX);
    struct agent_run_spec s = spec_basic("p", many, NULL);
    struct agent_cmd cmd;

    for (int i = 0; i < AGENT_ENV_MAX - 2; i++) {
        snprintf(name, sizeof(name), "V%d", i);
        json_object_set_new(many, name, json_string("x"));
    }
    build_ok("claude", &s, &cmd); /* 998 + the two BACKBEAT_* variables */
    assert_int_equal(env_count(&cmd), AGENT_ENV_MAX);
    agent_cmd_fini(&cmd);
    json_object_set_new(many, "ONE_MORE", json_string("x"));
    build_fails("claude", &s, "env");
    for (int i = 0; i < 3; i++) {
        json_object_set_new(many, "MORE", json_string("x"));
        snprintf(name, sizeof(name), "W%d", i);
        json_object_set_new(many, name, json_string("x"));
    }
    build_fails("codex", &s, "client_env: more than 1000 variables");

    for (int i = 0; i < 12; i++) {
        snprintf(name, sizeof(name), "BIG%d", i);
        json_object_set_new(big, name, json_string(val));
    }
    s.client_env = big;
    build_fails("gemini", &s, "argv and env");
    json_object_set_new(huge, "HUGE", json_string(over));
    s.client_env = huge;
    build_fails("claude", &s, "client_env: HUGE");
    json_decref(many);
    json_decref(big);
    json_decref(huge);
    free(val);
    free(over);
}

static void
test_invalid_fields(void **state)
{
    (void)state;
    struct agent_config cfg = { 0 };
    struct agent_run_spec s = spec_basic("p", NULL, &cfg);
    json_t *bad_name = J("{\"A=B\":\"x\"}"), *bad_value = J("{\"A\":1}"), *arr = J("[1]");
    json_t *nul = json_object();

    json_object_set_new(nul, "A", json_stringn("a\0b", 3));
    s.task_id = NULL;
    build_fails("claude", &s, "task_id");
    s.task_id = "t";
    s.prompt = "";
    build_fails("codex", &s, "prompt: must not be empty");
    s.prompt = NULL;
    build_fails("gemini", &s, "prompt");
    s.prompt = "p";
    s.model = "--dangerously-skip-permissions";
    build_fails("claude", &s, "model: must not start with '-'");
    s.model = "a\nb";
    build_fails("codex", &s, "model: must not contain control characters");
    s.model = NULL;
    s.resume_session = "-x";
    build_fails("claude", &s, "resume_session");
    s.resume_session = "a b";
    build_fails("gemini", &s, "resume_session: only letters");
    s.resume_session = NULL;
    cfg.base_url = "ftp://host";
    build_fails("codex", &s, "base_url");
    cfg.base_url = "http://a\"b";
    build_fails("codex", &s, "base_url");
    cfg.base_url = NULL;
    cfg.api_key = "sk\n";
    build_fails("claude", &s, "api_key");
    cfg.api_key = NULL;
    s.client_env = bad_name;
    build_fails("claude", &s, "client_env: variable name");
    s.client_env = bad_value;
    build_fails("claude", &s, "client_env: the value of A must be a string");
    s.client_env = arr;
    build_fails("claude", &s, "client_env: must be an object");
    s.client_env = nul;
    build_fails("claude", &s, "NUL");
    s.client_env = NULL;
    cfg.env = bad_name;
    build_fails("codex", &s, "env: variable name");
    json_decref(bad_name);
    json_decref(bad_value);
    json_decref(arr);
    json_decref(nul);
}

/* ---- user-defined agents --------------------------------------------------------------------- */

static void
test_template(void **state)
{
    (void)state;
    char *tmpl[] = { "my{prompt}tool",
                     "--model={model}",
                     "--cwd",
                     "{workdir}",
                     "--json={\"a\":1}",
                     "{session}",
                     "--",
                     "{prompt}",
                     "[{prompt}|{model}]",
                     NULL };
    json_t *cenv = J("{\"TOOL_HOME\":\"/t\"}"), *client = J("{\"PATH\":\"/bin\"}");
    struct agent_config cfg = { .command = tmpl, .env = cenv, .format = AGENT_FORMAT_TEXT };
    struct agent_run_spec s = spec_basic("-x {model}", client, &cfg);
    struct agent_driver d = { .name = "mine", .build = agent_template_build };
    struct agent_cmd cmd;
    struct err e = { 0 };

    s.model = "m1";
    s.working_directory = "/srv/project";
    assert_int_equal(agent_build_template(&cfg, &s, &cmd, &e), 0);
    assert_argv(cmd.argv, (const char *[]){ "my{prompt}tool", "--model=m1", "--cwd", "/srv/project",
                                            "--json={\"a\":1}", "--", "-x {model}",
                                            "[-x {model}|m1]", NULL });
    assert_string_equal(agent_cmd_getenv(&cmd, "TOOL_HOME"), "/t");
    assert_string_equal(agent_cmd_getenv(&cmd, "PATH"), "/bin");
    assert_string_equal(agent_cmd_getenv(&cmd, "BACKBEAT_TASK_ID"), "task-1");
    assert_string_equal(agent_cmd_getenv(&cmd, "BACKBEAT_WORKER"), "true");
    agent_cmd_fini(&cmd);

    /* No model and no workdir: the elements naming them are left out; a session is used. */
    s.model = NULL;
    s.working_directory = NULL;
    s.resume_session = "abc";
    cfg.system_prompt = "sys";
    assert_int_equal(agent_build(&d, &s, &cmd, &e), 0);
    assert_argv(cmd.argv,
                (const char *[]){ "my{prompt}tool", "--cwd", "--json={\"a\":1}", "abc", "--",
                                  "<system-instructions>\nsys\n</system-instructions>"
                                  "\n\n-x {model}",
                                  NULL });
    agent_cmd_fini(&cmd);

    cfg.command = NULL;
    assert_int_equal(agent_build_template(&cfg, &s, &cmd, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    assert_non_null(strstr(e.msg, "command"));
    assert_int_equal(agent_build_template(NULL, &s, &cmd, &e), -1);
    char *empty[] = { "", NULL };
    cfg.command = empty;
    assert_int_equal(agent_build_template(&cfg, &s, &cmd, &e), -1);
    assert_null(cmd.argv);

    char *over = repeat('p', AGENT_ARG_MAX - 8);
    char *pfx[] = { "tool", "--prompt={prompt}", NULL };
    cfg.command = pfx;
    cfg.system_prompt = NULL;
    s.prompt = over;
    assert_int_equal(agent_build_template(&cfg, &s, &cmd, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    assert_non_null(strstr(e.msg, "command[1]"));
    free(over);
    json_decref(cenv);
    json_decref(client);
}

/* ---- parsers: claude ------------------------------------------------------------------------- */

static void
test_parse_claude_say_hi(void **state)
{
    (void)state;
    struct agent_report r;

    agent_report_init(&r);
    assert_int_equal(r.input_tokens, -1);
    assert_true(r.cost_usd < 0);
    feed_sample(AGENT_FORMAT_CLAUDE, "agent-samples/claude-p-say-hi.stream-json.jsonl", 0, &r);
    assert_string_equal(r.session_id, "bc37249d-af73-4cd4-ae12-ee9ee66c6289");
    assert_string_equal(r.result_text, "Hello from mock-llm.");
    assert_int_equal(r.result_len, strlen("Hello from mock-llm."));
    assert_string_equal(r.last_line, "Hello from mock-llm.");
    assert_int_equal(r.input_tokens, 12);
    assert_int_equal(r.output_tokens, 8);
    assert_float_equal(r.cost_usd, 0.000208, 1e-12);
    assert_true(r.saw_result);
    assert_false(r.is_error);
    assert_null(r.api_error);
    assert_int_equal(r.api_status, 0);
    agent_report_fini(&r);
    agent_report_fini(&r);
}

static void
test_parse_claude_tool_loop(void **state)
{
    (void)state;
    struct agent_report r;

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_CLAUDE, "agent-samples/claude-p-bash-tool-loop.stream-json.jsonl", 2,
                &r);
    assert_string_equal(r.last_line, "Bash: echo agent-ran-this > proof.txt; cat proof.txt");
    assert_false(r.saw_result);
    assert_null(r.result_text);
    agent_report_fini(&r);
    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_CLAUDE, "agent-samples/claude-p-bash-tool-loop.stream-json.jsonl", 0,
                &r);
    assert_string_equal(r.result_text, "TOOL RESULT: agent-ran-this");
    assert_string_equal(r.last_line, "TOOL RESULT: agent-ran-this");
    assert_int_equal(r.input_tokens, 24);
    assert_int_equal(r.output_tokens, 16);
    assert_float_equal(r.cost_usd, 0.000416, 1e-12);
    agent_report_fini(&r);

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_CLAUDE, "agent-samples/claude-p-permission-denied.stream-json.jsonl",
                3, &r);
    assert_string_equal(r.last_line, "Permission denied: Bash");
    agent_report_fini(&r);

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_CLAUDE,
                "agent-samples/claude-p-include-partial-messages.stream-json.jsonl", 0, &r);
    assert_string_equal(r.result_text, "Hello from mock-llm.");
    assert_false(r.is_error);
    agent_report_fini(&r);
}

static void
test_parse_claude_api_errors(void **state)
{
    (void)state;
    struct agent_report r;

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_CLAUDE, "agent-samples/claude-api-error-400.stream-json.jsonl", 0, &r);
    assert_true(r.saw_result);
    assert_true(r.is_error);
    assert_int_equal(r.api_status, 400);
    assert_string_equal(r.api_error, "API error 400: mock-llm: MOCK_ERROR 400");
    assert_string_equal(r.result_text, "API Error: 400 mock-llm: MOCK_ERROR 400");
    assert_string_equal(r.session_id, "33667fa5-5c5e-4cd5-9e15-294b111c3456");
    assert_int_equal(r.input_tokens, 0);
    assert_float_equal(r.cost_usd, 0, 1e-12);
    agent_report_fini(&r);

    /* 500 with retries: the retry is visible while it happens. */
    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_CLAUDE, "agent-samples/claude-api-error-500-retries.stream-json.jsonl",
                2, &r);
    assert_false(r.saw_result);
    assert_int_equal(r.api_status, 500);
    assert_string_equal(r.api_error, "API error 500: server_error, retry 1 of 2");
    assert_string_equal(r.last_line, "API error 500: server_error, retry 1 of 2");
    feed_sample(AGENT_FORMAT_CLAUDE, "agent-samples/claude-api-error-500-retries.stream-json.jsonl",
                0, &r);
    assert_true(r.is_error);
    assert_int_equal(r.api_status, 500);
    assert_true(str_has_prefix(r.api_error, "API error 500: mock-llm: MOCK_ERROR 500. This is a "
                                            "server-side issue"));
    agent_report_fini(&r);

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_CLAUDE, "agent-samples/claude-ratelimit-429-max-retries-0.jsonl", 0,
                &r);
    assert_true(r.is_error);
    assert_int_equal(r.api_status, 429);
    assert_true(str_has_prefix(r.api_error, "API error 429: Request rejected (429) \xc2\xb7 This "
                                            "request would exceed the rate limit"));
    assert_true(strlen(r.api_error) <= AGENT_ERROR_MAX);
    assert_int_equal(r.limit_resets_at_ms, -1);
    agent_report_fini(&r);

    /* Killed while claude was still retrying: no result, the last retry says why. */
    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_CLAUDE,
                "agent-samples/claude-ratelimit-529-overloaded-subscriber.jsonl", 0, &r);
    assert_false(r.saw_result);
    assert_int_equal(r.api_status, 529);
    assert_string_equal(r.api_error, "API error 529: overloaded, retry 9 of 10");
    assert_string_equal(r.session_id, "1c6fb116-b7ac-4706-8f35-648366b43c16");
    agent_report_fini(&r);
}

static void
test_parse_claude_usage_limit(void **state)
{
    (void)state;
    struct agent_report r;

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_CLAUDE, "agent-samples/claude-ratelimit-subscription-5h.jsonl", 2, &r);
    assert_int_equal(r.api_status, 429);
    assert_string_equal(r.api_error, "API error 429: usage limit reached (five_hour)");
    assert_int_equal(r.limit_resets_at_ms, 1795518953000LL);
    feed_sample(AGENT_FORMAT_CLAUDE, "agent-samples/claude-ratelimit-subscription-5h.jsonl", 0, &r);
    assert_true(r.is_error);
    assert_int_equal(r.api_status, 429);
    assert_string_equal(
        r.api_error, "API error 429: You've hit your 5-hour limit \xc2\xb7 resets 11:15am (UTC)");
    assert_int_equal(r.limit_resets_at_ms, 1795518953000LL);
    agent_report_fini(&r);

    /* Rejected, waited, then succeeded: no error remains. */
    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_CLAUDE,
                "agent-samples/claude-ratelimit-subscription-watchdog-waits-for-reset.jsonl", 0,
                &r);
    assert_true(r.saw_result);
    assert_false(r.is_error);
    assert_null(r.api_error);
    assert_int_equal(r.api_status, 0);
    assert_int_equal(r.limit_resets_at_ms, -1);
    assert_string_equal(r.result_text, "Hello from mock-llm.");
    agent_report_fini(&r);
}

static void
test_parse_claude_sigint_and_resume(void **state)
{
    (void)state;
    struct agent_report r;

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_CLAUDE, "agent-samples/claude-sigint-mid-request.stream-json.jsonl", 0,
                &r);
    assert_true(r.saw_result);
    assert_true(r.is_error);
    assert_null(r.result_text);
    assert_int_equal(r.api_status, 0);
    assert_string_equal(r.api_error, "error_during_execution: [ede_diagnostic] result_type=user "
                                     "last_content_type=n/a stop_reason=null");
    assert_string_equal(r.session_id, "caaf321b-bbe8-424c-b58b-65f137af0494");
    agent_report_fini(&r);

    /* Two turns on one process (and a resumed session): the newest result counts. */
    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_CLAUDE, "agent-samples/claude-input-stream-json-two-turns.jsonl", 0,
                &r);
    assert_string_equal(r.session_id, "4e3926cf-50b3-43e9-87af-4d2c35ea516e");
    assert_float_equal(r.cost_usd, 0.000416, 1e-12);
    assert_int_equal(r.input_tokens, 12);
    agent_report_fini(&r);

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_CLAUDE, "agent-samples/claude-resume-output-format-json.json", 0, &r);
    assert_string_equal(r.session_id, "4e3926cf-50b3-43e9-87af-4d2c35ea516e");
    assert_string_equal(r.result_text, "Hello from mock-llm.");
    assert_float_equal(r.cost_usd, 0.000624, 1e-12);
    agent_report_fini(&r);
}

/* ---- parsers: codex -------------------------------------------------------------------------- */

static void
test_parse_codex(void **state)
{
    (void)state;
    struct agent_report r;

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_CODEX, "agent-samples/codex-exec-json-say-hi.jsonl", 0, &r);
    assert_string_equal(r.session_id, "01a20cad-476c-7662-b14c-03807959148b");
    assert_string_equal(r.result_text, "Hello from mock-llm.");
    assert_string_equal(r.last_line, "Hello from mock-llm.");
    assert_int_equal(r.input_tokens, 12);
    assert_int_equal(r.output_tokens, 8);
    assert_true(r.cost_usd < 0);
    assert_true(r.saw_result);
    assert_false(r.is_error);
    assert_null(r.api_error); /* the "Model metadata" warning item is not an API error */
    agent_report_fini(&r);

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_CODEX, "agent-samples/codex-exec-json-exec_command-tool-loop.jsonl", 4,
                &r);
    assert_string_equal(r.last_line, "Shell: echo agent-ran-this > proof.txt; cat proof.txt");
    feed_sample(AGENT_FORMAT_CODEX, "agent-samples/codex-exec-json-exec_command-tool-loop.jsonl", 0,
                &r);
    assert_true(str_has_prefix(r.result_text, "TOOL RESULT: Chunk ID: 4e7e7f\nWall time:"));
    assert_string_equal(r.last_line, "agent-ran-this");
    assert_int_equal(r.input_tokens, 24);
    agent_report_fini(&r);

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_CODEX, "agent-samples/codex-exec-resume.jsonl", 0, &r);
    assert_string_equal(r.session_id, "01a20cad-689c-72e1-8bee-97ecca3487ed");
    assert_int_equal(r.input_tokens, 36);
    assert_int_equal(r.output_tokens, 24);
    /* Each turn.completed reports its own turn: several turns add up. */
    feed_sample(AGENT_FORMAT_CODEX, "agent-samples/codex-exec-resume.jsonl", 0, &r);
    assert_int_equal(r.input_tokens, 72);
    assert_int_equal(r.output_tokens, 48);
    agent_report_fini(&r);
}

static void
test_parse_codex_errors(void **state)
{
    (void)state;
    struct agent_report r;

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_CODEX, "agent-samples/codex-exec-json-api-error-400.jsonl", 0, &r);
    assert_true(r.saw_result);
    assert_true(r.is_error);
    assert_string_equal(r.api_error, "invalid_request_error: mock-llm: MOCK_ERROR 400");
    assert_int_equal(r.api_status, 0);
    assert_int_equal(r.input_tokens, -1);
    agent_report_fini(&r);

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_CODEX, "agent-samples/codex-exec-json-api-error-500.jsonl", 0, &r);
    assert_true(r.is_error);
    assert_string_equal(r.api_error, "We\xe2\x80\x99re currently experiencing high demand, which "
                                     "may cause temporary errors.");
    agent_report_fini(&r);

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_CODEX, "agent-samples/codex-ratelimit-429-retry-after-recovered.jsonl",
                4, &r);
    assert_int_equal(r.api_status, 429);
    assert_true(str_has_prefix(r.api_error, "API error 429: Reconnecting... 1/5 (exceeded retry "
                                            "limit, last status: 429"));
    assert_true(str_has_prefix(r.last_line, "API error 429: Reconnecting... 1/5"));
    feed_sample(AGENT_FORMAT_CODEX, "agent-samples/codex-ratelimit-429-retry-after-recovered.jsonl",
                0, &r);
    assert_false(r.is_error);
    assert_null(r.api_error);
    assert_int_equal(r.api_status, 0);
    assert_string_equal(r.result_text, "Hello from mock-llm.");
    agent_report_fini(&r);

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_CODEX, "agent-samples/codex-ratelimit-subscription.jsonl", 0, &r);
    assert_true(r.is_error);
    assert_true(str_has_prefix(r.api_error, "You\xe2\x80\x99ve hit your usage limit."));
    assert_non_null(strstr(r.api_error, "try again at 11:17 AM."));
    agent_report_fini(&r);

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_CODEX,
                "agent-samples/codex-ratelimit-429-retry-after-600s-killed-at-90s.jsonl", 0, &r);
    assert_false(r.saw_result);
    assert_int_equal(r.api_status, 429);
    assert_string_equal(r.session_id, "01a20ce1-f587-7d51-83b4-4b0230ccfb7f");
    agent_report_fini(&r);
}

/* ---- parsers: gemini ------------------------------------------------------------------------- */

static void
test_parse_gemini(void **state)
{
    (void)state;
    struct agent_report r;

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_GEMINI, "agent-samples/gemini-p-say-hi.stream-json.jsonl", 4, &r);
    assert_string_equal(r.last_line, "Hello from"); /* two deltas so far, trimmed */
    feed_sample(AGENT_FORMAT_GEMINI, "agent-samples/gemini-p-say-hi.stream-json.jsonl", 0, &r);
    assert_string_equal(r.session_id, "6be9e420-6399-4690-8c14-022983c08e33");
    /* Fed again: the user message starts a new answer. */
    assert_string_equal(r.result_text, "Hello from mock-llm.");
    agent_report_fini(&r);

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_GEMINI, "agent-samples/gemini-p-say-hi.stream-json.jsonl", 0, &r);
    assert_string_equal(r.result_text, "Hello from mock-llm.");
    assert_string_equal(r.last_line, "Hello from mock-llm.");
    assert_int_equal(r.input_tokens, 24);
    assert_int_equal(r.output_tokens, 16);
    assert_true(r.cost_usd < 0);
    assert_true(r.saw_result);
    assert_false(r.is_error);
    agent_report_fini(&r);

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_GEMINI,
                "agent-samples/gemini-p-yolo-shell-tool-loop.stream-json.jsonl", 3, &r);
    assert_string_equal(r.last_line,
                        "run_shell_command: echo agent-ran-this > proof.txt; cat proof.txt");
    feed_sample(AGENT_FORMAT_GEMINI,
                "agent-samples/gemini-p-yolo-shell-tool-loop.stream-json.jsonl", 0, &r);
    assert_string_equal(r.result_text, "TOOL RESULT: {\"output\": \"<untrusted_context>\\nOutput: "
                                       "agent-ran-this\\nProcess Group PGID: "
                                       "26428\\n</untrusted_context>\"}");
    assert_int_equal(r.input_tokens, 36);
    agent_report_fini(&r);

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_GEMINI, "agent-samples/gemini-ratelimit-429-retryinfo-recovered.jsonl",
                0, &r);
    assert_string_equal(r.result_text, "Hello from mock-llm.");
    assert_false(r.is_error);
    agent_report_fini(&r);

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_GEMINI,
                "agent-samples/gemini-ratelimit-subscription-capacity-silent-wait.jsonl", 0, &r);
    assert_string_equal(r.session_id, "70555602-f3da-4100-8899-7fc2dd54778c");
    assert_false(r.saw_result);
    assert_null(r.result_text);
    agent_report_fini(&r);
}

static void
test_parse_gemini_errors(void **state)
{
    (void)state;
    struct agent_report r;

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_GEMINI, "agent-samples/gemini-p-api-error-400.stream-json.jsonl", 0,
                &r);
    assert_true(r.saw_result);
    assert_true(r.is_error);
    assert_int_equal(r.api_status, 400);
    assert_string_equal(r.api_error, "API error 400: INVALID_ARGUMENT: mock-llm: MOCK_ERROR 400");
    assert_int_equal(r.input_tokens, 0);
    agent_report_fini(&r);

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_GEMINI,
                "agent-samples/gemini-ratelimit-429-retryinfo-default-attempts.jsonl", 0, &r);
    assert_true(r.is_error);
    assert_true(str_has_prefix(r.api_error, "You exceeded your current quota, please check"));
    assert_non_null(strstr(r.api_error, " Please retry in 2.000000s. Suggested retry after 2s. "
                                        "Please wait and try again later."));
    assert_null(strchr(r.api_error, '\n'));
    agent_report_fini(&r);

    agent_report_init(&r);
    feed_sample(AGENT_FORMAT_GEMINI, "agent-samples/gemini-ratelimit-503-overloaded.jsonl", 0, &r);
    assert_string_equal(r.api_error, "The model is overloaded. Please try again later.");
    agent_report_fini(&r);
}

/* ---- text format, garbage and bounds --------------------------------------------------------- */

static void
test_parse_text(void **state)
{
    (void)state;
    struct agent_report r;

    agent_report_init(&r);
    feed(AGENT_FORMAT_TEXT, "first", &r);
    feed(AGENT_FORMAT_TEXT, "  second answer \r", &r);
    feed(AGENT_FORMAT_TEXT, "", &r);
    feed(AGENT_FORMAT_TEXT, "   \t", &r);
    assert_string_equal(r.result_text, "second answer");
    assert_string_equal(r.last_line, "second answer");
    assert_false(r.saw_result);
    agent_parse_line(AGENT_FORMAT_TEXT, "a\xff\0b", 4, &r);
    assert_string_equal(r.result_text, "a\xef\xbf\xbd\xe2\x90\x80"
                                       "b");
    assert_true(str_is_utf8(r.last_line, strlen(r.last_line)));
    feed(AGENT_FORMAT_TEXT, "{\"type\":\"result\",\"result\":\"x\"}", &r);
    assert_string_equal(r.result_text, "{\"type\":\"result\",\"result\":\"x\"}");
    agent_report_fini(&r);
}

static void
test_parse_garbage(void **state)
{
    (void)state;
    static const char *const lines[] = {
        "",
        "not json",
        "[]",
        "null",
        "42",
        "\"str\"",
        "{",
        "}",
        "{}",
        "{\"type\":5}",
        "{\"type\":null,\"session_id\":7}",
        "{\"type\":\"result\",\"usage\":\"x\",\"total_cost_usd\":\"y\",\"result\":7,"
        "\"is_error\":\"yes\",\"errors\":5}",
        "{\"type\":\"result\",\"usage\":{\"input_tokens\":1.5},\"subtype\":\"error_x\","
        "\"errors\":[null]}",
        "{\"type\":\"assistant\",\"message\":{\"content\":\"notarray\"}}",
        "{\"type\":\"assistant\",\"message\":{\"content\":[5,null,{\"type\":7},{\"type\":"
        "\"tool_use\"},{\"type\":\"tool_use\",\"name\":\"X\",\"input\":[1]}]}}",
        "{\"type\":\"assistant\",\"message\":[],\"api_error_status\":\"x\"}",
        "{\"type\":\"system\",\"subtype\":\"api_retry\",\"error_status\":99999999999}",
        "{\"type\":\"rate_limit_event\",\"rate_limit_info\":{\"status\":\"rejected\","
        "\"resetsAt\":-5}}",
        "{\"type\":\"rate_limit_event\",\"rate_limit_info\":{\"status\":\"rejected\","
        "\"resetsAt\":1e300}}",
        "{\"type\":\"item.completed\",\"item\":{\"type\":\"agent_message\",\"text\":[]}}",
        "{\"type\":\"item.started\",\"item\":{\"type\":\"command_execution\",\"command\":\"sh -c '\"}}",
        "{\"type\":\"item.started\",\"item\":{\"type\":\"command_execution\",\"command\":\"x sh -lc ''\"}}",
        "{\"type\":\"item.completed\",\"item\":{\"type\":\"file_change\",\"changes\":{}}}",
        "{\"type\":\"turn.failed\",\"error\":\"flat\"}",
        "{\"type\":\"turn.completed\",\"usage\":[]}",
        "{\"type\":\"error\"}",
        "{\"type\":\"message\",\"role\":\"assistant\",\"content\":{}}",
        "{\"type\":\"tool_use\",\"parameters\":null}",
        "{\"type\":\"result\",\"status\":7,\"error\":{\"message\":[]}}",
        "{\"type\":\"error\",\"severity\":\"warning\",\"message\":\"just a warning\"}",
        "{\"type\":\"result\",\"result\":\"{\\\"error\\\":{\\\"message\\\":1}}\",\"is_error\":true,"
        "\"api_error_status\":500}",
        "{\"type\":\"result\",\"is_error\":true,\"api_error\":\"x\",\"result\":\"[API Error: ]\"}",
        "{\"a\":{\"b\":{\"c\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]"
        "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}}",
        "{\"session_id\":\"good\",\"type\":\"x\",\"session_id\":\"dup\"}",
        "{\"type\":\"result\",\"result\":\"\xff\xfe\"}",
        "\xef\xbb\xbf{\"type\":\"init\",\"session_id\":\"bom\"}",
    };
    static const enum agent_format formats[] = { AGENT_FORMAT_CLAUDE, AGENT_FORMAT_CODEX,
                                                 AGENT_FORMAT_GEMINI, AGENT_FORMAT_TEXT };
    char *brackets = repeat('[', 100000), *deep = xasprintf("{\"a\":%s", brackets);
    char *huge = repeat(' ', AGENT_LINE_MAX + 2);
    char nul_line[] = "{\"type\":\"init\",\"session_id\":\"a\0b\"}";
    struct agent_report r;

    huge[0] = '{';
    for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
        agent_report_init(&r);
        for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
            feed(formats[f], lines[i], &r);
        }
        agent_parse_line(formats[f], deep, strlen(deep), &r);
        agent_parse_line(formats[f], huge, strlen(huge), &r);
        agent_parse_line(formats[f], nul_line, sizeof(nul_line) - 1, &r);
        agent_parse_line(formats[f], NULL, 5, &r);
        agent_parse_line(formats[f], "x", 1, NULL);
        /* Whatever was kept is valid, bounded text. */
        if (r.session_id != NULL) {
            assert_true(str_is_utf8(r.session_id, strlen(r.session_id)));
            assert_string_not_equal(r.session_id, "bom");
        }
        if (r.result_text != NULL) {
            assert_int_equal(strlen(r.result_text), r.result_len);
            assert_true(str_is_utf8(r.result_text, r.result_len));
        }
        if (r.last_line != NULL) {
            assert_true(strlen(r.last_line) <= AGENT_LAST_LINE_MAX);
            assert_true(str_is_utf8(r.last_line, strlen(r.last_line)));
        }
        if (r.api_error != NULL) {
            assert_true(strlen(r.api_error) <= AGENT_ERROR_MAX);
        }
        assert_true(r.limit_resets_at_ms == -1);
        agent_report_fini(&r);
    }
    agent_parse_line((enum agent_format)99, "{\"type\":\"result\"}", 18, &r);
    free(deep);
    free(brackets);
    free(huge);
}

static void
test_report_bounds(void **state)
{
    (void)state;
    struct agent_report r;
    struct buf b;
    char *e2 = NULL;

    /* A long multi-byte last line is cut on a character boundary. */
    buf_init(&b);
    buf_adds(&b, "{\"type\":\"item.completed\",\"item\":{\"type\":\"agent_message\",\"text\":\"");
    for (int i = 0; i < 700; i++) {
        buf_adds(&b, "\xc3\xa9");
    }
    buf_adds(&b, "\"}}");
    agent_report_init(&r);
    agent_parse_line(AGENT_FORMAT_CODEX, b.data, b.len, &r);
    assert_int_equal(strlen(r.last_line), AGENT_LAST_LINE_MAX);
    assert_true(str_is_utf8(r.last_line, AGENT_LAST_LINE_MAX));
    assert_int_equal(r.result_len, 1400);
    agent_report_fini(&r);
    buf_fini(&b);

    /* A long error is bounded too. */
    e2 = xasprintf("{\"type\":\"error\",\"message\":\"%0*d\"}", 5000, 7);
    agent_report_init(&r);
    feed(AGENT_FORMAT_CODEX, e2, &r);
    assert_int_equal(strlen(r.api_error), AGENT_ERROR_MAX);
    agent_report_fini(&r);
    free(e2);

    /* Gemini deltas stop adding at AGENT_RESULT_MAX; last_line stays bounded. */
    char *chunk = repeat('z', 60000);
    char *line = xasprintf("{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"%s\","
                           "\"delta\":true}",
                           chunk);
    agent_report_init(&r);
    for (int i = 0; i < 20; i++) {
        feed(AGENT_FORMAT_GEMINI, line, &r);
    }
    assert_int_equal(r.result_len, AGENT_RESULT_MAX);
    assert_int_equal(strlen(r.result_text), AGENT_RESULT_MAX);
    assert_int_equal(strlen(r.last_line), AGENT_LAST_LINE_MAX);
    /* A tool call starts a new answer. */
    feed(AGENT_FORMAT_GEMINI,
         "{\"type\":\"tool_use\",\"tool_name\":\"read_file\","
         "\"parameters\":{\"file_path\":\"a.c\"}}",
         &r);
    assert_null(r.result_text);
    assert_int_equal(r.result_len, 0);
    assert_string_equal(r.last_line, "read_file: a.c");
    agent_report_fini(&r);
    free(chunk);
    free(line);

    /* Session ids longer than 256 bytes are not ids. */
    char *sid = repeat('s', 300);
    line = xasprintf("{\"type\":\"thread.started\",\"thread_id\":\"%s\"}", sid);
    agent_report_init(&r);
    feed(AGENT_FORMAT_CODEX, line, &r);
    assert_null(r.session_id);
    agent_report_fini(&r);
    free(line);
    free(sid);
}

/* ---- round trip through the fake agents ------------------------------------------------------ */

/* Runs cmd in dir, feeding its stdout to a report; returns the exit status (-1: not run). */
static int
run_cmd(const struct agent_cmd *cmd, const char *dir, enum agent_format f, struct agent_report *r)
{
    char *prog = fs_find_exec(cmd->argv[0], agent_cmd_getenv(cmd, "PATH"));
    int fds[2], status = -1;
    struct buf out;
    pid_t pid;
    time_t deadline = time(NULL) + 30;

    if (prog == NULL || pipe(fds) != 0) {
        free(prog);
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(fds[1], 1);
        close(fds[0]);
        if (chdir(dir) != 0) {
            _exit(126);
        }
        execve(prog, cmd->argv, cmd->envp);
        _exit(127);
    }
    close(fds[1]);
    buf_init(&out);
    for (;;) {
        struct pollfd p = { .fd = fds[0], .events = POLLIN };
        char chunk[4096];
        ssize_t n;
        if (time(NULL) > deadline) {
            kill(pid, SIGKILL);
            break;
        }
        if (poll(&p, 1, 1000) <= 0) {
            continue;
        }
        n = read(fds[0], chunk, sizeof(chunk));
        if (n <= 0) {
            break;
        }
        buf_add(&out, chunk, (size_t)n);
    }
    close(fds[0]);
    waitpid(pid, &status, 0);
    for (char *p = out.data; p != NULL && p < out.data + out.len;) {
        char *nl = memchr(p, '\n', (size_t)(out.data + out.len - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(out.data + out.len - p);
        agent_parse_line(f, p, n, r);
        p += n + 1;
    }
    buf_fini(&out);
    free(prog);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The last record of the fake agents' log, as JSON. */
static json_t *
last_log_record(const char *path)
{
    size_t len = 0;
    char *data = fs_read_file(path, 1 << 20, &len, NULL), *last;
    json_t *v;
    assert_non_null(data);
    data[len - 1] = '\0'; /* drop the final newline */
    last = strrchr(data, '\n');
    v = json_loads(last ? last + 1 : data, 0, NULL);
    free(data);
    assert_non_null(v);
    return v;
}

static void
test_fake_agents_round_trip(void **state)
{
    (void)state;
    char *fixtures = fixture_path(""), *fakes = xasprintf("%s/../fake-agents", fixtures);
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *dir = xasprintf("%s/test-agents.XXXXXX", tmp), *log, *path;
    static const char *const drivers[] = { "claude", "codex", "gemini" };
    char *python = fs_find_exec("python3", getenv("PATH"));
    json_t *client;

    if (python == NULL) {
        free(dir);
        free(fixtures);
        free(fakes);
        skip();
    }
    free(python);
    assert_non_null(mkdtemp(dir));
    log = xasprintf("%s/fake.log", dir);
    path = xasprintf("%s:%s", fakes, getenv("PATH"));
    client = json_pack("{s:s, s:s, s:s}", "PATH", path, "FAKE_AGENT_LOG", log, "CLAUDECODE", "1");
    for (size_t i = 0; i < 3; i++) {
        struct agent_config cfg = { .model = "m-1", .system_prompt = "-sys \"q\"" };
        struct agent_run_spec s = spec_basic("-x [lines=2] [exit=3]", client, &cfg);
        struct agent_report r;
        struct agent_cmd cmd;
        json_t *rec, *argv;

        s.resume_session = "11111111-2222-4333-8444-555555555555";
        build_ok(drivers[i], &s, &cmd);
        agent_report_init(&r);
        assert_int_equal(run_cmd(&cmd, dir, agent_find(drivers[i])->format, &r), 3);
        assert_string_equal(r.session_id, "11111111-2222-4333-8444-555555555555");
        assert_true(r.saw_result);
        assert_false(r.is_error);
        assert_int_equal(r.input_tokens, 12);
        assert_int_equal(r.output_tokens, 8);
        if (i == 2) {
            assert_string_equal(r.result_text, "line 1\nline 2\nHello from fake gemini.");
        } else {
            assert_string_equal(r.result_text,
                                i == 0 ? "Hello from fake claude." : "Hello from fake codex.");
        }
        /* The fake saw exactly our argv, prompt, model, system prompt and environment. */
        rec = last_log_record(log);
        argv = json_object_get(rec, "argv");
        assert_int_equal(json_array_size(argv), strv_len(cmd.argv));
        for (size_t k = 0; k < json_array_size(argv); k++) {
            assert_string_equal(json_string_value(json_array_get(argv, k)), cmd.argv[k]);
        }
        assert_string_equal(json_string_value(json_object_get(rec, "model")), "m-1");
        assert_string_equal(json_string_value(json_object_get(rec, "resume")),
                            "11111111-2222-4333-8444-555555555555");
        if (i < 2) {
            assert_string_equal(json_string_value(json_object_get(rec, "prompt")),
                                "-x [lines=2] [exit=3]");
            assert_string_equal(json_string_value(json_object_get(rec, "system_prompt")),
                                "-sys \"q\"");
        }
        json_t *env = json_object_get(rec, "env");
        assert_string_equal(json_string_value(json_object_get(env, "BACKBEAT_TASK_ID")), "task-1");
        assert_int_equal(json_object_get(env, "CLAUDECODE") == NULL, i == 0);
        json_decref(rec);
        agent_report_fini(&r);
        agent_cmd_fini(&cmd);
    }
    json_decref(client);
    unlink(log);
    rmdir(dir);
    free(dir);
    free(log);
    free(path);
    free(fixtures);
    free(fakes);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_claude_minimal),
        cmocka_unit_test(test_claude_full),
        cmocka_unit_test(test_api_key_only_when_unset),
        cmocka_unit_test(test_config_env_overrides),
        cmocka_unit_test(test_codex),
        cmocka_unit_test(test_gemini),
        cmocka_unit_test(test_prompt_starting_with_dash),
        cmocka_unit_test(test_oversize_arguments),
        cmocka_unit_test(test_environment_bounds),
        cmocka_unit_test(test_invalid_fields),
        cmocka_unit_test(test_template),
        cmocka_unit_test(test_parse_claude_say_hi),
        cmocka_unit_test(test_parse_claude_tool_loop),
        cmocka_unit_test(test_parse_claude_api_errors),
        cmocka_unit_test(test_parse_claude_usage_limit),
        cmocka_unit_test(test_parse_claude_sigint_and_resume),
        cmocka_unit_test(test_parse_codex),
        cmocka_unit_test(test_parse_codex_errors),
        cmocka_unit_test(test_parse_gemini),
        cmocka_unit_test(test_parse_gemini_errors),
        cmocka_unit_test(test_parse_text),
        cmocka_unit_test(test_parse_garbage),
        cmocka_unit_test(test_report_bounds),
        cmocka_unit_test(test_fake_agents_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
