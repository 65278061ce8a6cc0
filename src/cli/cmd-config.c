/* `beat config`: shows and edits $BACKBEAT_HOME/config.json in the CLI process, no daemon needed.
 * Values are resolved with this process's environment; the daemon resolves them with its own.
 * All knowledge of keys comes from core/config.h; this file only parses words and prints.
 * After a set or reset a running daemon is told to reload at once (SIGHUP), so the next command
 * sees the change; it would notice the file within about a second anyway. */
#include "cli/cmd-config.h"

#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/config.h"
#include "util/common.h"
#include "util/json.h"
#include "util/str.h"

#define CMD_CONFIG_EXIT_OK    0
#define CMD_CONFIG_EXIT_FAIL  1
#define CMD_CONFIG_EXIT_USAGE 2

#define CMD_CONFIG_JSON     0x1 /* --json */
#define CMD_CONFIG_MARKDOWN 0x2 /* --markdown */

#define CMD_CONFIG_ARGS_MAX 2 /* positional words after the subcommand, at most */

struct cmd_config_sub {
    const char *name;
    const char *usage; /* what follows the name */
    const char *summary;
    int nargs;        /* positional words, exactly */
    unsigned options; /* CMD_CONFIG_* accepted */
    int (*run)(const char *home, char **args, unsigned options);
};

static int cmd_config_show(const char *home, char **args, unsigned options);
static int cmd_config_set(const char *home, char **args, unsigned options);
static int cmd_config_reset(const char *home, char **args, unsigned options);
static int cmd_config_path(const char *home, char **args, unsigned options);
static int cmd_config_keys(const char *home, char **args, unsigned options);

static const struct cmd_config_sub cmd_config_subs[] = {
    { "show", "[--json]", "Show each key's value and where it came from", 0, CMD_CONFIG_JSON,
      cmd_config_show },
    { "set", "<key> <value>",
      "Check a value and write it to config.json (agent keys: agents.<name>.<field>)", 2, 0,
      cmd_config_set },
    { "reset", "<key>", "Remove a key (or agents.<name>[.<field>]) from config.json", 1, 0,
      cmd_config_reset },
    { "path", "", "Print the path of config.json", 0, 0, cmd_config_path },
    { "keys", "[--markdown|--json]", "List every key: type, default, range, variable", 0,
      CMD_CONFIG_JSON | CMD_CONFIG_MARKDOWN, cmd_config_keys },
};

/* Prints "beat config: <message>" and returns the exit status for e. */
static int
cmd_config_fail(const struct err *e)
{
    fprintf(stderr, "beat config: %s\n", e->msg);
    return e->code == ERR_INVALID ? CMD_CONFIG_EXIT_USAGE : CMD_CONFIG_EXIT_FAIL;
}

/* Prints the usage of every subcommand to f. */
static void
cmd_config_usage(FILE *f)
{
    fprintf(f, "usage: beat config <command>\n\n");
    for (size_t i = 0; i < ARRAY_SIZE(cmd_config_subs); i++) {
        const struct cmd_config_sub *s = &cmd_config_subs[i];
        char *words = xasprintf("%s %s", s->name, s->usage);
        fprintf(f, "  %-26s %s\n", words, s->summary);
        free(words);
    }
}

/* Loads the configuration as this process sees it. */
static struct config *
cmd_config_load(const char *home)
{
    json_t *env = json_environ();
    struct config *c = config_load(home, env);
    json_decref(env);
    return c;
}

/* A key's value as show prints it; caller frees. */
static char *
cmd_config_value_text(const json_t *entry, const char *field)
{
    const json_t *v = json_object_get(entry, field);
    if (json_is_integer(v)) {
        return config_format_int((int64_t)json_integer_value(v), json_get_str(entry, "unit"));
    }
    if (json_is_string(v)) {
        return xstrdup(json_string_value(v));
    }
    return xstrdup("(unset)");
}

