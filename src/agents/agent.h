/* Agent adapters: one driver per agent CLI behind one interface. A driver turns a task into an
 * argv and an environment (never a shell string), and its parser turns the agent's stdout
 * stream, one line at a time, into a report (session id, result text, usage, cost, API error).
 * Pure: no I/O, no processes. The runtime spawns; the engine decides. */
#ifndef AGENTS_AGENT_H
#define AGENTS_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util/err.h"

/* Linux's limit on one argv or environment string, NUL included (MAX_ARG_STRLEN). */
#define AGENT_ARG_MAX 131072
/* Most variables in an agent's environment. */
#define AGENT_ENV_MAX 1000
/* Most bytes of all argv and environment strings together (Linux allows about 2 MiB). */
#define AGENT_CMD_TOTAL_MAX (1024 * 1024)
/* Bounds of the report's strings, in bytes. */
#define AGENT_LAST_LINE_MAX 500
#define AGENT_ERROR_MAX     1000
#define AGENT_RESULT_MAX    (1024 * 1024)
/* Longer stdout lines are not parsed as JSON (the text format keeps a bounded prefix). */
#define AGENT_LINE_MAX (8 * 1024 * 1024)

/* How an agent's stdout is read. */
enum agent_format {
    AGENT_FORMAT_TEXT = 0, /* plain text: the last non-empty line is the result */
    AGENT_FORMAT_CLAUDE,   /* claude -p --output-format stream-json --verbose */
    AGENT_FORMAT_CODEX,    /* codex exec --json */
    AGENT_FORMAT_GEMINI,   /* gemini --prompt=... --output-format stream-json */
};

/* Per-agent settings from configuration (all optional; NULL/0 when unset). */
struct agent_config {
    const char *model;
    const char *base_url;
    const char *system_prompt;
    const char *api_key;
    char *const *extra_args;  /* NULL-terminated */
    const json_t *env;        /* object of extra environment variables */
    char *const *command;     /* user-defined agents: argv template with {prompt} etc. */
    enum agent_format format; /* user-defined agents */
};

/* What one run needs. Everything is borrowed. */
struct agent_run_spec {
    const char *task_id;
    const char *prompt;
    const char *model;          /* per task; overrides config model */
    const char *system_prompt;  /* per task; overrides config system prompt */
    const char *resume_session; /* continue this agent session (resumeMode session) */
    const char *working_directory;
    const json_t *client_env;          /* the submitting client's environment {"K":"V"} */
    const struct agent_config *config; /* may be NULL */
};

/* The process to start: argv[0] is the program name to look up on the client's PATH. */
struct agent_cmd {
    char **argv; /* NULL-terminated, owned */
    char **envp; /* NULL-terminated "K=V", owned: the complete environment of the agent */
};

struct agent_driver {
    const char *name;        /* "claude" */
    const char *command;     /* default program name */
    const char *description; /* "Claude Code (Anthropic)" */
    enum agent_format format;
    bool supports_resume;   /* can continue its own session */
    const char *key_env;    /* the API key variable: "ANTHROPIC_API_KEY" */
    const char *login_hint; /* "claude login" */
    /* Builds argv and environment; fails with ERR_INVALID naming the field and the rule. */
    int (*build)(const struct agent_driver *d, const struct agent_run_spec *spec,
                 struct agent_cmd *out, struct err *e);
};

/* The built-in drivers, NULL-terminated: claude, codex, gemini. */
const struct agent_driver *const *agent_builtins(void);
/* A built-in driver by name, or NULL. */
const struct agent_driver *agent_find(const char *name);
/* Builds the command with driver d (a convenience over d->build). */
int agent_build(const struct agent_driver *d, const struct agent_run_spec *spec,
                struct agent_cmd *out, struct err *e);
void agent_cmd_fini(struct agent_cmd *cmd);
/* The value of name in cmd's environment (borrowed from cmd), or NULL. */
const char *agent_cmd_getenv(const struct agent_cmd *cmd, const char *name);
/* Builds a user-defined agent's command from cfg->command: argv[0] is taken as is; in the other
 * elements {prompt}, {model}, {workdir} and {session} are replaced by their values (no shell, no
 * other expansion). An element that names a placeholder without a value is left out, so write a
 * flag and its value as one element ("--model={model}"). A system prompt is put in front of the
 * prompt in a <system-instructions> block. Environment as for the built-ins. */
int agent_build_template(const struct agent_config *cfg, const struct agent_run_spec *spec,
                         struct agent_cmd *out, struct err *e);
/* A driver's build function for user-defined agents: agent_build_template with spec->config. */
int agent_template_build(const struct agent_driver *d, const struct agent_run_spec *spec,
                         struct agent_cmd *out, struct err *e);
const char *agent_format_name(enum agent_format f);
int agent_format_parse(const char *s, enum agent_format *out);

