/* The agent registry and the steps every driver shares: checking a run's settings, building the
 * environment (client env, stripped variables, API key, config env, BACKBEAT_* markers) and the
 * system-prompt block. The per-CLI argv lives in agent-<cli>.c; nothing here spawns. */
#include "agents/agent.h"

#include <stdlib.h>
#include <string.h>

#include "agents/agent-int.h"
#include "util/buf.h"
#include "util/str.h"
#include "util/xmalloc.h"

static const struct agent_driver *const agent_table[] = {
    &agent_claude_driver,
    &agent_codex_driver,
    &agent_gemini_driver,
    NULL,
};

static const char *const agent_format_names[] = {
    [AGENT_FORMAT_TEXT] = "text",
    [AGENT_FORMAT_CLAUDE] = "claude",
    [AGENT_FORMAT_CODEX] = "codex",
    [AGENT_FORMAT_GEMINI] = "gemini",
};

/* Returns the built-in drivers, NULL-terminated. */
const struct agent_driver *const *
agent_builtins(void)
{
    return agent_table;
}

/* Finds a built-in driver by name. */
const struct agent_driver *
agent_find(const char *name)
{
    for (size_t i = 0; name != NULL && agent_table[i] != NULL; i++) {
        if (strcmp(agent_table[i]->name, name) == 0) {
            return agent_table[i];
        }
    }
    return NULL;
}

/* Builds the command for one run with driver d. */
int
agent_build(const struct agent_driver *d, const struct agent_run_spec *spec, struct agent_cmd *out,
            struct err *e)
{
    out->argv = NULL;
    out->envp = NULL;
    return d->build(d, spec, out, e);
}

/* Names a stream format. */
const char *
agent_format_name(enum agent_format f)
{
    if ((size_t)f < sizeof(agent_format_names) / sizeof(agent_format_names[0])) {
        return agent_format_names[f];
    }
    return "unknown";
}

/* Parses a stream format name. */
int
agent_format_parse(const char *s, enum agent_format *out)
{
    for (size_t i = 0; s != NULL && i < sizeof(agent_format_names) / sizeof(agent_format_names[0]);
         i++) {
        if (strcmp(s, agent_format_names[i]) == 0) {
            *out = (enum agent_format)i;
            return 0;
        }
    }
    return -1;
}

/* Picks the first non-empty string. */
const char *
agent_pick(const char *a, const char *b)
{
    if (a != NULL && a[0] != '\0') {
        return a;
    }
    if (b != NULL && b[0] != '\0') {
        return b;
    }
    return NULL;
}

/* Refuses control characters and a leading '-' (it would read as an option). */
static int
agent_check_word(const char *field, const char *s, size_t max, struct err *e)
{
    size_t n = strlen(s);
    if (n > max) {
        return err_set(e, ERR_INVALID, "%s: %zu bytes, at most %zu allowed", field, n, max);
    }
    if (s[0] == '-') {
        return err_set(e, ERR_INVALID, "%s: must not start with '-'", field);
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            return err_set(e, ERR_INVALID, "%s: must not contain control characters", field);
        }
    }
    return 0;
}

/* Checks what the drivers put on the command line or into the environment. */
int
agent_check_spec(const struct agent_run_spec *spec, struct err *e)
{
    const struct agent_config *cfg = spec->config;
    const char *model = agent_pick(spec->model, cfg ? cfg->model : NULL);
    const char *url = cfg ? agent_pick(cfg->base_url, NULL) : NULL;
    const char *key = cfg ? agent_pick(cfg->api_key, NULL) : NULL;
    const char *session = agent_pick(spec->resume_session, NULL);

    if (spec->task_id == NULL || spec->task_id[0] == '\0') {
        return err_set(e, ERR_INVALID, "task_id: required");
    }
    if (spec->prompt == NULL || spec->prompt[0] == '\0') {
        return err_set(e, ERR_INVALID, "prompt: must not be empty");
    }
    if (model != NULL && agent_check_word("model", model, 256, e) != 0) {
        return -1;
    }
    if (session != NULL) {
        if (agent_check_word("resume_session", session, 128, e) != 0) {
            return -1;
        }
        if (strspn(session, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") !=
            strlen(session)) {
            return err_set(e, ERR_INVALID,
                           "resume_session: only letters, digits and '.', '_', ':', '-' allowed");
        }
    }
    if (url != NULL) {
        if (agent_check_word("base_url", url, 2048, e) != 0) {
            return -1;
        }
        if ((!str_has_prefix(url, "http://") && !str_has_prefix(url, "https://")) ||
            strpbrk(url, " \"\\") != NULL) {
            return err_set(e, ERR_INVALID,
                           "base_url: must be an http:// or https:// URL without spaces, quotes "
                           "or backslashes");
        }
    }
    if (key != NULL && agent_check_word("api_key", key, 4096, e) != 0) {
        return -1;
    }
    return 0;
}

/* Copies the client's environment, leaving out what strip() names. */
int
agent_env_begin(struct agent_cmd_builder *b, const struct agent_run_spec *spec,
                bool (*strip)(const char *name), struct err *e)
{
    const char *name;
    json_t *v;

    if (agent_cmd_mergeenv(b, "client_env", spec->client_env, e) != 0) {
        return -1;
    }
    if (strip == NULL || spec->client_env == NULL) {
        return 0;
    }
    json_object_foreach((json_t *)spec->client_env, name, v)
    {
        if (strip(name)) {
            agent_cmd_unsetenv(b, name);
        }
    }
    return 0;
}

/* Injects the configured API key when the client has none. */
void
agent_env_api_key(struct agent_cmd_builder *b, const struct agent_run_spec *spec,
                  const char *key_env)
{
    const char *key = spec->config ? agent_pick(spec->config->api_key, NULL) : NULL;
    const char *have = agent_cmd_peekenv(b, key_env);
    if (key != NULL && (have == NULL || have[0] == '\0')) {
        agent_cmd_setenv(b, key_env, key);
    }
}

/* Applies the config env, then the markers no configuration may change. */
int
agent_env_finish(struct agent_cmd_builder *b, const struct agent_run_spec *spec, struct err *e)
{
    if (spec->config != NULL && agent_cmd_mergeenv(b, "env", spec->config->env, e) != 0) {
        return -1;
    }
    agent_cmd_setenv(b, "BACKBEAT_TASK_ID", spec->task_id);
    agent_cmd_setenv(b, "BACKBEAT_WORKER", "true");
    return 0;
}

/* Puts the system prompt in front of the prompt for agents without a system-prompt option. */
char *
agent_prompt_with_system(const char *prompt, const char *system_prompt)
{
    struct buf b;
    buf_init(&b);
    buf_adds(&b, "<system-instructions>\n");
    buf_adds(&b, system_prompt);
    buf_adds(&b, "\n</system-instructions>\n\n");
    buf_adds(&b, prompt);
    return buf_take(&b);
}

/* Resolves the settings of one run. */
void
agent_opts_resolve(const struct agent_run_spec *spec, struct agent_opts *o)
{
    const struct agent_config *cfg = spec->config;
    o->model = agent_pick(spec->model, cfg ? cfg->model : NULL);
    o->system_prompt = agent_pick(spec->system_prompt, cfg ? cfg->system_prompt : NULL);
    o->session = agent_pick(spec->resume_session, NULL);
    o->base_url = cfg ? agent_pick(cfg->base_url, NULL) : NULL;
    o->extra_args = cfg ? cfg->extra_args : NULL;
}