/* The show entry for key, borrowed from show; NULL when key is not a setting. */
static const json_t *
cmd_config_entry(const json_t *show, const char *key)
{
    size_t i;
    const json_t *entry;
    json_array_foreach(json_object_get(show, "keys"), i, entry)
    {
        const char *name = json_get_str(entry, "key");
        if (name != NULL && strcmp(name, key) == 0) {
            return entry;
        }
    }
    return NULL;
}

/* Prints the show table: key, value, source; then the file, problems and agents. */
static void
cmd_config_print_show(const json_t *show)
{
    const json_t *keys = json_object_get(show, "keys");
    size_t n = json_array_size(keys);
    char **values = xcalloc(n + 1, sizeof *values);
    int wkey = (int)strlen("KEY"), wval = (int)strlen("VALUE");
    for (size_t i = 0; i < n; i++) {
        const json_t *entry = json_array_get(keys, i);
        values[i] = cmd_config_value_text(entry, "value");
        int lk = (int)strlen(json_get_str(entry, "key"));
        int lv = (int)strlen(values[i]);
        wkey = lk > wkey ? lk : wkey;
        wval = lv > wval ? lv : wval;
    }
    printf("%-*s  %-*s  %s\n", wkey, "KEY", wval, "VALUE", "SOURCE");
    for (size_t i = 0; i < n; i++) {
        const json_t *entry = json_array_get(keys, i);
        bool bad = json_object_get(entry, "problem") != NULL;
        printf("%-*s  %-*s  %s%s\n", wkey, json_get_str(entry, "key"), wval, values[i],
               json_get_str(entry, "source"), bad ? " (!)" : "");
    }
    strv_free(values);

    const char *path = json_get_str(show, "path");
    printf("\nConfig file: %s\n", path ? path : "(none)");

    const json_t *problems = json_object_get(show, "problems");
    if (json_array_size(problems) > 0) {
        printf("\nProblems (each key marked (!) fell back on its own; the others are in use):\n");
        size_t i;
        const json_t *p;
        json_array_foreach(problems, i, p)
        {
            printf("  - %s\n", json_string_value(p));
        }
    }

    const json_t *agents = json_object_get(show, "agents");
    if (json_object_size(agents) > 0) {
        char *text = json_dump_pretty(agents);
        printf("\nAgents (from config.json, secrets masked):\n  ");
        for (const char *p = text; *p; p++) {
            putchar(*p);
            if (*p == '\n') {
                fputs("  ", stdout);
            }
        }
        putchar('\n');
        free(text);
    }
}

/* beat config show [--json] */
static int
cmd_config_show(const char *home, char **args, unsigned options)
{
    (void)args;
    struct config *c = cmd_config_load(home);
    json_t *show = config_show_json(c);
    if (options & CMD_CONFIG_JSON) {
        char *text = json_dump_pretty(show);
        printf("%s\n", text);
        free(text);
    } else {
        cmd_config_print_show(show);
    }
    json_decref(show);
    config_free(c);
    return CMD_CONFIG_EXIT_OK;
}

/* Prints an agent key's value as now loaded (masked), then the problems about that agent as
 * notes (a field left out, a setting that cannot reach the agent). */
static void
cmd_config_print_agent(const struct config *c, const json_t *show, const char *key,
                       const char *what)
{
    char name[64];
    const char *p = key + strlen("agents.");
    size_t n = strcspn(p, ".");
    snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), p);
    const char *field = p[n] == '.' ? p + n + 1 : NULL;
    const json_t *agent = json_object_get(json_object_get(show, "agents"), name);
    const json_t *v = field ? json_object_get(agent, field) : agent;
    if (v == NULL) {
        printf("%s%s(unset)\n", key, what);
    } else if (json_is_string(v)) {
        printf("%s%s%s\n", key, what, json_string_value(v));
    } else {
        char *text = json_dump_compact(v);
        printf("%s%s%s\n", key, what, text);
        free(text);
    }
    char *mention = xasprintf("agents.%s", name);
    for (const char *const *pr = config_problems(c); *pr; pr++) {
        const char *at = strstr(*pr, mention);
        size_t len = strlen(mention);
        if (at != NULL && (at[len] == '.' || at[len] == ' ' || at[len] == '\0')) {
            fprintf(stderr, "beat config: note: %s\n", *pr);
        }
    }
    free(mention);
}

