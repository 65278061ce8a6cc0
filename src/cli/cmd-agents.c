/* `beat agents list|check <name>` and `beat init`. The agents commands ask the daemon
 * (ListAgents, ConfigureAgent check), so they see what a task would see, probes and version cache
 * included; the CLI sends its own environment, so PATH and key variables are this shell's.
 * `beat init` runs here, without a daemon: it looks at this process's PATH and environment and
 * writes defaultAgent with config_set (the daemon notices the file change by itself). */
#include "cli/cmd-agents.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cmd-config.h"
#include "core/config.h"
#include "core/op.h"
#include "core/ops.h"
#include "mcp/client.h"
#include "util/json.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define CMD_AGENTS_EXIT_OK    0
#define CMD_AGENTS_EXIT_FAIL  1
#define CMD_AGENTS_EXIT_USAGE 2

#define CMD_AGENTS_CALL_MS 30000 /* the daemon's version probes take at most a few seconds */
#define CMD_INIT_LINE_MAX  256
#define CMD_INIT_ATTEMPTS  3

static void
cmd_agents_usage(FILE *f)
{
    fprintf(f, "usage: beat agents <command>\n\n"
               "  list [--json]          every agent: installed, version, authentication, "
               "default\n"
               "  check <name> [--json]  one agent in detail; exit 0 when it is ready\n\n"
               "Agents are claude, codex, gemini and those defined in config.json under "
               "agents.<name>\n(see `beat config set agents.<name>.command`). `beat init` picks "
               "the default agent.\n");
}

/* Calls a tool on the daemon; prints the error and returns NULL on failure. */
static json_t *
cmd_agents_call(const char *home, const char *cmd, const char *tool, json_t *args, int *status)
{
    struct err e = { 0 };
    struct rpc_client *c = rpc_client_open(home, true, &e);
    json_t *r = NULL;
    if (c != NULL) {
        r = rpc_call_tool(c, tool, args, CMD_AGENTS_CALL_MS, NULL, NULL, &e);
        rpc_client_close(c);
    }
    if (r == NULL) {
        fprintf(stderr, "beat agents %s: %s\n", cmd, e.msg);
        *status = e.code == ERR_INVALID ? CMD_AGENTS_EXIT_USAGE : CMD_AGENTS_EXIT_FAIL;
    }
    return r;
}

/* Prints JSON for --json. */
static void
cmd_agents_print_json(const json_t *v)
{
    char *s = json_dump_pretty(v);
    printf("%s\n", s);
    free(s);
}

/* "ready (env-var)" and the like. */
static const char *
cmd_agents_auth_text(const json_t *a)
{
    const char *method = json_get_str(a, "authMethod");
    bool ready = json_is_true(json_object_get(a, "ready"));
    if (!ready) {
        return json_is_true(json_object_get(a, "installed")) ? "not configured" : "not installed";
    }
    if (method && strcmp(method, "env-var") == 0) {
        return "ready (env var)";
    }
    if (method && strcmp(method, "config-file") == 0) {
        return "ready (config)";
    }
    return "may need login";
}

/* A string member, or "-". */
static const char *
cmd_agents_or_dash(const json_t *o, const char *key)
{
    const char *s = json_get_str(o, key);
    return s && *s ? s : "-";
}

