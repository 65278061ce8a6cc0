/* Unit tests for agents/agent-conf.c: the rules of every agents.<name> field (and that messages
 * never quote a secret), command-line values, whole-object checks, settings that cannot reach a
 * user-defined agent, and the exact argv and environment built for built-in and user-defined
 * agents from their configuration (placeholders, extraArgs, apiKeyEnv, baseUrlEnv, env). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* cmocka needs setjmp.h, stdarg.h and stddef.h first. */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include "agents/agent.h"
#include "util/fsutil.h"
#include "util/str.h"
#include "util/xmalloc.h"

/* Parses a JSON literal. */
static json_t *
J(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (v == NULL) {
        fail_msg("bad JSON literal %s: %s", text, je.text);
    }
    return v;
}

/* Asserts that argv equals the NULL-terminated list want. */
static void
assert_argv(char *const *argv, const char *const *want)
{
    size_t i = 0;
    for (; want[i] != NULL; i++) {
        if (argv[i] == NULL || strcmp(argv[i], want[i]) != 0) {
            fail_msg("argv[%zu]: got '%s', want '%s'", i, argv[i] ? argv[i] : "(end)", want[i]);
        }
    }
    if (argv[i] != NULL) {
        fail_msg("argv[%zu]: got extra '%s'", i, argv[i]);
    }
}

static void
test_names(void **state)
{
    (void)state;
    static const char *const good[] = { "a",       "claude", "my-agent",
                                        "aider_2", "x0",     "abcdefghijklmnopqrstuvwxyz012345" };
    static const char *const bad[] = { "",   "A",   "1abc",
                                       "-x", "_x",  "my agent",
                                       "Ab", "a.b", "a/b",
                                       "é",  "a\n", "abcdefghijklmnopqrstuvwxyz0123456" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_true(agent_conf_name_ok(good[i]));
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (agent_conf_name_ok(bad[i])) {
            fail_msg("'%s' accepted as an agent name", bad[i]);
        }
    }
    assert_false(agent_conf_name_ok(NULL));
    assert_string_equal(AGENT_CONF_NAME_PATTERN, "^[a-z][a-z0-9_-]{0,31}$");
}

static void
test_fields_table(void **state)
{
    (void)state;
    size_t n = 0;
    for (const char *const *f = agent_conf_fields(); *f; f++, n++) {
        assert_true(agent_conf_field_known(*f));
        assert_non_null(agent_conf_field_help(*f));
        assert_non_null(agent_conf_field_rule(*f));
        assert_true(agent_conf_field_applies(*f, false)); /* every field fits a user agent */
    }
    assert_int_equal(n, 12);
    assert_false(agent_conf_field_known("modle"));
    assert_false(agent_conf_field_applies("command", true));
    assert_false(agent_conf_field_applies("parser", true));
    assert_false(agent_conf_field_applies("apiKeyEnv", true));
    assert_true(agent_conf_field_applies("model", true));
    assert_true(agent_conf_field_applies("maxConcurrent", true));
    assert_true(agent_conf_field_applies("env", true));
    assert_true(agent_conf_field_quiet("apiKey"));
    assert_true(agent_conf_field_quiet("env"));
    assert_true(agent_conf_field_quiet("baseUrl"));
    assert_false(agent_conf_field_quiet("model"));
}

struct field_case {
    const char *field;
    const char *json;
    const char *want; /* NULL: valid; else a substring of the message */
};

