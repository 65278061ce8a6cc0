/* Per-agent settings as the daemon applies them: which agents exist, the settings a command is
 * built with, and the per-agent concurrency cap. Built on core/config.c (which includes this
 * header) and on the field rules of agents/agent-conf.c. Pure: no I/O. */
#ifndef CORE_CONFIG_AGENT_H
#define CORE_CONFIG_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "agents/agent.h"
#include "util/err.h"

struct config;

/* The JSON Schema pattern of an agent name, as config_agent_name_format enforces it. */
#define CONFIG_AGENT_NAME_PATTERN AGENT_CONF_NAME_PATTERN

/* An op_arg format: true when s has the form of an agent name. Whether the agent exists is the
 * handler's check (config_agent_known), since configured agents change at run time. */
bool config_agent_name_format(const char *s, const char **why);
/* Every known agent: the built-ins, then the user-defined ones in file order. NULL-terminated,
 * owned (strv_free). */
char **config_agent_names(const struct config *c);
/* The same joined with ", " ("claude, codex, gemini, aider"); caller frees. */
char *config_agent_list(const struct config *c);
/* True for a user-defined agent: known and not a built-in. */
bool config_agent_is_user(const struct config *c, const char *name);
/* Loads name's settings to build commands with (agent_conf_load over config_agent). Fails with
 * ERR_NOTFOUND naming the known agents when name is neither built-in nor configured, and with
 * ERR_INVALID when a user-defined agent has no usable command (the message is the problem
 * loading reported: no {prompt}, not an array...). Release out with agent_conf_fini, also after
 * a failure. */
int config_agent_conf(const struct config *c, const char *name, struct agent_conf *out,
                      struct err *e);
/* agents.<name>.maxConcurrent, or 0 when the agent has no cap. */
int64_t config_agent_max_concurrent(const struct config *c, const char *name);
/* Decides whether one more task of agent may start while running_of_agent of its tasks run.
 * When not, *why (owned) says which cap holds it ("agent claude: 1 running, maxConcurrent 1");
 * otherwise *why is left alone. An agent without maxConcurrent always may. Pure. */
bool config_agent_can_start(const struct config *c, const char *agent, int running_of_agent,
                            char **why);

#endif