/* beat agents list */
static int
cmd_agents_list(const char *home, bool as_json)
{
    int status = CMD_AGENTS_EXIT_OK;
    json_t *args = json_object();
    json_t *r = cmd_agents_call(home, "list", "ListAgents", args, &status);
    json_decref(args);
    if (r == NULL) {
        return status;
    }
    if (as_json) {
        cmd_agents_print_json(r);
        json_decref(r);
        return CMD_AGENTS_EXIT_OK;
    }
    const json_t *agents = json_object_get(r, "agents");
    size_t i;
    const json_t *a;
    int wname = 5, wver = 7;
    json_array_foreach(agents, i, a)
    {
        int n = (int)strlen(cmd_agents_or_dash(a, "name"));
        int v = (int)strlen(cmd_agents_or_dash(a, "version"));
        wname = n > wname ? n : wname;
        wver = v > wver ? (v < 40 ? v : 40) : wver;
    }
    printf("%-*s  %-7s  %-9s  %-*s  %-16s  %s\n", wname, "AGENT", "DEFAULT", "INSTALLED", wver,
           "VERSION", "AUTH", "MODEL");
    json_array_foreach(agents, i, a)
    {
        printf("%-*s  %-7s  %-9s  %-*.*s  %-16s  %s\n", wname, cmd_agents_or_dash(a, "name"),
               json_is_true(json_object_get(a, "isDefault")) ? "*" : "",
               json_is_true(json_object_get(a, "installed")) ? "yes" : "no", wver, wver,
               cmd_agents_or_dash(a, "version"), cmd_agents_auth_text(a),
               cmd_agents_or_dash(a, "model"));
    }
    bool hints = false;
    json_array_foreach(agents, i, a)
    {
        const char *hint = json_get_str(a, "hint");
        if (hint != NULL && !json_is_true(json_object_get(a, "ready"))) {
            printf("%s%s: %s\n", hints ? "" : "\n", json_get_str(a, "name"), hint);
            hints = true;
        }
    }
    if (json_is_null(json_object_get(r, "defaultAgent"))) {
        printf("\nNo default agent: run `beat init`, or `beat config set defaultAgent <name>`.\n");
    }
    const json_t *problems = json_object_get(r, "problems");
    if (json_array_size(problems) > 0) {
        printf("\nConfiguration problems:\n");
        json_array_foreach(problems, i, a)
        {
            printf("  - %s\n", json_string_value(a));
        }
    }
    json_decref(r);
    return CMD_AGENTS_EXIT_OK;
}

/* beat agents check <name> */
static int
cmd_agents_check(const char *home, const char *name, bool as_json)
{
    int status = CMD_AGENTS_EXIT_OK;
    json_t *args = json_pack("{s:s, s:s}", "agent", name, "action", "check");
    struct err e = { 0 };
    if (op_validate(&op_configure_agent, args, &e) != 0) {
        fprintf(stderr, "beat agents check: %s\n", e.msg);
        json_decref(args);
        return CMD_AGENTS_EXIT_USAGE;
    }
    json_t *r = cmd_agents_call(home, "check", "ConfigureAgent", args, &status);
    json_decref(args);
    if (r == NULL) {
        return status;
    }
    bool ready = json_is_true(json_object_get(r, "ready"));
    if (as_json) {
        cmd_agents_print_json(r);
        json_decref(r);
        return ready ? CMD_AGENTS_EXIT_OK : CMD_AGENTS_EXIT_FAIL;
    }
    printf("%s: %s%s\n", name, cmd_agents_or_dash(r, "description"),
           json_is_true(json_object_get(r, "isDefault")) ? " [default]" : "");
    if (json_is_true(json_object_get(r, "installed"))) {
        printf("  installed  yes: %s\n", json_get_str(r, "path"));
    } else {
        printf("  installed  no: '%s' is not on PATH\n", cmd_agents_or_dash(r, "command"));
    }
    const char *version = json_get_str(r, "version");
    const char *verr = json_get_str(r, "versionError");
    if (version != NULL || verr != NULL) {
        printf("  version    %s\n", version ? version : verr);
    }
    const char *method = json_get_str(r, "authMethod");
    if (method && strcmp(method, "env-var") == 0) {
        printf("  auth       %s set in the environment\n", json_get_str(r, "envVar"));
    } else if (method && strcmp(method, "config-file") == 0) {
        printf("  auth       API key stored in config.json (%s)\n",
               cmd_agents_or_dash(r, "storedKey"));
    } else if (method && strcmp(method, "cli-installed") == 0) {
        printf("  auth       CLI installed, login not verified\n");
    } else {
        printf("  auth       not configured\n");
    }
    if (json_get_str(r, "model")) {
        printf("  model      %s\n", json_get_str(r, "model"));
    }
    if (json_get_str(r, "baseUrl")) {
        printf("  base URL   %s\n", json_get_str(r, "baseUrl"));
    }
    if (json_get_int(r, "maxConcurrent", 0) > 0) {
        printf("  max        %lld running at once\n",
               (long long)json_get_int(r, "maxConcurrent", 0));
    }
    if (json_get_str(r, "hint")) {
        printf("  hint       %s\n", json_get_str(r, "hint"));
    }
    printf("  status     %s\n",
           ready ? (strcmp(method ? method : "", "cli-installed") == 0 ? "[check auth]" : "[ready]")
                 : "[action needed]");
    json_decref(r);
    return ready ? CMD_AGENTS_EXIT_OK : CMD_AGENTS_EXIT_FAIL;
}