/* Prints "key = value" as now resolved, and says when the environment overrides the file. */
static void
cmd_config_print_result(const char *home, const char *key, const char *what)
{
    struct config *c = cmd_config_load(home);
    json_t *show = config_show_json(c);
    if (str_has_prefix(key, "agents.")) {
        cmd_config_print_agent(c, show, key, what);
        json_decref(show);
        config_free(c);
        return;
    }
    const json_t *entry = cmd_config_entry(show, key);
    if (entry == NULL) {
        printf("removed unknown key '%s' from %s\n", key, json_get_str(show, "path"));
    } else {
        char *value = cmd_config_value_text(entry, "value");
        printf("%s%s%s\n", key, what, value);
        free(value);
        const char *source = json_get_str(entry, "source");
        if (source != NULL && str_has_prefix(source, "env:")) {
            fprintf(stderr,
                    "beat config: note: %s is set in this environment and overrides the file\n",
                    source + 4);
        }
    }
    json_decref(show);
    config_free(c);
}

/* Asks the daemon of home, if one runs, to reload config.json now. */
void
cli_config_notify_daemon(const char *home)
{
    char *path = xasprintf("%s/daemon.lock", home);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0) {
        return;
    }
    char buf[32] = { 0 };
    ssize_t n = read(fd, buf, sizeof buf - 1);
    long pid = n > 0 ? strtol(buf, NULL, 10) : 0;
    /* The lock is held exactly while a daemon runs: only then is the pid its own. */
    if (pid > 0 && flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
        kill((pid_t)pid, SIGHUP);
    }
    close(fd);
}

/* beat config set <key> <value> */
static int
cmd_config_set(const char *home, char **args, unsigned options)
{
    (void)options;
    struct err e = { 0 };
    if (config_set(home, args[0], args[1], &e) != 0) {
        return cmd_config_fail(&e);
    }
    cli_config_notify_daemon(home);
    cmd_config_print_result(home, args[0], " = ");
    return CMD_CONFIG_EXIT_OK;
}

/* beat config reset <key> */
static int
cmd_config_reset(const char *home, char **args, unsigned options)
{
    (void)options;
    struct err e = { 0 };
    if (config_reset(home, args[0], &e) != 0) {
        return cmd_config_fail(&e);
    }
    cli_config_notify_daemon(home);
    cmd_config_print_result(home, args[0], " reset; now ");
    return CMD_CONFIG_EXIT_OK;
}

/* beat config path */
static int
cmd_config_path(const char *home, char **args, unsigned options)
{
    (void)args, (void)options;
    char *path = config_path(home);
    printf("%s\n", path);
    free(path);
    return CMD_CONFIG_EXIT_OK;
}

/* beat config keys [--markdown|--json] */
static int
cmd_config_keys(const char *home, char **args, unsigned options)
{
    (void)home, (void)args;
    if ((options & CMD_CONFIG_JSON) && (options & CMD_CONFIG_MARKDOWN)) {
        fprintf(stderr, "beat config: keys takes --json or --markdown, not both\n");
        return CMD_CONFIG_EXIT_USAGE;
    }
    if (options & CMD_CONFIG_MARKDOWN) {
        char *text = config_keys_markdown();
        fputs(text, stdout);
        free(text);
        return CMD_CONFIG_EXIT_OK;
    }
    json_t *keys = config_keys_json();
    if (options & CMD_CONFIG_JSON) {
        char *text = json_dump_pretty(keys);
        printf("%s\n", text);
        free(text);
    } else {
        size_t i;
        const json_t *k;
        json_array_foreach(keys, i, k)
        {
            char *def = cmd_config_value_text(k, "default");
            const char *unit = json_get_str(k, "unit");
            printf("%s (%s%s%s; default %s; %s; env %s; %s)\n    %s\n", json_get_str(k, "key"),
                   json_get_str(k, "type"), unit ? ", " : "", unit ? unit : "", def,
                   json_get_str(k, "range"), json_get_str(k, "env"),
                   json_is_true(json_object_get(k, "live")) ? "live" : "needs a restart",
                   json_get_str(k, "description"));
            free(def);
        }
    }
    json_decref(keys);
    return CMD_CONFIG_EXIT_OK;
}

