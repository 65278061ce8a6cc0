/* Building an agent's command: argv and a complete environment as NULL-terminated string arrays,
 * every string checked against Linux's per-argument limit and the whole against a total budget,
 * so a spawn never fails with E2BIG. It knows nothing about any particular agent CLI. */
#include <stdlib.h>
#include <string.h>

#include "agents/agent-int.h"
#include "agents/agent.h"
#include "util/xmalloc.h"

/* Grows a NULL-terminated array so it can hold one more string and the terminator. */
static void
agent_cmd_grow(char ***v, size_t n, size_t *cap)
{
    if (n + 2 > *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *v = xrealloc(*v, *cap * sizeof(**v));
    }
}

/* Starts an empty command. */
void
agent_cmd_begin(struct agent_cmd_builder *b)
{
    memset(b, 0, sizeof(*b));
}

/* Appends one argv element built from two parts. */
int
agent_cmd_arg2(struct agent_cmd_builder *b, const char *field, const char *prefix, const char *s,
               struct err *e)
{
    size_t a = strlen(prefix), n = strlen(s);
    if (a + n + 1 > AGENT_ARG_MAX) {
        return err_set(e, ERR_INVALID,
                       "%s: the argument would be %zu bytes, over the %d-byte limit of one "
                       "command-line argument",
                       field, a + n, AGENT_ARG_MAX - 1);
    }
    agent_cmd_grow(&b->argv, b->argc, &b->argv_cap);
    char *p = xmalloc(a + n + 1);
    memcpy(p, prefix, a);
    memcpy(p + a, s, n + 1);
    b->argv[b->argc++] = p;
    b->argv[b->argc] = NULL;
    return 0;
}

/* Appends one argv element. */
int
agent_cmd_arg(struct agent_cmd_builder *b, const char *field, const char *s, struct err *e)
{
    return agent_cmd_arg2(b, field, "", s, e);
}

/* Appends an option and its value, if there is a value. */
int
agent_cmd_opt(struct agent_cmd_builder *b, const char *opt, const char *field, const char *value,
              struct err *e)
{
    if (value == NULL) {
        return 0;
    }
    if (agent_cmd_arg(b, field, opt, e) != 0 || agent_cmd_arg(b, field, value, e) != 0) {
        return -1;
    }
    return 0;
}

/* Appends a NULL-terminated list of elements. */
int
agent_cmd_args(struct agent_cmd_builder *b, const char *field, char *const *v, struct err *e)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
        if (i >= 256) {
            return err_set(e, ERR_INVALID, "%s: more than 256 arguments", field);
        }
        if (agent_cmd_arg(b, field, v[i], e) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Index of name's entry, or envc when absent. */
static size_t
agent_cmd_envfind(const struct agent_cmd_builder *b, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < b->envc; i++) {
        if (strncmp(b->env[i], name, len) == 0 && b->env[i][len] == '=') {
            return i;
        }
    }
    return b->envc;
}

/* Sets or replaces a variable. */
void
agent_cmd_setenv(struct agent_cmd_builder *b, const char *name, const char *value)
{
    char *kv = xasprintf("%s=%s", name, value);
    size_t i = agent_cmd_envfind(b, name);
    if (i < b->envc) {
        free(b->env[i]);
        b->env[i] = kv;
        return;
    }
    agent_cmd_grow(&b->env, b->envc, &b->env_cap);
    b->env[b->envc++] = kv;
    b->env[b->envc] = NULL;
}

/* Removes a variable if present, keeping the others in order. */
void
agent_cmd_unsetenv(struct agent_cmd_builder *b, const char *name)
{
    size_t i = agent_cmd_envfind(b, name);
    if (i == b->envc) {
        return;
    }
    free(b->env[i]);
    memmove(&b->env[i], &b->env[i + 1], (b->envc - i) * sizeof(*b->env));
    b->envc--;
}

/* The current value of a variable, or NULL. */
const char *
agent_cmd_peekenv(const struct agent_cmd_builder *b, const char *name)
{
    size_t i = agent_cmd_envfind(b, name);
    return i < b->envc ? b->env[i] + strlen(name) + 1 : NULL;
}