/* Runs `beat agents ...`. */
int
cli_agents_main(const char *home, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "list";
    const char *name = NULL;
    bool as_json = false;
    if (strcmp(sub, "help") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        cmd_agents_usage(stdout);
        return CMD_AGENTS_EXIT_OK;
    }
    if (strcmp(sub, "--json") == 0) {
        sub = "list";
        as_json = true;
    } else if (strcmp(sub, "list") != 0 && strcmp(sub, "check") != 0) {
        fprintf(stderr, "beat agents: unknown command '%s' (list, check)\n", sub);
        return CMD_AGENTS_EXIT_USAGE;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cmd_agents_usage(stdout);
            return CMD_AGENTS_EXIT_OK;
        } else if (argv[i][0] == '-' || strcmp(sub, "check") != 0 || name != NULL) {
            fprintf(stderr, "beat agents %s: unexpected argument '%s'\n", sub, argv[i]);
            return CMD_AGENTS_EXIT_USAGE;
        } else {
            name = argv[i];
        }
    }
    if (strcmp(sub, "list") == 0) {
        return cmd_agents_list(home, as_json);
    }
    if (name == NULL) {
        fprintf(stderr, "beat agents check: which agent? usage: beat agents check <name> "
                        "[--json]\n");
        return CMD_AGENTS_EXIT_USAGE;
    }
    return cmd_agents_check(home, name, as_json);
}

/* ---- beat init ---- */

static void
cmd_init_usage(FILE *f)
{
    fprintf(f, "usage: beat init [--agent NAME] [--yes]\n\n"
               "Picks the default agent (tasks that name none run it) and writes it to "
               "config.json.\n"
               "  -a, --agent NAME  set NAME as the default without asking\n"
               "  -y, --yes         ask even when a default agent is already set\n"
               "Without --agent, init asks on the terminal.\n");
}

/* Loads the configuration as this process sees it. */
static struct config *
cmd_init_load(const char *home, json_t **env)
{
    *env = json_environ();
    return config_load(home, *env);
}

/* Prints what to do so that name can run, when it is not plainly ready. */
static void
cmd_init_hint(const struct config *c, const char *name, const json_t *env)
{
    json_t *st = ops_agent_status(c, name, env);
    const char *method = json_get_str(st, "authMethod");
    const char *hint = json_get_str(st, "hint");
    if (hint != NULL && (method == NULL || strcmp(method, "env-var") != 0) &&
        strcmp(method ? method : "", "config-file") != 0) {
        printf("%s\n", hint);
    }
    json_decref(st);
}

/* Writes defaultAgent and says so. */
static int
cmd_init_save(const char *home, const char *name)
{
    struct err e = { 0 };
    if (config_set(home, "defaultAgent", name, &e) != 0) {
        fprintf(stderr, "beat init: %s\n", e.msg);
        return e.code == ERR_INVALID ? CMD_AGENTS_EXIT_USAGE : CMD_AGENTS_EXIT_FAIL;
    }
    cli_config_notify_daemon(home);
    json_t *env;
    struct config *c = cmd_init_load(home, &env);
    cmd_init_hint(c, name, env);
    char *path = config_path(home);
    printf("Default agent set to '%s' (%s)\n", name, path);
    const char *in_use = config_str(c, "defaultAgent");
    if (in_use == NULL || strcmp(in_use, name) != 0) {
        printf("Note: BACKBEAT_DEFAULT_AGENT in this environment overrides it (%s)\n",
               in_use ? in_use : "unset");
    }
    free(path);
    config_free(c);
    json_decref(env);
    return CMD_AGENTS_EXIT_OK;
}

/* Reads one line from stdin into buf without its newline; false at end of input. */
static bool
cmd_init_read(char *buf, size_t size)
{
    fflush(stdout);
    if (fgets(buf, (int)size, stdin) == NULL) {
        return false;
    }
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] != '\n' && !feof(stdin)) {
        int ch;
        while ((ch = getchar()) != EOF && ch != '\n') {
            /* drop the rest of an over-long line */
        }
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) {
        buf[--n] = '\0';
    }
    char *p = buf;
    while (*p == ' ') {
        p++;
    }
    memmove(buf, p, strlen(p) + 1);
    return true;
}

/* The agents in the order offered: installed ones first, each group in list order. */
static json_t *
cmd_init_choices(const struct config *c, const json_t *env)
{
    char **names = config_agent_names(c);
    json_t *ready = json_array(), *rest = json_array();
    for (char **p = names; *p; p++) {
        json_t *st = ops_agent_status(c, *p, env);
        if (st == NULL) {
            continue;
        }
        json_array_append_new(json_is_true(json_object_get(st, "installed")) ? ready : rest, st);
    }
    json_array_extend(ready, rest);
    json_decref(rest);
    strv_free(names);
    return ready;
}

