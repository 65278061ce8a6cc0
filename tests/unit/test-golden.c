/* Golden files: tools/list and every command's --help. Any change to a schema or a help text
 * shows up as a diff in review; `make golden` rewrites them (BEAT_GOLDEN_UPDATE=1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/op.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/xmalloc.h"

static void
golden_check(const char *name, const char *actual)
{
    const char *fixtures = getenv("BEAT_FIXTURES");
    assert_non_null(fixtures);
    char *path = xasprintf("%s/../golden/%s", fixtures, name);
    struct err e = { 0 };
    if (getenv("BEAT_GOLDEN_UPDATE")) {
        assert_int_equal(fs_write_atomic(path, actual, strlen(actual), 0644, &e), 0);
        printf("golden: wrote %s\n", name);
    }
    size_t len;
    char *expected = fs_read_file(path, 16 * 1024 * 1024, &len, &e);
    if (expected == NULL) {
        fail_msg("%s: %s (run `make golden` to create it)", name, e.msg);
    }
    if (strcmp(expected, actual) != 0) {
        char *out = xasprintf("%s.actual", path);
        fs_write_atomic(out, actual, strlen(actual), 0644, &e);
        fail_msg("%s differs from the golden file; see %s (run `make golden` if the change is "
                 "intended)", name, out);
    }
    free(expected);
    free(path);
}

static void
test_tools_list(void **state)
{
    (void)state;
    json_t *list = op_tools_list();
    char *text = json_dumps(list, JSON_INDENT(2));
    char *with_nl = xasprintf("%s\n", text);
    golden_check("tools-list.json", with_nl);
    free(with_nl);
    free(text);
    json_decref(list);
}

static void
test_help(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    for (const struct op *const *p = op_table; *p; p++) {
        if ((*p)->cli && !((*p)->flags & OP_NO_CLI)) {
            fprintf(f, "==> beat %s --help\n", (*p)->cli);
            op_cli_help(*p, f);
            fputc('\n', f);
        }
    }
    fclose(f);
    golden_check("help.txt", buf);
    free(buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tools_list),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
