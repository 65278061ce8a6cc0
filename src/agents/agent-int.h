/* Internal to agents/: the command builder and report helpers the per-CLI drivers share.
 * Nothing outside src/agents/ includes this header. */
#ifndef AGENTS_AGENT_INT_H
#define AGENTS_AGENT_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "agents/agent.h"
#include "util/err.h"

/* The built-in drivers (agent-claude.c, agent-codex.c, agent-gemini.c). */
extern const struct agent_driver agent_claude_driver;
extern const struct agent_driver agent_codex_driver;
extern const struct agent_driver agent_gemini_driver;

/* Per-CLI stream parsers: ev is one parsed stdout line that is a JSON object. */
void agent_claude_parse(const json_t *ev, struct agent_report *r);
void agent_codex_parse(const json_t *ev, struct agent_report *r);
void agent_gemini_parse(const json_t *ev, struct agent_report *r);

/* A command under construction: argv and environment grow, each string checked on the way. */
struct agent_cmd_builder {
    char **argv;
    size_t argc, argv_cap;
    char **env;
    size_t envc, env_cap;
};

void agent_cmd_begin(struct agent_cmd_builder *b);
/* Appends a copy of s; fails with ERR_INVALID naming field when s reaches AGENT_ARG_MAX. */
int agent_cmd_arg(struct agent_cmd_builder *b, const char *field, const char *s, struct err *e);
/* Appends prefix followed by s as one element (e.g. "--prompt=" and the prompt). */
int agent_cmd_arg2(struct agent_cmd_builder *b, const char *field, const char *prefix,
                   const char *s, struct err *e);
/* Appends the option and its value as two elements when value is not NULL. */
int agent_cmd_opt(struct agent_cmd_builder *b, const char *opt, const char *field,
                  const char *value, struct err *e);
/* Appends every element of a NULL-terminated list (config extra_args). */
int agent_cmd_args(struct agent_cmd_builder *b, const char *field, char *const *v, struct err *e);
/* Sets name=value, replacing an earlier value of name. */
void agent_cmd_setenv(struct agent_cmd_builder *b, const char *name, const char *value);
void agent_cmd_unsetenv(struct agent_cmd_builder *b, const char *name);
/* The current value of name, or NULL. */
const char *agent_cmd_peekenv(const struct agent_cmd_builder *b, const char *name);
/* Merges a {"NAME":"value"} object into the environment, checking names and values. */
int agent_cmd_mergeenv(struct agent_cmd_builder *b, const char *field, const json_t *obj,
                       struct err *e);
/* Checks the environment's size and hands argv and envp to out; the builder is left empty. */
int agent_cmd_end(struct agent_cmd_builder *b, struct agent_cmd *out, struct err *e);
/* Frees whatever the builder holds. */
void agent_cmd_abort(struct agent_cmd_builder *b);

/* The effective settings of one run: per-task values over configured ones, "" as unset. */
struct agent_opts {
    const char *model;
    const char *system_prompt;
    const char *session; /* resume this session */
    const char *base_url;
    char *const *extra_args;
};

/* Common steps of every driver (agent.c). */
void agent_opts_resolve(const struct agent_run_spec *spec, struct agent_opts *o);
/* The first non-empty of a and b, or NULL. */
const char *agent_pick(const char *a, const char *b);
/* Checks task_id and prompt, and the optional model, resume session, base URL and API key. */
int agent_check_spec(const struct agent_run_spec *spec, struct err *e);
/* Starts the environment: the client's, minus the variables strip() says to drop (may be NULL). */
int agent_env_begin(struct agent_cmd_builder *b, const struct agent_run_spec *spec,
                    bool (*strip)(const char *name), struct err *e);
/* Sets key_env to the configured API key unless the environment already has a non-empty one. */
void agent_env_api_key(struct agent_cmd_builder *b, const struct agent_run_spec *spec,
                       const char *key_env);
/* Applies the configured env (overrides everything before it) and the BACKBEAT_* variables. */
int agent_env_finish(struct agent_cmd_builder *b, const struct agent_run_spec *spec, struct err *e);
/* The prompt with the system prompt in front in a delimited block; caller frees. */
char *agent_prompt_with_system(const char *prompt, const char *system_prompt);

/* Report helpers (agent-report.c). All copy, sanitize to UTF-8 and bound what they keep. */
void agent_report_set_session(struct agent_report *r, const char *s, size_t n);
void agent_report_set_result(struct agent_report *r, const char *s, size_t n);
void agent_report_append_result(struct agent_report *r, const char *s, size_t n);
/* Sets api_error from a CLI's error text, normalised to "API error <status>: <message>" when
 * the status is known (status 0: taken from the text when it says so). */
void agent_report_set_error(struct agent_report *r, int status, const char *s, size_t n);
/* Clears api_error, api_status and limit_resets_at_ms (the run recovered). */
void agent_report_clear_error(struct agent_report *r);
/* Sets last_line to the last non-blank line of s, trimmed. */
void agent_report_set_last_line(struct agent_report *r, const char *s, size_t n);
/* Sets last_line to "<tool>: <first line of what>". */
void agent_report_set_tool(struct agent_report *r, const char *tool, const char *what);
/* A one-line summary of a tool's input object: its command, path, pattern, query or url. */
const char *agent_report_tool_arg(const json_t *input);

/* A string member as bytes: *n gets its length (NUL-safe); NULL when absent or not a string. */
const char *agent_json_str(const json_t *obj, const char *key, size_t *n);

#endif
