/* Prompt enrichment: the documented format, the original prompt last and intact, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/enrich.h"
#include "util/xmalloc.h"

static struct task *
make_task(const char *prompt)
{
    struct task *t = task_new();
    task_id_new(t->id);
    t->prompt = xstrdup(prompt);
    t->agent = xstrdup("claude");
    t->status = TASK_COMPLETED;
    t->working_directory = xstrdup("/work/repo");
    return t;
}

static void
test_continue_format(void **state)
{
    (void)state;
    struct task *up = make_task("build the thing");
    struct checkpoint c = { 0 };
    c.status = "completed";
    c.has_exit_code = true;
    c.exit_code = 0;
    c.result_text = "built OK";
    c.output_tail = "line 1\nline 2\n";
    c.error_tail = "";
    c.git_branch = "main";
    c.git_commit = "abc123";
    c.git_changed = json_pack("[s,s]", "a.c", "b.c");
    char *p = enrich_continue(up, &c, "now test it\nwith two lines");
    assert_true(strncmp(p, "<<<BACKBEAT CONTEXT:", 20) == 0);
    assert_non_null(strstr(p, up->id));
    assert_non_null(strstr(p, "Its status: completed, exit code 0"));
    assert_non_null(strstr(p, "Its prompt:\nbuild the thing\n"));
    assert_non_null(strstr(p, "Its final answer:\nbuilt OK\n"));
    assert_non_null(strstr(p, "Last lines of its output:\nline 1\nline 2\n"));
    assert_null(strstr(p, "Last lines of its errors")); /* empty sections are left out */
    assert_non_null(strstr(p, "branch main, commit abc123"));
    assert_non_null(strstr(p, "Files it left changed: a.c b.c"));
    const char *tail = "<<<END BACKBEAT CONTEXT>>>\n\nYOUR TASK:\nnow test it\nwith two lines";
    assert_string_equal(p + strlen(p) - strlen(tail), tail); /* original prompt last, intact */
    free(p);
    json_decref(c.git_changed);
    task_free(up);
}

static void
test_continue_without_checkpoint(void **state)
{
    (void)state;
    struct task *up = make_task("x");
    char *p = enrich_continue(up, NULL, "y");
    assert_non_null(strstr(p, "Its status: completed"));
    assert_true(strlen(p) > 0 && p[strlen(p) - 1] == 'y');
    free(p);
    task_free(up);
}

static void
test_bounded_chain(void **state)
{
    (void)state;
    /* A long chain must not grow the prompt without bound. */
    char *big = xmalloc(90001);
    memset(big, 'o', 90000);
    big[90000] = '\0';
    struct checkpoint c = { 0 };
    c.status = "completed";
    c.output_tail = big;
    c.result_text = big;
    struct task *up = make_task("first");
    char *prompt = xstrdup("step");
    for (int i = 0; i < 10; i++) {
        char *next = enrich_continue(up, &c, "step");
        free(up->prompt);
        up->prompt = next;
        free(prompt);
        prompt = xstrdup(next);
    }
    assert_true(strlen(prompt) < ENRICH_CONTEXT_MAX + 16000);
    free(prompt);
    free(big);
    task_free(up);
}

static void
test_resume_format(void **state)
{
    (void)state;
    struct task *src = make_task("do the migration");
    src->status = TASK_FAILED;
    struct checkpoint c = { 0 };
    c.status = "failed";
    c.has_exit_code = true;
    c.exit_code = 2;
    c.reason = "agent exited with code 2";
    c.error_tail = "boom\n";
    char *p = enrich_resume(src, &c, "try the other table first");
    assert_non_null(strstr(p, "Its status: failed, exit code 2 (agent exited with code 2)"));
    assert_non_null(strstr(p, "Last lines of its errors:\nboom\n"));
    assert_non_null(strstr(p, "ADDITIONAL CONTEXT:\ntry the other table first\n"));
    const char *tail = "\nYOUR TASK:\ndo the migration";
    assert_string_equal(p + strlen(p) - strlen(tail), tail);
    /* Resuming a resumed task keeps the original task, not the nested context. */
    struct task *again = make_task(p);
    again->status = TASK_FAILED;
    char *p2 = enrich_resume(again, NULL, NULL);
    assert_string_equal(p2 + strlen(p2) - strlen(tail), tail);
    free(p2);
    free(p);
    task_free(again);
    task_free(src);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_continue_format),
        cmocka_unit_test(test_continue_without_checkpoint),
        cmocka_unit_test(test_bounded_chain),
        cmocka_unit_test(test_resume_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
