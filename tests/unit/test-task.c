/* Unit tests for core/task.c: the state machine (every pair of states, table-driven), names,
 * ids and deep copies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h needs the headers above first. */
#include <cmocka.h>

#include "core/task.h"

#define Q TASK_QUEUED
#define B TASK_BLOCKED
#define R TASK_RUNNING
#define C TASK_COMPLETED
#define F TASK_FAILED
#define X TASK_CANCELLED

/* legal[from][to]: the whole state machine, written out so a change to it is a change here. */
static const bool legal[TASK_STATUS_COUNT][TASK_STATUS_COUNT] = {
    /*            Q      B      R      C      F      X */
    [Q] = { false, true, true, false, true, true },
    [B] = { true, false, false, false, false, true },
    [R] = { false, false, false, true, true, true },
    [C] = { false, false, false, false, false, false },
    [F] = { false, false, false, false, false, false },
    [X] = { false, false, false, false, false, false },
};

static void
test_can_transition_table(void **state)
{
    (void)state;
    for (int from = 0; from < TASK_STATUS_COUNT; from++) {
        for (int to = 0; to < TASK_STATUS_COUNT; to++) {
            bool got = task_can_transition((enum task_status)from, (enum task_status)to);
            if (got != legal[from][to]) {
                fail_msg("%s -> %s: expected %s", task_status_name((enum task_status)from),
                         task_status_name((enum task_status)to),
                         legal[from][to] ? "allowed" : "refused");
            }
        }
    }
}

static void
test_transition_stamps_and_refuses(void **state)
{
    (void)state;
    for (int from = 0; from < TASK_STATUS_COUNT; from++) {
        for (int to = 0; to < TASK_STATUS_COUNT; to++) {
            struct task *t = task_new();
            struct err e = { 0 };
            task_id_new(t->id);
            t->status = (enum task_status)from;
            t->updated_at = 5;
            t->started_at = 6;
            t->completed_at = 7;
            int rc = task_transition(t, (enum task_status)to, 1000, &e);
            if (legal[from][to]) {
                assert_int_equal(rc, 0);
                assert_int_equal(t->status, to);
                assert_int_equal(t->updated_at, 1000);
                assert_int_equal(t->started_at, to == R ? 1000 : 6);
                assert_int_equal(t->completed_at,
                                 task_status_is_terminal((enum task_status)to) ? 1000 : 7);
            } else {
                char want[256];
                assert_int_equal(rc, -1);
                assert_int_equal(e.code, ERR_STATE);
                snprintf(want, sizeof want, "task %s cannot go from %s to %s", t->id,
                         task_status_name((enum task_status)from),
                         task_status_name((enum task_status)to));
                assert_string_equal(e.msg, want);
                /* a refused move changes nothing */
                assert_int_equal(t->status, from);
                assert_int_equal(t->updated_at, 5);
                assert_int_equal(t->started_at, 6);
                assert_int_equal(t->completed_at, 7);
            }
            task_free(t);
        }
    }
}

static void
test_terminal(void **state)
{
    (void)state;
    assert_false(task_status_is_terminal(Q));
    assert_false(task_status_is_terminal(B));
    assert_false(task_status_is_terminal(R));
    assert_true(task_status_is_terminal(C));
    assert_true(task_status_is_terminal(F));
    assert_true(task_status_is_terminal(X));
}

static void
test_status_names(void **state)
{
    (void)state;
    static const char *const names[] = { "queued",    "blocked", "running",
                                         "completed", "failed",  "cancelled" };
    for (int i = 0; i < TASK_STATUS_COUNT; i++) {
        enum task_status s = TASK_QUEUED;
        assert_string_equal(task_status_name((enum task_status)i), names[i]);
        assert_int_equal(task_status_parse(names[i], &s), 0);
        assert_int_equal(s, i);
    }
    enum task_status s = TASK_RUNNING;
    assert_int_equal(task_status_parse("Queued", &s), -1);
    assert_int_equal(task_status_parse("", &s), -1);
    assert_int_equal(task_status_parse(NULL, &s), -1);
    assert_int_equal(s, TASK_RUNNING);
    assert_string_equal(task_status_name((enum task_status)99), "unknown");
}

