/* The operation table: guard checks over every entry, the validator's rules (table-driven),
 * the generated schemas, and CLI parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/op.h"
#include "core/ops.h"
#include "util/json.h"
#include "util/xmalloc.h"

#define ID1 "task-123e4567-e89b-42d3-a456-426614174000"

static bool
name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64) {
        return false;
    }
    for (const char *p = s; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-')) {
            return false;
        }
    }
    return true;
}

static void
test_table_guards(void **state)
{
    (void)state;
    size_t count = 0;
    for (const struct op *const *p = op_table; *p; p++, count++) {
        const struct op *op = *p;
        assert_true(name_ok(op->name));
        assert_non_null(op->title);
        assert_non_null(op->summary);
        assert_non_null(op->description);
        assert_non_null(op->run);
        assert_non_null(op->output_schema);
        if (p[1]) {
            assert_true(strcmp(op->name, p[1]->name) < 0); /* sorted and unique */
        }
        for (const struct op_arg *a = op->args; a && a->name; a++) {
            assert_non_null(a->help);
            assert_true(strlen(a->help) > 10);
            if (a->type == ARG_ENUM) {
                assert_non_null(a->choices);
            }
        }
        /* Every tool renders, with a strict input schema. */
        json_t *tool = op_tool_json(op);
        json_t *schema = json_object_get(tool, "inputSchema");
        assert_true(json_is_false(json_object_get(schema, "additionalProperties")));
        assert_true(json_is_object(json_object_get(tool, "outputSchema")));
        assert_true(json_is_object(json_object_get(tool, "annotations")));
        json_decref(tool);
    }
    assert_true(count >= 7);
}

struct vcase {
    const char *tool;
    const char *args;
    const char *want_error; /* NULL = valid; else a substring of the message */
};

static const struct vcase vcases[] = {
    { "DelegateTask", "{\"prompt\":\"hi\"}", NULL },
    { "DelegateTask", "{}", "prompt: is required" },
    { "DelegateTask", "{\"prompt\":\"\"}", "prompt: must be at least 1 bytes" },
    { "DelegateTask", "{\"prompt\":\"   \"}", "prompt: must not be empty" },
    { "DelegateTask", "{\"prompt\":42}", "prompt: must be a string (got 42)" },
    { "DelegateTask", "{\"prompt\":\"x\",\"priority\":\"P9\"}",
      "priority: must be one of P0, P1, P2 (got \"P9\")" },
    { "DelegateTask", "{\"prompt\":\"x\",\"timeout\":5}", "timeout: must be between 1000 and" },
    { "DelegateTask", "{\"prompt\":\"x\",\"timeout\":1.5}", "timeout: must be an integer" },
    { "DelegateTask", "{\"prompt\":\"x\",\"timeout\":86400000}", NULL },
    { "DelegateTask", "{\"prompt\":\"x\",\"timeout\":86400001}", "timeout: must be between" },
    { "DelegateTask", "{\"prompt\":\"x\",\"maxOutputBuffer\":1023}", "maxOutputBuffer: must be" },
    { "DelegateTask", "{\"prompt\":\"x\",\"agent\":\"Not An Agent\"}", "agent: " },
    { "DelegateTask", "{\"prompt\":\"x\",\"agent\":\"aider\"}", NULL }, /* may be user-defined */
    { "DelegateTask", "{\"prompt\":\"x\",\"bogus\":1}", "bogus: unknown field; expected one of" },
    { "DelegateTask", "{\"prompt\":\"x\",\"foreground\":true}", "foreground: unknown field" },
    { "DelegateTask", "{\"prompt\":\"x\",\"dependsOn\":[\"nope\"]}",
      "dependsOn[0]: must be a task id" },
    { "DelegateTask", "{\"prompt\":\"x\",\"dependsOn\":\"" ID1 "\"}",
      "dependsOn: must be an array" },
    { "DelegateTask", "{\"prompt\":\"x\",\"dependsOn\":[\"" ID1 "\"]}", NULL },
    { "DelegateTask", "{\"prompt\":\"x\",\"model\":\"a b\"}", "model: may contain only" },
    { "TaskStatus", "{}", NULL },
    { "TaskStatus", "null", NULL },
    { "TaskStatus", "[]", "arguments: must be an object" },
    { "TaskStatus", "{\"taskId\":\"123\"}", "taskId: must be a task id" },
    { "TaskStatus", "{\"limit\":0}", "limit: must be between 1 and 1000" },
    { "TaskStatus", "{\"status\":\"done\"}", "status: must be one of queued" },
    { "TaskLogs", "{}", "taskId: is required" },
    { "TaskLogs", "{\"taskId\":\"" ID1 "\",\"tail\":10001}", "tail: must be between 1 and 10000" },
    { "TaskLogs", "{\"taskId\":\"" ID1 "\",\"offset\":-1}", "offset: must be at least 0" },
    { "WaitForTask", "{}", "taskId, taskIds: give exactly one" },
    { "WaitForTask", "{\"taskId\":\"" ID1 "\",\"taskIds\":[\"" ID1 "\"]}", "give exactly one" },
    { "WaitForTask", "{\"taskId\":\"" ID1 "\",\"timeoutMs\":600001}", "timeoutMs: must be" },
    { "WaitForTask", "{\"taskIds\":[]}", "taskIds: must have 1 to 100 items" },
    { "CancelTask", "{\"taskId\":\"" ID1 "\",\"reason\":\"why\"}", NULL },
};