/* What the stream told us so far. Strings owned by the report. */
struct agent_report {
    char *session_id;
    char *result_text; /* final answer text */
    size_t result_len; /* strlen(result_text), kept by the parser */
    char *api_error;   /* e.g. "API error 429: rate limited"; cleared when the run recovers */
    char *last_line;   /* newest human-meaningful line (assistant text, tool use), for progress */
    int64_t input_tokens; /* -1 unknown */
    int64_t output_tokens;
    double cost_usd;            /* < 0 unknown */
    bool saw_result;            /* a final result event was seen */
    bool is_error;              /* the result says the run failed */
    int api_status;             /* HTTP status of the newest API error, 0 unknown */
    int64_t limit_resets_at_ms; /* usage limit hit: when it resets (UTC epoch ms), -1 unknown */
};
void agent_report_init(struct agent_report *r);
void agent_report_fini(struct agent_report *r);
/* Feeds one complete stdout line (no trailing newline; any bytes, not necessarily UTF-8 or
 * JSON) to the parser for format f. Lines that are not understood are ignored. */
void agent_parse_line(enum agent_format f, const char *line, size_t len, struct agent_report *r);

/* ---- configured agents (agent-conf.c): agents.<name> in config.json ---- */

/* What a user-defined agent's name must match (built-in names match it too). */
#define AGENT_CONF_NAME_PATTERN "^[a-z][a-z0-9_-]{0,31}$"
#define AGENT_CONF_NAME_MAX     32
/* The largest maxConcurrent. */
#define AGENT_CONF_MAX_CONCURRENT_MAX 1024

/* True when name has the form AGENT_CONF_NAME_PATTERN. */
bool agent_conf_name_ok(const char *name);
/* The fields agents.<name> may hold, NULL-terminated, in documentation order. */
const char *const *agent_conf_fields(void);
bool agent_conf_field_known(const char *field);
/* True when field applies to a built-in agent (builtin) or to a user-defined one. */
bool agent_conf_field_applies(const char *field, bool builtin);
/* True when values of field are never quoted in messages (apiKey, env, baseUrl). */
bool agent_conf_field_quiet(const char *field);
/* The one-line description of field, or its rule ("must be ..."); NULL when unknown. Static. */
const char *agent_conf_field_help(const char *field);
const char *agent_conf_field_rule(const char *field);
/* Checks v as the value of agents.<agent>.<field> (not whether field applies to the agent).
 * Fails with ERR_INVALID "agents.<agent>.<field>: <rule> (got ...)", never quoting a quiet
 * field's value. */
int agent_conf_check_field(const char *agent, const char *field, const json_t *v, struct err *e);
/* The JSON value of a command-line text for field: strings as given, an integer parsed
 * strictly, arrays and objects as JSON text. Not checked against the rule. New reference, or
 * NULL with ERR_INVALID. */
json_t *agent_conf_parse_value(const char *agent, const char *field, const char *text,
                               struct err *e);
/* Checks a whole agents.<name> object: the name's form, every field known, applicable to
 * that kind of agent and valid, and a command for a user-defined agent. */
int agent_conf_check(const char *name, const json_t *obj, struct err *e);
/* The settings of a user-defined agent that cannot reach it (apiKey without apiKeyEnv, baseUrl
 * without baseUrlEnv or {baseUrl}, model without {model}), and a gemini baseUrl, which also
 * needs a gemini settings pin, one sentence each. Never NULL;
 * NULL-terminated, owned (strv_free). */
char **agent_conf_unused(const char *name, const json_t *obj);

/* One configured agent, ready to build commands. */
struct agent_conf {
    char *name;
    const struct agent_driver *driver; /* the built-in, or NULL for a user-defined agent */
    struct agent_config cfg;           /* strings borrowed from obj, arrays from below */
    const char *description;           /* user-defined agents only, from here on */
    const char *api_key_env;
    const char *base_url_env;
    int64_t max_concurrent; /* 0: no cap */
    char **extra_args_v;    /* owned */
    char **command_v;       /* owned */
    json_t *obj;            /* a reference on the agents.<name> object */
};
/* Reads agents.<name> (obj NULL: nothing configured) into c, assuming it was checked (values
 * of the wrong type read as unset). Fails with ERR_NOTFOUND when name is not a built-in and
 * obj is not an object. Release with agent_conf_fini, also after a failure. */
int agent_conf_load(const char *name, const json_t *obj, struct agent_conf *c, struct err *e);
void agent_conf_fini(struct agent_conf *c);
/* The program to look up on PATH: the built-in's command or command[0]; NULL when none. */
const char *agent_conf_program(const struct agent_conf *c);
/* Builds one run's command with c's settings (spec->config is ignored). A built-in goes
 * through its driver. A user-defined agent goes through agent_build_template after these steps:
 * {taskId} and {baseUrl} are replaced too (an argument naming {baseUrl} without a value is left
 * out); extraArgs go in before the argument holding {prompt} (and before a "--" right in front
 * of it); apiKey goes into the apiKeyEnv variable unless the client's environment has a
 * non-empty one, baseUrl into baseUrlEnv; the agent's env then applies over both. Fails with
 * ERR_INVALID naming agents.<name>.command when there is no template or it lacks {prompt}. */
int agent_conf_build(const struct agent_conf *c, const struct agent_run_spec *spec,
                     struct agent_cmd *out, struct err *e);

#endif