/* The subcommand named word or by a unique prefix of it; NULL with a message otherwise. */
static const struct cmd_config_sub *
cmd_config_find(const char *word)
{
    const struct cmd_config_sub *found = NULL;
    size_t matches = 0, len = strlen(word);
    for (size_t i = 0; i < ARRAY_SIZE(cmd_config_subs); i++) {
        if (strcmp(cmd_config_subs[i].name, word) == 0) {
            return &cmd_config_subs[i];
        }
        if (len > 0 && strncmp(cmd_config_subs[i].name, word, len) == 0) {
            found = &cmd_config_subs[i];
            matches++;
        }
    }
    if (matches == 1) {
        return found;
    }
    fprintf(stderr, "beat config: %s command '%s'; commands:", matches ? "ambiguous" : "unknown",
            word);
    for (size_t i = 0; i < ARRAY_SIZE(cmd_config_subs); i++) {
        if (matches == 0 || strncmp(cmd_config_subs[i].name, word, len) == 0) {
            fprintf(stderr, " %s", cmd_config_subs[i].name);
        }
    }
    fputc('\n', stderr);
    return NULL;
}

/* Runs `beat config ...`. */
int
cli_config_main(const char *home, int argc, char **argv)
{
    static const struct {
        const char *name;
        unsigned flag;
    } options[] = { { "--json", CMD_CONFIG_JSON }, { "--markdown", CMD_CONFIG_MARKDOWN } };

    if (argc < 2) {
        cmd_config_usage(stderr);
        return CMD_CONFIG_EXIT_USAGE;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        cmd_config_usage(stdout);
        return CMD_CONFIG_EXIT_OK;
    }
    const struct cmd_config_sub *sub = cmd_config_find(argv[1]);
    if (sub == NULL) {
        return CMD_CONFIG_EXIT_USAGE;
    }

    char *args[CMD_CONFIG_ARGS_MAX + 1] = { NULL };
    int nargs = 0;
    unsigned given = 0;
    bool words_only = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!words_only && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            printf("usage: beat config %s %s\n  %s\n", sub->name, sub->usage, sub->summary);
            return CMD_CONFIG_EXIT_OK;
        }
        if (!words_only && strcmp(a, "--") == 0) {
            words_only = true;
            continue;
        }
        /* Only "--word" is an option, so a negative number stays a value. */
        if (!words_only && str_has_prefix(a, "--")) {
            unsigned flag = 0;
            for (size_t j = 0; j < ARRAY_SIZE(options); j++) {
                if (strcmp(a, options[j].name) == 0) {
                    flag = options[j].flag;
                }
            }
            if ((flag & sub->options) == 0) {
                fprintf(stderr, "beat config: %s does not take %s\nusage: beat config %s %s\n",
                        sub->name, a, sub->name, sub->usage);
                return CMD_CONFIG_EXIT_USAGE;
            }
            given |= flag;
            continue;
        }
        if (nargs >= sub->nargs) {
            nargs++;
            break;
        }
        args[nargs++] = argv[i];
    }
    if (nargs != sub->nargs) {
        fprintf(stderr, "beat config: %s takes %d argument%s\nusage: beat config %s %s\n",
                sub->name, sub->nargs, sub->nargs == 1 ? "" : "s", sub->name, sub->usage);
        return CMD_CONFIG_EXIT_USAGE;
    }
    if (home == NULL || *home == '\0') {
        fprintf(stderr, "beat config: no state directory (set BACKBEAT_HOME or HOME)\n");
        return CMD_CONFIG_EXIT_FAIL;
    }
    int rc = sub->run(home, args, given);
    fflush(stdout);
    return rc;
}
