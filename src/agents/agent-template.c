/* User-defined agents: a command template from configuration, with {prompt}, {model},
 * {workdir} and {session} replaced inside each argv element. No shell is involved and nothing
 * else is expanded, so a prompt can never become a second argument or a shell command. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agent-int.h"
#include "agents/agent.h"
#include "util/buf.h"
#include "util/str.h"

#define AGENT_TEMPLATE_ARGS_MAX 256

/* Expands one template element into out; returns false when it names a placeholder that has
 * no value (the element is then left out). */
static bool
agent_template_expand(const char *tmpl, const char *const values[][2], size_t nvalues,
                      struct buf *out)
{
    const char *p = tmpl;

    buf_reset(out);
    buf_add(out, "", 0);
    while (*p != '\0') {
        bool matched = false;
        if (*p == '{') {
            for (size_t i = 0; i < nvalues; i++) {
                size_t n = strlen(values[i][0]);
                if (strncmp(p, values[i][0], n) == 0) {
                    if (values[i][1] == NULL) {
                        return false;
                    }
                    buf_adds(out, values[i][1]);
                    p += n;
                    matched = true;
                    break;
                }
            }
        }
        if (!matched) {
            buf_addc(out, *p++);
        }
    }
    return true;
}

/* Builds a user-defined agent's command from its template. */
int
agent_build_template(const struct agent_config *cfg, const struct agent_run_spec *spec,
                     struct agent_cmd *out, struct err *e)
{
    struct agent_run_spec s = *spec;
    struct agent_cmd_builder b;
    struct agent_opts o;
    struct buf arg;
    char *prompt = NULL, field[32];
    size_t n;
    int rc = -1;

    agent_cmd_begin(&b);
    buf_init(&arg);
    out->argv = NULL;
    out->envp = NULL;
    s.config = cfg;
    if (cfg == NULL || cfg->command == NULL || cfg->command[0] == NULL ||
        cfg->command[0][0] == '\0') {
        err_set(e, ERR_INVALID, "command: a user-defined agent needs a command template");
        goto out;
    }
    n = strv_len(cfg->command);
    if (n > AGENT_TEMPLATE_ARGS_MAX) {
        err_set(e, ERR_INVALID, "command: %zu elements, at most %d", n, AGENT_TEMPLATE_ARGS_MAX);
        goto out;
    }
    agent_opts_resolve(&s, &o);
    if (agent_check_spec(&s, e) != 0) {
        goto out;
    }
    if (o.system_prompt != NULL) {
        prompt = agent_prompt_with_system(spec->prompt, o.system_prompt);
    }
    const char *const values[][2] = {
        { "{prompt}", prompt ? prompt : spec->prompt },
        { "{model}", o.model },
        { "{workdir}", agent_pick(spec->working_directory, NULL) },
        { "{session}", o.session },
    };
    if (agent_cmd_arg(&b, "command[0]", cfg->command[0], e) != 0) {
        goto out;
    }
    for (size_t i = 1; i < n; i++) {
        if (!agent_template_expand(cfg->command[i], values, sizeof(values) / sizeof(values[0]),
                                   &arg)) {
            continue;
        }
        snprintf(field, sizeof(field), "command[%zu]", i);
        if (agent_cmd_arg(&b, field, arg.data, e) != 0) {
            goto out;
        }
    }
    if (agent_env_begin(&b, &s, NULL, e) != 0 || agent_env_finish(&b, &s, e) != 0 ||
        agent_cmd_end(&b, out, e) != 0) {
        goto out;
    }
    rc = 0;
out:
    free(prompt);
    buf_fini(&arg);
    agent_cmd_abort(&b);
    return rc;
}

/* The build function of a driver for a user-defined agent. */
int
agent_template_build(const struct agent_driver *d, const struct agent_run_spec *spec,
                     struct agent_cmd *out, struct err *e)
{
    (void)d;
    return agent_build_template(spec->config, spec, out, e);
}