static void
test_end_names(void **state)
{
    (void)state;
    static const struct {
        enum task_end end;
        const char *name;
    } cases[] = {
        { TASK_END_NONE, "none" },           { TASK_END_EXITED, "exited" },
        { TASK_END_SIGNALED, "signaled" },   { TASK_END_TIMEOUT, "timeout" },
        { TASK_END_CANCELLED, "cancelled" }, { TASK_END_SPAWN_ERROR, "spawn_error" },
        { TASK_END_LOST, "lost" },           { TASK_END_DEPENDENCY, "dependency" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum task_end end = TASK_END_NONE;
        assert_string_equal(task_end_name(cases[i].end), cases[i].name);
        assert_int_equal(task_end_parse(cases[i].name, &end), 0);
        assert_int_equal(end, cases[i].end);
    }
    enum task_end end;
    assert_int_equal(task_end_parse("killed", &end), -1);
    assert_int_equal(task_end_parse(NULL, &end), -1);
    assert_string_equal(task_end_name((enum task_end)42), "unknown");
}

static void
test_priority_names(void **state)
{
    (void)state;
    static const char *const names[] = { "P0", "P1", "P2" };
    for (int i = 0; i < 3; i++) {
        int p = -1;
        assert_string_equal(task_priority_name(i), names[i]);
        assert_int_equal(task_priority_parse(names[i], &p), 0);
        assert_int_equal(p, i);
    }
    int p = 7;
    assert_int_equal(task_priority_parse("P3", &p), -1);
    assert_int_equal(task_priority_parse("1", &p), -1);
    assert_int_equal(task_priority_parse("", &p), -1);
    assert_int_equal(task_priority_parse(NULL, &p), -1);
    assert_int_equal(p, 7);
    assert_string_equal(task_priority_name(3), "unknown");
    assert_string_equal(task_priority_name(-1), "unknown");
}

static void
test_new_defaults(void **state)
{
    (void)state;
    struct task *t = task_new();
    assert_int_equal(t->status, TASK_QUEUED);
    assert_int_equal(t->end, TASK_END_NONE);
    assert_int_equal(t->input_tokens, -1);
    assert_int_equal(t->output_tokens, -1);
    assert_true(t->cost_usd < 0);
    assert_false(t->has_exit_code);
    assert_null(t->prompt);
    assert_null(t->env);
    assert_string_equal(t->id, "");
    task_free(t);
    task_free(NULL);
}

static void
test_id_format(void **state)
{
    (void)state;
    char a[TASK_ID_LEN + 1], b[TASK_ID_LEN + 1];
    task_id_new(a);
    task_id_new(b);
    assert_int_equal(strlen(a), TASK_ID_LEN);
    assert_memory_equal(a, "task-", 5);
    assert_true(task_id_is_valid(a));
    assert_true(task_id_is_valid(b));
    assert_string_not_equal(a, b);
    assert_int_equal(a[5 + 14], '4'); /* version nibble */
    assert_non_null(strchr("89ab", a[5 + 19]));

    assert_true(task_id_is_valid("task-0b7e1a3c-5d2f-4a6b-8c9d-0e1f2a3b4c5d"));
    assert_false(task_id_is_valid(NULL));
    assert_false(task_id_is_valid(""));
    assert_false(task_id_is_valid("task-"));
    assert_false(task_id_is_valid("task-0B7E1A3C-5D2F-4A6B-8C9D-0E1F2A3B4C5D")); /* upper */
    assert_false(task_id_is_valid("job-0b7e1a3c-5d2f-4a6b-8c9d-0e1f2a3b4c5d"));
    assert_false(task_id_is_valid("task-0b7e1a3c-5d2f-4a6b-8c9d-0e1f2a3b4c5"));
    assert_false(task_id_is_valid("task-0b7e1a3c-5d2f-4a6b-8c9d-0e1f2a3b4c5dd"));
    assert_false(task_id_is_valid("task-0b7e1a3c5d2f-4a6b-8c9d-0e1f2a3b4c5d0"));
    assert_false(task_id_is_valid("task-0b7e1a3c-5d2f-4a6b-8c9d-0e1f2a3b4c5g"));
}

static void
test_dup_is_deep(void **state)
{
    (void)state;
    struct task *t = task_new();
    task_id_new(t->id);
    t->prompt = strdup("do the thing");
    t->agent = strdup("claude");
    t->working_directory = strdup("/tmp/w");
    t->model = strdup("m");
    t->system_prompt = strdup("sp");
    t->parent_task_id = strdup("p");
    t->retry_of = strdup("r");
    t->continue_from = strdup("c");
    t->resume_mode = strdup("session");
    t->resume_session = strdup("s1");
    t->reason = strdup("why");
    t->session_id = strdup("sid");
    t->result_text = strdup("res");
    t->api_error = strdup("err");
    t->client_cwd = strdup("/home/x");
    t->env = json_pack("{s:s}", "PATH", "/bin");
    t->priority = 1;
    t->exit_code = 3;
    t->has_exit_code = true;
    t->cost_usd = 0.25;

    struct task *c = task_dup(t);
    assert_string_equal(c->id, t->id);
    assert_int_equal(c->priority, 1);
    assert_int_equal(c->exit_code, 3);
    assert_true(c->has_exit_code);
    assert_true(c->cost_usd == 0.25);
    const char *pairs[][2] = {
        { t->prompt, c->prompt },
        { t->agent, c->agent },
        { t->working_directory, c->working_directory },
        { t->model, c->model },
        { t->system_prompt, c->system_prompt },
        { t->parent_task_id, c->parent_task_id },
        { t->retry_of, c->retry_of },
        { t->continue_from, c->continue_from },
        { t->resume_mode, c->resume_mode },
        { t->resume_session, c->resume_session },
        { t->reason, c->reason },
        { t->session_id, c->session_id },
        { t->result_text, c->result_text },
        { t->api_error, c->api_error },
        { t->client_cwd, c->client_cwd },
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        assert_non_null(pairs[i][1]);
        assert_ptr_not_equal(pairs[i][0], pairs[i][1]);
        assert_string_equal(pairs[i][0], pairs[i][1]);
    }
    assert_ptr_not_equal(c->env, t->env);
    assert_true(json_equal(c->env, t->env));

    /* Changing or freeing the original leaves the copy intact. */
    t->prompt[0] = 'X';
    json_object_set_new(t->env, "HOME", json_string("/root"));
    task_free(t);
    assert_string_equal(c->prompt, "do the thing");
    assert_int_equal(json_object_size(c->env), 1);
    assert_string_equal(json_string_value(json_object_get(c->env, "PATH")), "/bin");
    task_free(c);

    /* NULL strings and env stay NULL. */
    struct task *empty = task_new();
    struct task *d = task_dup(empty);
    assert_null(d->prompt);
    assert_null(d->env);
    assert_int_equal(d->input_tokens, -1);
    task_free(empty);
    task_free(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_can_transition_table),
        cmocka_unit_test(test_transition_stamps_and_refuses),
        cmocka_unit_test(test_terminal),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_end_names),
        cmocka_unit_test(test_priority_names),
        cmocka_unit_test(test_new_defaults),
        cmocka_unit_test(test_id_format),
        cmocka_unit_test(test_dup_is_deep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