static void
test_validate_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vcases / sizeof vcases[0]; i++) {
        const struct vcase *c = &vcases[i];
        const struct op *op = op_find(c->tool);
        struct err e = { 0 };
        json_t *args = json_loads(c->args, JSON_DECODE_ANY, NULL);
        assert_non_null(op);
        int rc = op_validate(op, args, &e);
        if (c->want_error == NULL) {
            if (rc != 0) {
                fail_msg("case %zu (%s %s): unexpected error: %s", i, c->tool, c->args, e.msg);
            }
        } else {
            if (rc == 0 || strstr(e.msg, c->want_error) == NULL) {
                fail_msg("case %zu (%s %s): want \"%s\", got rc=%d \"%s\"", i, c->tool, c->args,
                         c->want_error, rc, e.msg);
            }
            assert_int_equal(e.code, ERR_INVALID);
        }
        json_decref(args);
    }
}

static void
test_validate_prompt_limit(void **state)
{
    (void)state;
    char *big = xmalloc(100002);
    memset(big, 'a', 100001);
    big[100001] = '\0';
    json_t *args = json_pack("{s:s}", "prompt", big);
    struct err e = { 0 };
    assert_int_equal(op_validate(op_find("DelegateTask"), args, &e), -1);
    assert_non_null(strstr(e.msg, "prompt: must be at most 100000 bytes (got 100001)"));
    json_object_set_new(args, "prompt", json_stringn(big, 100000));
    assert_int_equal(op_validate(op_find("DelegateTask"), args, &e), 0);
    json_decref(args);
    free(big);
}

/* ResumeTask's additionalContext counts characters (as the schema's maxLength does): 16,000
 * two-byte characters pass, 16,001 do not. */
static void
test_validate_context_in_characters(void **state)
{
    (void)state;
    size_t n = 16001;
    char *text = xmalloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        memcpy(text + 2 * i, "\xc3\xa9", 2); /* é */
    }
    text[2 * n] = '\0';
    json_t *args = json_pack("{s:s, s:s%}", "taskId", "task-00000000-0000-4000-8000-000000000000",
                             "additionalContext", text, 2 * (n - 1));
    struct err e = { 0 };
    assert_int_equal(op_validate(op_find("ResumeTask"), args, &e), 0);
    json_object_set_new(args, "additionalContext", json_stringn(text, 2 * n));
    assert_int_equal(op_validate(op_find("ResumeTask"), args, &e), -1);
    assert_non_null(
        strstr(e.msg, "additionalContext: must be at most 16000 characters (got 16001)"));
    json_decref(args);
    free(text);
}

static json_t *
parse_cli(const char *tool, int argc, char **argv, struct err *e)
{
    json_t *out = NULL;
    if (op_cli_parse(op_find(tool), argc, argv, &out, e) != 0) {
        return NULL;
    }
    return out;
}