static const struct field_case field_cases[] = {
    { "command", "[\"mytool\", \"--\", \"{prompt}\"]", NULL },
    { "command", "[\"/opt/x/bin/tool\", \"--message={prompt}\", \"--model={model}\"]", NULL },
    { "command", "[\"mytool\"]", "no argument holds {prompt}" },
    { "command", "[\"{prompt}\"]", "command[0]: the program must be" },
    { "command", "[\"\", \"{prompt}\"]", "command[0]: the program must be" },
    { "command", "[]", "must be an array of 1 to 256 strings" },
    { "command", "\"mytool {prompt}\"", "must be an array" },
    { "command", "[\"x\", 3, \"{prompt}\"]", "command[1]: must be a string" },
    { "command", "[\"x\", \"--m={model}:{prompt}\"]", "must not share an argument" },
    { "env", "{\"A\": \"1\", \"_B2\": \"\"}", NULL },
    { "env", "{\"2A\": \"1\"}", "is not a variable name" },
    { "env", "{\"A=B\": \"1\"}", "is not a variable name" },
    { "env", "{\"A\": 1}", "env.A: must be a string" },
    { "env", "[]", "must be an object" },
    { "parser", "\"text\"", NULL },
    { "parser", "\"gemini\"", NULL },
    { "parser", "\"json\"", "must be one of text, claude, codex, gemini (got \"json\")" },
    { "model", "\"claude-opus-4.1\"", NULL },
    { "model", "\"openrouter/meta-llama/llama-3:free\"", NULL },
    { "model", "\"-x\"", "not starting with -" },
    { "model", "\"a b\"", "(got \"a b\")" },
    { "model", "\"\"", "must be 1 to 200" },
    { "model", "42", "(got 42)" },
    { "baseUrl", "\"http://127.0.0.1:8080\"", NULL },
    { "baseUrl", "\"https://api.example.com/v1\"", NULL },
    { "baseUrl", "\"ftp://x\"", "must be an http:// or https:// URL" },
    { "baseUrl", "\"http://\"", "must be an http" },
    { "baseUrl", "\"http://a b\"", "(got a string)" },
    { "baseUrl", "\"http://x/{prompt}\"", "braces" },
    { "systemPrompt", "\"Be terse.\\nAlways.\"", NULL },
    { "systemPrompt", "\"\"", "1 to 16000 bytes" },
    { "extraArgs", "[]", NULL },
    { "extraArgs", "[\"--allowedTools\", \"Bash\"]", NULL },
    { "extraArgs", "[\"ok\", null]", "extraArgs[1]: must be a string" },
    { "extraArgs", "{}", "must be an array of at most 256 strings" },
    { "apiKey", "\"sk-ant-api03-0123456789\"", NULL },
    { "apiKey", "\"-sk-oops-secret\"", "not starting with -" },
    { "apiKey", "\"sk-with\\nnewline-secret\"", "without control characters" },
    { "apiKey", "12345678901234", "(got an integer)" },
    { "apiKeyEnv", "\"MY_KEY\"", NULL },
    { "apiKeyEnv", "\"MY-KEY\"", "environment variable name" },
    { "baseUrlEnv", "\"MY_URL\"", NULL },
    { "maxConcurrent", "1", NULL },
    { "maxConcurrent", "1024", NULL },
    { "maxConcurrent", "0", "must be an integer 1..1024 (got 0)" },
    { "maxConcurrent", "1025", "(got 1025)" },
    { "maxConcurrent", "2.0", "(got a real number)" },
    { "maxConcurrent", "\"2\"", "(got \"2\")" },
    { "description", "\"Aider, the pair programmer\"", NULL },
    { "description", "\"two\\nlines\"", "without control characters" },
    { "nope", "1", "unknown field 'nope'" },
};

static void
test_field_rules(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof field_cases / sizeof field_cases[0]; i++) {
        const struct field_case *c = &field_cases[i];
        json_t *v = J(c->json);
        struct err e = { 0 };
        int rc = agent_conf_check_field("mine", c->field, v, &e);
        if (c->want == NULL && rc != 0) {
            fail_msg("case %zu (%s=%s): refused: %s", i, c->field, c->json, e.msg);
        }
        if (c->want != NULL && (rc == 0 || strstr(e.msg, c->want) == NULL)) {
            fail_msg("case %zu (%s=%s): want \"%s\", got rc=%d \"%s\"", i, c->field, c->json,
                     c->want, rc, e.msg);
        }
        if (c->want != NULL) {
            assert_int_equal(e.code, ERR_INVALID);
            assert_true(str_has_prefix(e.msg, "agents.mine"));
        }
        json_decref(v);
    }
}