/* Merges a JSON object of variables, refusing what no environment can hold. */
int
agent_cmd_mergeenv(struct agent_cmd_builder *b, const char *field, const json_t *obj, struct err *e)
{
    const char *name;
    json_t *v;

    if (obj == NULL || json_is_null(obj)) {
        return 0;
    }
    if (!json_is_object(obj)) {
        return err_set(e, ERR_INVALID, "%s: must be an object of \"NAME\": \"value\" strings",
                       field);
    }
    if (json_object_size(obj) > AGENT_ENV_MAX) {
        return err_set(e, ERR_INVALID, "%s: more than %d variables", field, AGENT_ENV_MAX);
    }
    json_object_foreach((json_t *)obj, name, v)
    {
        if (name[0] == '\0' || strchr(name, '=') != NULL) {
            return err_set(e, ERR_INVALID,
                           "%s: variable name '%.64s' must be non-empty and "
                           "without '='",
                           field, name);
        }
        if (!json_is_string(v)) {
            return err_set(e, ERR_INVALID, "%s: the value of %.64s must be a string", field, name);
        }
        if (strlen(json_string_value(v)) != json_string_length(v)) {
            return err_set(e, ERR_INVALID, "%s: the value of %.64s contains a NUL byte", field,
                           name);
        }
        if (strlen(name) + json_string_length(v) + 2 > AGENT_ARG_MAX) {
            return err_set(e, ERR_INVALID,
                           "%s: %.64s is over the %d-byte limit of one "
                           "environment string",
                           field, name, AGENT_ARG_MAX - 1);
        }
        agent_cmd_setenv(b, name, json_string_value(v));
    }
    return 0;
}

/* Checks the finished command's sizes and moves it to out. */
int
agent_cmd_end(struct agent_cmd_builder *b, struct agent_cmd *out, struct err *e)
{
    size_t total = 0;

    if (b->argc == 0) {
        return err_set(e, ERR_INTERNAL, "agent command has no program");
    }
    if (b->envc > AGENT_ENV_MAX) {
        return err_set(e, ERR_INVALID, "env: %zu variables, more than %d", b->envc, AGENT_ENV_MAX);
    }
    for (size_t i = 0; i < b->envc; i++) {
        size_t n = strlen(b->env[i]);
        if (n + 1 > AGENT_ARG_MAX) {
            return err_set(e, ERR_INVALID,
                           "env: a variable is over the %d-byte limit of one "
                           "environment string",
                           AGENT_ARG_MAX - 1);
        }
        total += n + 1 + sizeof(char *);
    }
    for (size_t i = 0; i < b->argc; i++) {
        total += strlen(b->argv[i]) + 1 + sizeof(char *);
    }
    if (total > AGENT_CMD_TOTAL_MAX) {
        return err_set(e, ERR_INVALID, "argv and env: %zu bytes together, over the %d-byte limit",
                       total, AGENT_CMD_TOTAL_MAX);
    }
    if (b->env == NULL) {
        agent_cmd_grow(&b->env, 0, &b->env_cap);
        b->env[0] = NULL;
    }
    out->argv = b->argv;
    out->envp = b->env;
    agent_cmd_begin(b);
    return 0;
}

/* Frees a builder's strings. */
void
agent_cmd_abort(struct agent_cmd_builder *b)
{
    for (size_t i = 0; i < b->argc; i++) {
        free(b->argv[i]);
    }
    for (size_t i = 0; i < b->envc; i++) {
        free(b->env[i]);
    }
    free(b->argv);
    free(b->env);
    agent_cmd_begin(b);
}

/* Frees a built command (NULL-safe, idempotent). */
void
agent_cmd_fini(struct agent_cmd *cmd)
{
    if (cmd == NULL) {
        return;
    }
    for (size_t i = 0; cmd->argv != NULL && cmd->argv[i] != NULL; i++) {
        free(cmd->argv[i]);
    }
    for (size_t i = 0; cmd->envp != NULL && cmd->envp[i] != NULL; i++) {
        free(cmd->envp[i]);
    }
    free(cmd->argv);
    free(cmd->envp);
    cmd->argv = NULL;
    cmd->envp = NULL;
}

/* Looks a variable up in a built command's environment. */
const char *
agent_cmd_getenv(const struct agent_cmd *cmd, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; cmd->envp != NULL && cmd->envp[i] != NULL; i++) {
        if (strncmp(cmd->envp[i], name, len) == 0 && cmd->envp[i][len] == '=') {
            return cmd->envp[i] + len + 1;
        }
    }
    return NULL;
}
