/* Configuration: one table of keys (type, range, default, environment variable, description)
 * from which loading, validation, `beat config show` and docs/configuration.md all come.
 * Precedence: environment > $BACKBEAT_HOME/config.json > defaults, decided key by key: a bad
 * value is reported and only that key falls back, never the whole file.
 * The `agents` object is checked field by field with the rules of agents/agent-conf.c: a bad
 * field is left out and reported alone, like a bad key. Agent keys are edited as
 * agents.<name>.<field> (or agents.<name> with a whole object).
 * Not thread-safe; a struct config is immutable once loaded (reload = load a new one). */
#ifndef CORE_CONFIG_H
#define CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util/err.h"

#define CONFIG_FILE_NAME "config.json"
#define CONFIG_FILE_MAX  (1024 * 1024) /* bytes read from config.json at most */

struct config;

/* Loads defaults, then home/config.json (home NULL = no file), then env (a JSON object of
 * environment variables {"NAME":"value"}, e.g. the client's or the daemon's; NULL = none).
 * Never fails: each problem is recorded (config_problems) and that key alone falls back
 * (invalid env -> the file's value if valid -> the default). Free with config_free. */
struct config *config_load(const char *home, const json_t *env);
void config_free(struct config *c);

/* The value of an integer key. Aborts on an unknown key or a key that is not an integer (a
 * programming error, not bad input). */
int64_t config_int(const struct config *c, const char *key);
/* The value of a string or enum key, borrowed for c's lifetime; NULL when unset. Aborts on an
 * unknown or integer key. */
const char *config_str(const struct config *c, const char *key);
/* agents.<name> from the file with its bad fields left out, borrowed for c's lifetime; NULL
 * when absent. */
const json_t *config_agent(const struct config *c, const char *name);
/* The whole checked agents object (borrowed), or NULL when the file has none. */
const json_t *config_agents(const struct config *c);
/* The problems found while loading, one sentence each naming the key, the value, the rule and
 * the source ("MAX_WORKERS=abc (environment, key maxWorkers): must be an integer 1..1024;
 * using the default 4"). NULL-terminated, borrowed for c's lifetime; empty when all is well. */
const char *const *config_problems(const struct config *c);
/* {"path", "keys":[{key, value, source ("default", "file", "env:NAME"), default, env, type,
 * unit, range, description, live, problem?}], "agents":{...the checked agents, apiKey, secret
 * env values and a baseUrl's password masked}, "problems":[...]}. New reference. */
json_t *config_show_json(const struct config *c);
/* What changed from old to new, one line per key ("timeout: 1800000 -> 60000 (file)"), with
 * "(needs a daemon restart)" appended for keys that are not live, then one line per agent
 * added, removed or changed ("agents.claude: changed", never the values). NULL-terminated,
 * owned: free with strv_free. Empty (not NULL) when nothing changed. */
char **config_diff(const struct config *old, const struct config *new);

/* home/config.json; caller frees. */
char *config_path(const char *home);
/* Validates value for key and writes it into home/config.json atomically (mode 0600, home
 * created 0700 if missing), keeping every other key. Fails with ERR_INVALID for an unknown key
 * (with a suggestion) or a bad value, and refuses to touch an existing file that is not a JSON
 * object (ERR_STATE) or cannot be read (ERR_IO).
 * Agent keys: agents.<name>.<field> takes the field's value as text (strings as they are,
 * maxConcurrent an integer, command/extraArgs/env JSON text); agents.<name> a JSON object of
 * fields. Refused: an unknown field (with a suggestion), a field that does not apply (command
 * on a built-in), a bad value, a template without {prompt}, a program that is neither an
 * executable absolute path nor a name on this process's PATH, and any field but command on a
 * user-defined agent that does not exist yet. */
int config_set(const char *home, const char *key, const char *value, struct err *e);
/* Removes key from home/config.json (a no-op when absent). Also removes an unknown key that is
 * present in the file, so a typo can be cleaned up. agents.<name> removes the agent (refused
 * while it is the file's defaultAgent), agents.<name>.<field> one field (not a user-defined
 * agent's command). Same failures as config_set. */
int config_reset(const char *home, const char *key, struct err *e);
/* Applies n edits (values[i] NULL = reset keys[i]) in order, as one atomic write; nothing is
 * written when any edit fails. config_set and config_reset are this with n = 1. */
int config_update(const char *home, const char *const *keys, const char *const *values, size_t n,
                  struct err *e);
/* Validates one raw string value for key (e.g. a CLI flag) with the rule config_set uses. */
int config_check_value(const char *key, const char *value, struct err *e);
/* True when name is an agent defaultAgent and tasks may name: a built-in (claude, codex,
 * gemini) or a user-defined agent, i.e. an object agents[name] with a valid name (even one whose
 * command is broken: its tasks then fail with the reason). agents may be NULL. */
bool config_agent_known(const json_t *agents, const char *name);
/* Masks a secret for display: <= 8 chars -> "***", else first 3 + "..." + last 3. Caller
 * frees. */
char *config_mask_secret(const char *s);
/* A URL for display: a user:password@ part becomes ***@. Caller frees. */
char *config_mask_url(const char *url);
/* An integer for humans: "1800000 (30m)", "1073741824 (1 GiB)", or just the number when unit
 * (NULL, "ms", "bytes", ...) gives no shorter exact form. Caller frees. */
char *config_format_int(int64_t v, const char *unit);

/* The key table as data: [{key, type, unit, default, range, env, live, description}]. New
 * reference. */
json_t *config_keys_json(void);
/* The key table as the Markdown table docs/configuration.md embeds; caller frees. */
char *config_keys_markdown(void);

/* Per-agent helpers on top of this (config-agent.c) come with this header. */
#include "core/config-agent.h"

#endif