static void
test_cli_parse(void **state)
{
    (void)state;
    struct err e = { 0 };
    char *a1[] = { "-p", "P0", "fix", "the", "--timeout=5m", "tests", "-a", "codex", "--deps",
                   ID1 ", " ID1, "-f" };
    json_t *j = parse_cli("DelegateTask", 11, a1, &e);
    assert_non_null(j);
    assert_string_equal(json_get_str(j, "prompt"), "fix the tests");
    assert_string_equal(json_get_str(j, "priority"), "P0");
    assert_string_equal(json_get_str(j, "agent"), "codex");
    assert_int_equal(json_get_int(j, "timeout", 0), 300000);
    assert_int_equal(json_array_size(json_object_get(j, "dependsOn")), 2);
    assert_true(json_is_true(json_object_get(j, "foreground")));
    json_decref(j);

    char *a2[] = { "--", "-rf", "is", "a", "prompt" };
    j = parse_cli("DelegateTask", 5, a2, &e);
    assert_string_equal(json_get_str(j, "prompt"), "-rf is a prompt");
    json_decref(j);

    char *a3[] = { "--nope", "x" };
    assert_null(parse_cli("DelegateTask", 2, a3, &e));
    assert_non_null(strstr(e.msg, "unknown option --nope"));

    char *a4[] = { "-t", "soon", "x" };
    assert_null(parse_cli("DelegateTask", 3, a4, &e));
    assert_non_null(strstr(e.msg, "-t: must be a duration"));

    char *a5[] = { ID1, "--tail", "5" };
    j = parse_cli("TaskLogs", 3, a5, &e);
    assert_string_equal(json_get_str(j, "taskId"), ID1);
    assert_int_equal(json_get_int(j, "tail", 0), 5);
    json_decref(j);

    char *a6[] = { ID1, "too", "many", "words" };
    j = parse_cli("CancelTask", 4, a6, &e);
    assert_string_equal(json_get_str(j, "reason"), "too many words");
    json_decref(j);

    char *a7[] = { ID1, "extra" };
    assert_null(parse_cli("RetryTask", 2, a7, &e));
    assert_non_null(strstr(e.msg, "unexpected argument \"extra\""));

    char *a8[] = { "--priority" };
    assert_null(parse_cli("DelegateTask", 1, a8, &e));
    assert_non_null(strstr(e.msg, "--priority: needs a value"));
}

/* Every field of every result is described for the model (anyOf branches only restate). */
static void
check_described(json_t *schema, const char *tool, const char *path)
{
    const char *key;
    json_t *p;
    json_object_foreach(json_object_get(schema, "properties"), key, p) {
        if (json_object_get(p, "description") == NULL && strcmp(path, "anyOf") != 0) {
            fail_msg("%s: output field %s.%s has no description (add it to core/ops-fields.c)",
                     tool, path, key);
        }
        check_described(p, tool, key);
    }
    if (json_object_get(schema, "items")) {
        check_described(json_object_get(schema, "items"), tool, path);
    }
}

static void
test_output_fields_described(void **state)
{
    (void)state;
    json_t *list = op_tools_list();
    json_t *tools = json_object_get(list, "tools");
    for (size_t i = 0; i < json_array_size(tools); i++) {
        json_t *t = json_array_get(tools, i);
        check_described(json_object_get(t, "outputSchema"), json_string_value(
                        json_object_get(t, "name")), "");
    }
    json_decref(list);
}

static void
test_schema_matches_validator(void **state)
{
    (void)state;
    json_t *list = op_tools_list();
    json_t *tools = json_object_get(list, "tools");
    for (size_t i = 0; i < json_array_size(tools); i++) {
        json_t *schema = json_object_get(json_array_get(tools, i), "inputSchema");
        json_t *props = json_object_get(schema, "properties");
        const char *key;
        json_t *p;
        json_object_foreach(props, key, p) {
            /* No CLI-only flag leaks into a model-facing schema. */
            assert_true(strcmp(key, "json") != 0 && strcmp(key, "foreground") != 0 &&
                        strcmp(key, "follow") != 0);
            assert_non_null(json_get_str(p, "description"));
        }
    }
    json_t *delegate = op_input_schema(op_find("DelegateTask"));
    json_t *timeout = json_object_get(json_object_get(delegate, "properties"), "timeout");
    assert_int_equal(json_get_int(timeout, "minimum", 0), 1000);
    assert_int_equal(json_get_int(timeout, "maximum", 0), 86400000);
    assert_string_equal(json_string_value(json_array_get(json_object_get(delegate, "required"), 0)),
                        "prompt");
    json_decref(delegate);
    json_decref(list);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_guards),
        cmocka_unit_test(test_validate_table),
        cmocka_unit_test(test_validate_prompt_limit),
        cmocka_unit_test(test_validate_context_in_characters),
        cmocka_unit_test(test_cli_parse),
        cmocka_unit_test(test_schema_matches_validator),
        cmocka_unit_test(test_output_fields_described),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