/* No message about a quiet field quotes its value. */
static void
test_secrets_never_quoted(void **state)
{
    (void)state;
    static const struct {
        const char *field, *json;
    } cases[] = {
        { "apiKey", "\"-sk-SECRETSECRET\"" },
        { "apiKey", "\"SECRET\\u0001SECRET\"" },
        { "env", "{\"TOKEN\": 5, \"SECRETSECRET\": 1}" },
        { "env", "{\"K\": \"SECRETSECRET\\u0000x\"}" },
        { "baseUrl", "\"https://user:SECRETSECRET@host x\"" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        assert_non_null(v);
        struct err e = { 0 };
        assert_int_equal(agent_conf_check_field("x", cases[i].field, v, &e), -1);
        if (strstr(e.msg, "SECRETSECRET") != NULL && strcmp(cases[i].field, "env") != 0) {
            fail_msg("case %zu quotes the secret: %s", i, e.msg);
        }
        if (strcmp(cases[i].field, "env") == 0 && strstr(e.msg, "SECRETSECRET\"") != NULL) {
            fail_msg("case %zu quotes an env value: %s", i, e.msg);
        }
        json_decref(v);
    }
    /* A command-line value that is not JSON: the position, never jansson's "near '...'". */
    struct err e = { 0 };
    assert_null(agent_conf_parse_value("x", "env", "{\"K\": SECRETSECRET}", &e));
    assert_null(strstr(e.msg, "SECRETSECRET"));
    assert_non_null(strstr(e.msg, "invalid JSON at line 1 column"));
}

static void
test_parse_value(void **state)
{
    (void)state;
    struct err e = { 0 };
    json_t *v = agent_conf_parse_value("x", "model", "opus", &e);
    assert_string_equal(json_string_value(v), "opus");
    json_decref(v);
    v = agent_conf_parse_value("x", "systemPrompt", "[not json] is fine", &e);
    assert_string_equal(json_string_value(v), "[not json] is fine");
    json_decref(v);
    v = agent_conf_parse_value("x", "maxConcurrent", " 3 ", &e);
    assert_int_equal(json_integer_value(v), 3);
    json_decref(v);
    assert_null(agent_conf_parse_value("x", "maxConcurrent", "3x", &e));
    assert_non_null(
        strstr(e.msg, "agents.x.maxConcurrent: must be an integer 1..1024 (got \"3x\")"));
    assert_null(agent_conf_parse_value("x", "maxConcurrent", "", &e));
    v = agent_conf_parse_value("x", "command", "[\"a\", \"{prompt}\"]", &e);
    assert_int_equal(json_array_size(v), 2);
    json_decref(v);
    assert_null(agent_conf_parse_value("x", "command", "a {prompt}", &e));
    assert_non_null(strstr(e.msg, "agents.x.command: must be JSON text, an array, for example"));
    v = agent_conf_parse_value("x", "env", "{\"A\": \"b\"}", &e);
    assert_true(json_is_object(v));
    json_decref(v);
    assert_null(agent_conf_parse_value("x", "env", "{\"A\": \"b\", \"A\": \"c\"}", &e));
    assert_null(agent_conf_parse_value("x", "model", "\xff\xfe", &e));
    assert_non_null(strstr(e.msg, "valid UTF-8"));
    assert_null(agent_conf_parse_value("x", "modle", "x", &e));
    assert_non_null(strstr(e.msg, "unknown field 'modle'"));
}

static void
test_whole_object(void **state)
{
    (void)state;
    static const struct {
        const char *name, *json, *want;
    } cases[] = {
        { "mine", "{\"command\": [\"t\", \"{prompt}\"], \"parser\": \"claude\"}", NULL },
        { "claude", "{\"model\": \"opus\", \"maxConcurrent\": 2, \"env\": {}}", NULL },
        { "claude", "{}", NULL },
        { "mine", "{\"model\": \"m\"}", "agents.mine.command: missing" },
        { "claude", "{\"command\": [\"t\", \"{prompt}\"]}",
          "claude is a built-in agent, and only user-defined agents take command" },
        { "codex", "{\"parser\": \"text\"}", "only user-defined agents take parser" },
        { "mine", "{\"command\": [\"t\", \"{prompt}\"], \"modle\": \"m\"}",
          "unknown field 'modle'" },
        { "mine", "[]", "agents.mine: must be an object (got an array)" },
        { "My", "{}", "not a valid agent name" },
        { "mine", "{\"command\": [\"t\", \"{prompt}\"], \"maxConcurrent\": 0}",
          "maxConcurrent: must be an integer 1..1024" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = J(cases[i].json);
        struct err e = { 0 };
        int rc = agent_conf_check(cases[i].name, v, &e);
        if (cases[i].want == NULL ? rc != 0 : rc == 0 || strstr(e.msg, cases[i].want) == NULL) {
            fail_msg("case %zu: want %s, got rc=%d \"%s\"", i,
                     cases[i].want ? cases[i].want : "success", rc, e.msg);
        }
        json_decref(v);
    }
}

static void
test_unused(void **state)
{
    (void)state;
    json_t *v = J("{\"command\": [\"t\", \"{prompt}\"], \"apiKey\": \"k0123456789\", "
                  "\"baseUrl\": \"http://h\", \"model\": \"m\"}");
    char **notes = agent_conf_unused("mine", v);
    assert_int_equal(strv_len(notes), 3);
    assert_non_null(strstr(notes[0], "agents.mine.apiKey is not passed to mine"));
    assert_null(strstr(notes[0], "k0123456789"));
    assert_non_null(strstr(notes[1], "agents.mine.baseUrl is not passed"));
    assert_non_null(strstr(notes[2], "agents.mine.model is not passed to mine: its command has "
                                     "no {model}"));
    strv_free(notes);
    json_decref(v);

    v = J("{\"command\": [\"t\", \"--url={baseUrl}\", \"{prompt}\"], \"apiKey\": \"k\", "
          "\"apiKeyEnv\": \"K\", \"baseUrl\": \"http://h\", \"model\": \"m\", "
          "\"extraArgs\": [\"--model\", \"{model}\"]}");
    notes = agent_conf_unused("mine", v);
    assert_int_equal(strv_len(notes), 0);
    strv_free(notes);
    notes = agent_conf_unused("claude", v); /* built-ins take everything their own way */
    assert_int_equal(strv_len(notes), 0);
    strv_free(notes);
    /* except gemini's baseUrl, which needs a settings pin we do not write */
    notes = agent_conf_unused("gemini", v);
    assert_int_equal(strv_len(notes), 1);
    assert_non_null(strstr(notes[0], "security.auth.selectedType"));
    strv_free(notes);
    json_decref(v);
}

/* Builds name's command from a JSON configuration; returns 0 or -1 with e set. */
static int
build(const char *name, const char *conf, const struct agent_run_spec *spec, struct agent_cmd *cmd,
      struct err *e)
{
    json_t *obj = conf ? J(conf) : NULL;
    struct agent_conf ac;
    int rc = agent_conf_load(name, obj, &ac, e);
    if (rc == 0) {
        rc = agent_conf_build(&ac, spec, cmd, e);
    }
    agent_conf_fini(&ac);
    json_decref(obj);
    return rc;
}

#define TASK_ID "task-123e4567-e89b-42d3-a456-426614174000"

static void
test_build_builtin(void **state)
{
    (void)state;
    json_t *env = J("{\"PATH\": \"/bin\", \"CLAUDECODE\": \"1\"}");
    struct agent_run_spec spec = {
        .task_id = TASK_ID, .prompt = "fix it", .working_directory = "/tmp", .client_env = env
    };
    struct agent_cmd cmd = { 0 };
    struct err e = { 0 };
    assert_int_equal(build("claude",
                           "{\"model\": \"opus\", \"baseUrl\": \"http://127.0.0.1:9\", "
                           "\"apiKey\": \"sk-ant-0123456789\", \"systemPrompt\": \"Be terse.\", "
                           "\"extraArgs\": [\"--allowedTools\", \"Bash\"], "
                           "\"env\": {\"CLAUDE_CODE_MAX_RETRIES\": \"0\"}}",
                           &spec, &cmd, &e),
                     0);
    assert_argv(cmd.argv,
                (const char *[]){ "claude", "-p", "--output-format", "stream-json", "--verbose",
                                  "--model", "opus", "--append-system-prompt", "Be terse.",
                                  "--allowedTools", "Bash", "--", "fix it", NULL });
    assert_string_equal(agent_cmd_getenv(&cmd, "ANTHROPIC_BASE_URL"), "http://127.0.0.1:9");
    assert_string_equal(agent_cmd_getenv(&cmd, "ANTHROPIC_API_KEY"), "sk-ant-0123456789");
    assert_string_equal(agent_cmd_getenv(&cmd, "CLAUDE_CODE_MAX_RETRIES"), "0");
    assert_null(agent_cmd_getenv(&cmd, "CLAUDECODE"));
    agent_cmd_fini(&cmd);

    /* The per-task model wins; nothing configured is fine for a built-in. */
    spec.model = "haiku";
    assert_int_equal(build("codex", NULL, &spec, &cmd, &e), 0);
    assert_argv(cmd.argv, (const char *[]){ "codex", "exec", "--json", "--skip-git-repo-check",
                                            "--model", "haiku", "--", "fix it", NULL });
    agent_cmd_fini(&cmd);

    /* Not built-in and not configured. */
    struct agent_conf ac;
    assert_int_equal(agent_conf_load("aider", NULL, &ac, &e), -1);
    assert_int_equal(e.code, ERR_NOTFOUND);
    agent_conf_fini(&ac);
    json_decref(env);
}

static void
test_build_user(void **state)
{
    (void)state;
    json_t *env = J("{\"PATH\": \"/bin\", \"MY_KEY\": \"\"}");
    struct agent_run_spec spec = { .task_id = TASK_ID,
                                   .prompt = "say \"hi\"; rm -rf / $(x)",
                                   .working_directory = "/work/dir",
                                   .client_env = env };
    struct agent_cmd cmd = { 0 };
    struct err e = { 0 };
    const char *conf =
        "{\"command\": [\"mytool\", \"--task={taskId}\", \"--cwd\", \"{workdir}\", "
        "\"--model={model}\", \"--url={baseUrl}\", \"--resume={session}\", \"--\", \"{prompt}\"],"
        " \"extraArgs\": [\"--fast\", \"--tag={taskId}\"], \"apiKey\": \"k-0123456789\", "
        "\"apiKeyEnv\": \"MY_KEY\", \"baseUrl\": \"http://10.0.0.1:4000\", "
        "\"baseUrlEnv\": \"MY_URL\", \"env\": {\"MY_URL\": \"http://override\", \"X\": \"y\"}, "
        "\"parser\": \"codex\", \"maxConcurrent\": 2, \"description\": \"Mine\"}";

    /* No model, no session: their arguments are left out; the prompt stays one argument. */
    assert_int_equal(build("mine", conf, &spec, &cmd, &e), 0);
    assert_argv(cmd.argv,
                (const char *[]){ "mytool", "--task=" TASK_ID, "--cwd", "/work/dir",
                                  "--url=http://10.0.0.1:4000", "--fast", "--tag=" TASK_ID, "--",
                                  "say \"hi\"; rm -rf / $(x)", NULL });
    /* The client's MY_KEY is empty, so the stored key goes in; env overrides baseUrlEnv. */
    assert_string_equal(agent_cmd_getenv(&cmd, "MY_KEY"), "k-0123456789");
    assert_string_equal(agent_cmd_getenv(&cmd, "MY_URL"), "http://override");
    assert_string_equal(agent_cmd_getenv(&cmd, "X"), "y");
    assert_string_equal(agent_cmd_getenv(&cmd, "BACKBEAT_TASK_ID"), TASK_ID);
    assert_string_equal(agent_cmd_getenv(&cmd, "PATH"), "/bin");
    agent_cmd_fini(&cmd);

    /* With a model and a session; the client's own key wins over the stored one. */
    json_t *env2 = J("{\"PATH\": \"/bin\", \"MY_KEY\": \"client-key\"}");
    spec.client_env = env2;
    spec.model = "big";
    spec.resume_session = "sess-1";
    spec.system_prompt = "Be brief.";
    assert_int_equal(build("mine", conf, &spec, &cmd, &e), 0);
    assert_argv(cmd.argv, (const char *[]){ "mytool", "--task=" TASK_ID, "--cwd", "/work/dir",
                                            "--model=big", "--url=http://10.0.0.1:4000",
                                            "--resume=sess-1", "--fast", "--tag=" TASK_ID, "--",
                                            "<system-instructions>\nBe brief.\n"
                                            "</system-instructions>\n\n"
                                            "say \"hi\"; rm -rf / $(x)",
                                            NULL });
    assert_string_equal(agent_cmd_getenv(&cmd, "MY_KEY"), "client-key");
    agent_cmd_fini(&cmd);

    /* The configuration is read once: format, program, cap, description. */
    json_t *obj = J(conf);
    struct agent_conf ac;
    assert_int_equal(agent_conf_load("mine", obj, &ac, &e), 0);
    assert_int_equal(ac.cfg.format, AGENT_FORMAT_CODEX);
    assert_string_equal(agent_conf_program(&ac), "mytool");
    assert_int_equal(ac.max_concurrent, 2);
    assert_string_equal(ac.description, "Mine");
    assert_null(ac.driver);
    agent_conf_fini(&ac);
    agent_conf_fini(&ac); /* safe twice */
    json_decref(obj);
    json_decref(env2);
    json_decref(env);
}

static void
test_build_user_extra_args_placement(void **state)
{
    (void)state;
    struct agent_run_spec spec = { .task_id = TASK_ID, .prompt = "p", .working_directory = "/" };
    struct agent_cmd cmd = { 0 };
    struct err e = { 0 };
    /* No "--": right before the {prompt} argument. */
    assert_int_equal(build("a",
                           "{\"command\": [\"t\", \"-v\", \"--message={prompt}\", \"-q\"], "
                           "\"extraArgs\": [\"--x\"]}",
                           &spec, &cmd, &e),
                     0);
    assert_argv(cmd.argv, (const char *[]){ "t", "-v", "--x", "--message=p", "-q", NULL });
    agent_cmd_fini(&cmd);
    /* No extraArgs, and a default parser of text. */
    json_t *obj = J("{\"command\": [\"t\", \"{prompt}\"]}");
    struct agent_conf ac;
    assert_int_equal(agent_conf_load("a", obj, &ac, &e), 0);
    assert_int_equal(ac.cfg.format, AGENT_FORMAT_TEXT);
    assert_int_equal(ac.max_concurrent, 0);
    assert_int_equal(agent_conf_build(&ac, &spec, &cmd, &e), 0);
    assert_argv(cmd.argv, (const char *[]){ "t", "p", NULL });
    agent_cmd_fini(&cmd);
    agent_conf_fini(&ac);
    json_decref(obj);
    /* apiKey without apiKeyEnv is not passed anywhere. */
    assert_int_equal(build("a", "{\"command\": [\"t\", \"{prompt}\"], \"apiKey\": \"k123456789\"}",
                           &spec, &cmd, &e),
                     0);
    for (char **p = cmd.envp; *p; p++) {
        assert_null(strstr(*p, "k123456789"));
    }
    agent_cmd_fini(&cmd);
}

static void
test_build_user_bad(void **state)
{
    (void)state;
    struct agent_run_spec spec = { .task_id = TASK_ID, .prompt = "p", .working_directory = "/" };
    struct agent_cmd cmd = { 0 };
    struct err e = { 0 };
    assert_int_equal(build("a", "{\"model\": \"m\"}", &spec, &cmd, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    assert_non_null(strstr(e.msg, "agents.a.command: not set"));
    assert_null(cmd.argv);
    assert_int_equal(build("a", "{\"command\": [\"t\", \"x\"]}", &spec, &cmd, &e), -1);
    assert_non_null(strstr(e.msg, "agents.a.command: no argument holds {prompt}"));
    assert_int_equal(build("a", "{\"command\": [\"\", \"{prompt}\"]}", &spec, &cmd, &e), -1);
    assert_non_null(strstr(e.msg, "agents.a.command: not set"));
    /* The checks of every run still apply (here: an empty prompt). */
    spec.prompt = "";
    assert_int_equal(build("a", "{\"command\": [\"t\", \"{prompt}\"]}", &spec, &cmd, &e), -1);
    assert_non_null(strstr(e.msg, "agent a: prompt: must not be empty"));
    /* Too many arguments once extraArgs are added. */
    spec.prompt = "p";
    char *conf = xstrdup("{\"command\": [\"t\", \"{prompt}\"], \"extraArgs\": [");
    for (int i = 0; i < 300; i++) {
        char *next = xasprintf("%s%s\"a\"", conf, i ? ", " : "");
        free(conf);
        conf = next;
    }
    char *full = xasprintf("%s]}", conf);
    assert_int_equal(build("a", full, &spec, &cmd, &e), -1);
    assert_non_null(strstr(e.msg, "at most 256"));
    free(full);
    free(conf);
}

/* docs/configuration.md describes every field, in its table. */
static void
test_docs_list_every_field(void **state)
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
    for (const char *const *f = agent_conf_fields(); *f; f++) {
        char *row = xasprintf("\n| `%s` |", *f);
        if (strstr(doc, row) == NULL) {
            fail_msg("docs/configuration.md has no table row for agents field %s", *f);
        }
        free(row);
    }
    free(doc);
    free(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_fields_table),
        cmocka_unit_test(test_field_rules),
        cmocka_unit_test(test_secrets_never_quoted),
        cmocka_unit_test(test_parse_value),
        cmocka_unit_test(test_whole_object),
        cmocka_unit_test(test_unused),
        cmocka_unit_test(test_build_builtin),
        cmocka_unit_test(test_build_user),
        cmocka_unit_test(test_build_user_extra_args_placement),
        cmocka_unit_test(test_build_user_bad),
        cmocka_unit_test(test_docs_list_every_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