/* Asks which agent to use; returns the chosen name (owned) or NULL when cancelled. */
static char *
cmd_init_ask(const json_t *choices)
{
    size_t n = json_array_size(choices), i;
    const json_t *a;
    printf("Which agent should run tasks that name none?\n");
    json_array_foreach(choices, i, a)
    {
        printf("  %zu) %-10s %s: %s\n", i + 1, json_get_str(a, "name"),
               json_get_str(a, "description"), cmd_agents_auth_text(a));
    }
    const char *first = json_get_str(json_array_get(choices, 0), "name");
    for (int attempt = 0; attempt < CMD_INIT_ATTEMPTS; attempt++) {
        char line[CMD_INIT_LINE_MAX];
        printf("Default agent [1-%zu or a name, Enter for %s]: ", n, first);
        if (!cmd_init_read(line, sizeof line)) {
            printf("\n");
            return NULL;
        }
        if (line[0] == '\0') {
            return xstrdup(first);
        }
        char *end = NULL;
        long k = strtol(line, &end, 10);
        if (end != line && *end == '\0' && k >= 1 && (size_t)k <= n) {
            return xstrdup(json_get_str(json_array_get(choices, (size_t)k - 1), "name"));
        }
        json_array_foreach(choices, i, a)
        {
            if (strcmp(json_get_str(a, "name"), line) == 0) {
                return xstrdup(line);
            }
        }
        printf("'%.64s' is not one of the choices.\n", line);
    }
    return NULL;
}

/* Runs `beat init ...`. */
int
cli_init_main(const char *home, int argc, char **argv)
{
    const char *agent = NULL;
    bool yes = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cmd_init_usage(stdout);
            return CMD_AGENTS_EXIT_OK;
        } else if (strcmp(a, "--yes") == 0 || strcmp(a, "-y") == 0) {
            yes = true;
        } else if ((strcmp(a, "--agent") == 0 || strcmp(a, "-a") == 0) && i + 1 < argc) {
            agent = argv[++i];
        } else if (str_has_prefix(a, "--agent=")) {
            agent = a + strlen("--agent=");
        } else {
            fprintf(stderr, "beat init: unexpected argument '%s'\n", a);
            cmd_init_usage(stderr);
            return CMD_AGENTS_EXIT_USAGE;
        }
    }
    if (home == NULL || *home == '\0') {
        fprintf(stderr, "beat init: no state directory (set BACKBEAT_HOME or HOME)\n");
        return CMD_AGENTS_EXIT_FAIL;
    }
    json_t *env;
    struct config *c = cmd_init_load(home, &env);
    int rc = CMD_AGENTS_EXIT_FAIL;
    char *chosen = NULL;
    json_t *choices = NULL;
    if (agent != NULL) {
        if (!config_agent_known(config_agents(c), agent)) {
            char *known = config_agent_list(c);
            fprintf(stderr, "beat init: unknown agent '%.64s'; known agents: %s\n", agent, known);
            free(known);
            rc = CMD_AGENTS_EXIT_USAGE;
            goto out;
        }
        rc = cmd_init_save(home, agent);
        goto out;
    }
    if (!isatty(STDIN_FILENO)) {
        char *known = config_agent_list(c);
        fprintf(stderr,
                "beat init: no terminal to ask on; run `beat init --agent <name>` (known agents: "
                "%s)\n",
                known);
        free(known);
        rc = CMD_AGENTS_EXIT_USAGE;
        goto out;
    }
    const char *current = config_str(c, "defaultAgent");
    if (current != NULL && !yes) {
        char line[CMD_INIT_LINE_MAX];
        printf("The default agent is '%s'. Choose again? [y/N] ", current);
        if (!cmd_init_read(line, sizeof line) || (line[0] != 'y' && line[0] != 'Y')) {
            printf("Configuration unchanged.\n");
            rc = CMD_AGENTS_EXIT_OK;
            goto out;
        }
    }
    choices = cmd_init_choices(c, env);
    chosen = cmd_init_ask(choices);
    if (chosen == NULL) {
        printf("Setup cancelled; nothing was written.\n");
        rc = CMD_AGENTS_EXIT_OK;
        goto out;
    }
    rc = cmd_init_save(home, chosen);
out:
    free(chosen);
    json_decref(choices);
    config_free(c);
    json_decref(env);
    return rc;
}
