/* Per-agent settings as the daemon applies them: the list of known agents (built-ins, then the
 * user-defined ones of config.json), the settings their commands are built with, and the
 * per-agent maxConcurrent decision. Reading and checking config.json is config.c's job; field
 * rules are agents/agent-conf.c's. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agents/agent.h"
#include "core/config.h"
#include "util/buf.h"
#include "util/str.h"
#include "util/xmalloc.h"

/* Checks the form of an agent name for the op table. */
bool
config_agent_name_format(const char *s, const char **why)
{
    if (!agent_conf_name_ok(s)) {
        *why = "must be an agent name: a lowercase letter, then up to 31 lowercase letters, "
               "digits, _ or -";
        return false;
    }
    return true;
}

/* Lists every known agent. */
char **
config_agent_names(const struct config *c)
{
    const struct agent_driver *const *builtins = agent_builtins();
    const json_t *agents = config_agents(c);
    size_t nb = 0;
    while (builtins[nb] != NULL) {
        nb++;
    }
    char **v = xcalloc(nb + json_object_size(agents) + 1, sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < nb; i++) {
        v[n++] = xstrdup(builtins[i]->name);
    }
    const char *name;
    json_t *entry;
    json_object_foreach((json_t *)agents, name, entry)
    {
        if (agent_find(name) == NULL && config_agent_known(agents, name)) {
            v[n++] = xstrdup(name);
        }
    }
    return v;
}

/* Lists every known agent as one string. */
char *
config_agent_list(const struct config *c)
{
    char **names = config_agent_names(c);
    struct buf b;
    buf_init(&b);
    for (char **p = names; *p; p++) {
        buf_printf(&b, "%s%s", p == names ? "" : ", ", *p);
    }
    strv_free(names);
    return buf_take(&b);
}

/* True for a user-defined agent. */
bool
config_agent_is_user(const struct config *c, const char *name)
{
    return agent_find(name) == NULL && config_agent_known(config_agents(c), name);
}

/* Loads one agent's settings. */
int
config_agent_conf(const struct config *c, const char *name, struct agent_conf *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    if (name == NULL || !config_agent_known(config_agents(c), name)) {
        char *known = config_agent_list(c);
        err_set(e, ERR_NOTFOUND, "unknown agent '%.64s'; known agents: %s", name ? name : "",
                known);
        free(known);
        return -1;
    }
    if (agent_conf_load(name, config_agent(c, name), out, e) != 0) {
        return -1;
    }
    if (out->driver == NULL && agent_conf_program(out) == NULL) {
        /* Say why the command is missing: loading reported it (no {prompt}, not an array...). */
        char *mention = xasprintf("agents.%s.command", name);
        const char *why = NULL;
        for (const char *const *p = config_problems(c); *p && why == NULL; p++) {
            if (str_has_prefix(*p, mention)) {
                why = *p;
            }
        }
        if (why != NULL) {
            err_set(e, ERR_INVALID, "%s", why);
        } else {
            err_set(e, ERR_INVALID,
                    "%s: not set; a user-defined agent needs an argv template such as "
                    "[\"%s\", \"--\", \"{prompt}\"]",
                    mention, name);
        }
        free(mention);
        return -1;
    }
    return 0;
}

/* Returns an agent's maxConcurrent, or 0. */
int64_t
config_agent_max_concurrent(const struct config *c, const char *name)
{
    const json_t *v = json_object_get(config_agent(c, name), "maxConcurrent");
    int64_t n = json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
    return n >= 1 && n <= AGENT_CONF_MAX_CONCURRENT_MAX ? n : 0;
}

/* Decides whether one more task of agent may start. */
bool
config_agent_can_start(const struct config *c, const char *agent, int running_of_agent, char **why)
{
    int64_t cap = agent ? config_agent_max_concurrent(c, agent) : 0;
    if (cap == 0 || running_of_agent < cap) {
        return true;
    }
    *why = xasprintf("agent %s: %d running, maxConcurrent %lld", agent, running_of_agent,
                     (long long)cap);
    return false;
}
