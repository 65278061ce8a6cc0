/* Dependency cycles: direct, two-step and transitive cycles are found and named; diamonds and
 * chains are not cycles; a 10,000-task graph is walked without recursion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/graph.h"

static void
test_self_dependency(void **state)
{
    (void)state;
    struct graph *g = graph_new();
    char *deps[] = { "a", NULL };
    char *c = graph_find_cycle(g, "a", deps);
    assert_string_equal(c, "a -> a");
    free(c);
    graph_free(g);
}

static void
test_cycles_named(void **state)
{
    (void)state;
    struct graph *g = graph_new();
    graph_add(g, "b", "a"); /* b depends on a */
    char *d1[] = { "b", NULL };
    char *c = graph_find_cycle(g, "a", d1); /* a depending on b closes a -> b -> a */
    assert_string_equal(c, "a -> b -> a");
    free(c);
    graph_add(g, "c", "b");
    graph_add(g, "d", "c");
    char *d2[] = { "x", "d", NULL };
    c = graph_find_cycle(g, "a", d2);
    assert_string_equal(c, "a -> d -> c -> b -> a");
    free(c);
    graph_free(g);
}

static void
test_no_cycle(void **state)
{
    (void)state;
    struct graph *g = graph_new();
    /* Diamond: b, c depend on a; d on both. */
    graph_add(g, "b", "a");
    graph_add(g, "c", "a");
    graph_add(g, "d", "b");
    graph_add(g, "d", "c");
    char *deps[] = { "b", "c", "d", NULL };
    assert_null(graph_find_cycle(g, "e", deps));
    char *deps2[] = { "a", NULL };
    assert_null(graph_find_cycle(g, "d2", deps2));
    assert_null(graph_find_cycle(g, "x", NULL));
    graph_free(g);
}

static void
test_large_chain(void **state)
{
    (void)state;
    struct graph *g = graph_new();
    char from[32], to[32];
    for (int i = 1; i < 10000; i++) {
        snprintf(from, sizeof from, "t%d", i);
        snprintf(to, sizeof to, "t%d", i - 1);
        graph_add(g, from, to);
    }
    char *deps[] = { "t9999", NULL };
    char *c = graph_find_cycle(g, "t0", deps);
    assert_non_null(c);
    assert_true(strncmp(c, "t0 -> t9999 -> t9998", 20) == 0);
    assert_true(strlen(c) > 10000 * 4);
    free(c);
    assert_null(graph_find_cycle(g, "new", deps));
    graph_free(g);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_dependency),
        cmocka_unit_test(test_cycles_named),
        cmocka_unit_test(test_no_cycle),
        cmocka_unit_test(test_large_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
