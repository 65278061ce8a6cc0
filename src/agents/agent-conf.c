/* Configured agents: the fields of agents.<name> in config.json, their rules, and the command of
 * a user-defined agent built from its argv template. Every rule about one field lives in
 * agent_conf_fields_table[]; the configuration layer decides what to do with a bad value (drop
 * it at load time, refuse it at `config set` time). Pure: no I/O, no PATH lookups. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agents/agent-int.h"
#include "agents/agent.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define AGENT_CONF_QUOTE_MAX  64  /* bytes of a bad value quoted in a message */
#define AGENT_CONF_ARGS_MAX   256 /* elements of command and of extraArgs */
#define AGENT_CONF_VAR_MAX    256 /* bytes of an environment variable name */
#define AGENT_CONF_MODEL_MAX  200
#define AGENT_CONF_URL_MAX    2048
#define AGENT_CONF_KEY_MAX    4096
#define AGENT_CONF_SYSTEM_MAX 16000
#define AGENT_CONF_DESC_MAX   200

enum agent_conf_kind {
    AGENT_CONF_STRING,
    AGENT_CONF_INT,
    AGENT_CONF_STRINGS, /* a JSON array of strings */
    AGENT_CONF_OBJECT,  /* a JSON object of strings */
};

#define AGENT_CONF_BUILTIN 0x1 /* applies to claude, codex, gemini */
#define AGENT_CONF_USER    0x2 /* applies to user-defined agents */
#define AGENT_CONF_QUIET   0x4 /* its values are never quoted in messages (secrets, URLs) */

struct agent_conf_field {
    const char *name;
    enum agent_conf_kind kind;
    unsigned flags;
    const char *rule; /* "must be ..." */
    const char *help; /* one line */
};

static const struct agent_conf_field agent_conf_fields_table[] = {
    { "command", AGENT_CONF_STRINGS, AGENT_CONF_USER,
      "must be an array of 1 to 256 strings: the program, then its arguments, one of which "
      "holds {prompt}",
      "The argv template of a user-defined agent; placeholders {prompt}, {model}, {workdir}, "
      "{session}, {taskId}, {baseUrl} are replaced inside each argument, never through a "
      "shell." },
    { "env", AGENT_CONF_OBJECT, AGENT_CONF_BUILTIN | AGENT_CONF_USER | AGENT_CONF_QUIET,
      "must be an object of at most 1000 \"NAME\": \"value\" strings (NAME: letters, digits "
      "and _, not starting with a digit)",
      "Environment variables set for the agent, over the client's environment." },
    { "parser", AGENT_CONF_STRING, AGENT_CONF_USER, "must be one of text, claude, codex, gemini",
      "How the agent's stdout is read: text (the last line is the result) or a built-in "
      "stream format; default text." },
    { "model", AGENT_CONF_STRING, AGENT_CONF_BUILTIN | AGENT_CONF_USER,
      "must be 1 to 200 characters: letters, digits and . _ : / - @ [ ], not starting with -",
      "Model passed to the agent when a task names none ({model} for a user-defined agent)." },
    { "baseUrl", AGENT_CONF_STRING, AGENT_CONF_BUILTIN | AGENT_CONF_USER | AGENT_CONF_QUIET,
      "must be an http:// or https:// URL of at most 2048 bytes without spaces, quotes, "
      "backslashes or braces",
      "API endpoint, passed the way the CLI expects it (baseUrlEnv or {baseUrl} for a "
      "user-defined agent)." },
    { "systemPrompt", AGENT_CONF_STRING, AGENT_CONF_BUILTIN | AGENT_CONF_USER,
      "must be a string of 1 to 16000 bytes",
      "System instructions added to every task of the "
      "agent that sets none." },
    { "extraArgs", AGENT_CONF_STRINGS, AGENT_CONF_BUILTIN | AGENT_CONF_USER,
      "must be an array of at most 256 strings",
      "Arguments added to every command line of the agent, before the prompt." },
    { "apiKey", AGENT_CONF_STRING, AGENT_CONF_BUILTIN | AGENT_CONF_USER | AGENT_CONF_QUIET,
      "must be a string of 1 to 4096 bytes without control characters, not starting with -",
      "API key given to the agent when the client's environment has none; never shown "
      "unmasked." },
    { "apiKeyEnv", AGENT_CONF_STRING, AGENT_CONF_USER,
      "must be an environment variable name (letters, digits and _, not starting with a digit)",
      "The variable a user-defined agent reads its API key from (receives apiKey)." },
    { "baseUrlEnv", AGENT_CONF_STRING, AGENT_CONF_USER,
      "must be an environment variable name (letters, digits and _, not starting with a digit)",
      "The variable a user-defined agent reads its endpoint from (receives baseUrl)." },
    { "maxConcurrent", AGENT_CONF_INT, AGENT_CONF_BUILTIN | AGENT_CONF_USER,
      "must be an integer 1..1024",
      "Most tasks of this agent running at once (subscription limits are per account)." },
    { "description", AGENT_CONF_STRING, AGENT_CONF_USER,
      "must be 1 to 200 characters without control characters",
      "One line shown by ListAgents and `beat agents list`." },
};

#define AGENT_CONF_NFIELDS (sizeof agent_conf_fields_table / sizeof agent_conf_fields_table[0])

static const char *const agent_conf_field_names[] = {
    "command",       "env",         "parser", "model",     "baseUrl",
    "systemPrompt",  "extraArgs",   "apiKey", "apiKeyEnv", "baseUrlEnv",
    "maxConcurrent", "description", NULL,
};

/* The table entry of field, or NULL. */
static const struct agent_conf_field *
agent_conf_field_find(const char *field)
{
    for (size_t i = 0; field != NULL && i < AGENT_CONF_NFIELDS; i++) {
        if (strcmp(agent_conf_fields_table[i].name, field) == 0) {
            return &agent_conf_fields_table[i];
        }
    }
    return NULL;
}

/* True when name has the form of an agent name. */
bool
agent_conf_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > AGENT_CONF_NAME_MAX || !(name[0] >= 'a' && name[0] <= 'z')) {
        return false;
    }
    for (size_t i = 1; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

/* Returns the field names, NULL-terminated. */
const char *const *
agent_conf_fields(void)
{
    return agent_conf_field_names;
}

/* True when field is a known field. */
bool
agent_conf_field_known(const char *field)
{
    return agent_conf_field_find(field) != NULL;
}

/* True when field applies to a built-in agent (builtin) or to a user-defined one. */
bool
agent_conf_field_applies(const char *field, bool builtin)
{
    const struct agent_conf_field *f = agent_conf_field_find(field);
    return f != NULL && (f->flags & (builtin ? AGENT_CONF_BUILTIN : AGENT_CONF_USER)) != 0;
}

/* True when the values of field are never quoted. */
bool
agent_conf_field_quiet(const char *field)
{
    const struct agent_conf_field *f = agent_conf_field_find(field);
    return f == NULL || (f->flags & AGENT_CONF_QUIET) != 0;
}

/* Returns the one-line help of field, or NULL. */
const char *
agent_conf_field_help(const char *field)
{
    const struct agent_conf_field *f = agent_conf_field_find(field);
    return f ? f->help : NULL;
}

/* Returns the rule of field ("must be ..."), or NULL. */
const char *
agent_conf_field_rule(const char *field)
{
    const struct agent_conf_field *f = agent_conf_field_find(field);
    return f ? f->rule : NULL;
}

/* Appends " (got ...)": the value itself, bounded and printable, unless the field is quiet. */
static void
agent_conf_got(struct buf *b, const struct agent_conf_field *f, const json_t *v)
{
    if ((f->flags & AGENT_CONF_QUIET) || !(json_is_string(v) || json_is_integer(v))) {
        buf_printf(b, " (got %s)", json_kind_name(v));
        return;
    }
    char *text = json_dump_compact(v);
    size_t len = strlen(text);
    size_t n = len > AGENT_CONF_QUOTE_MAX ? str_utf8_boundary(text, AGENT_CONF_QUOTE_MAX) : len;
    char *clean = str_utf8_sanitize(text, n);
    for (char *p = clean; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            *p = '?';
        }
    }
    buf_printf(b, " (got %s%s)", clean, n < len ? "..." : "");
    free(clean);
    free(text);
}

/* Fails with "agents.<agent>.<field>: <rule> (got ...)". */
static int
agent_conf_bad(const char *agent, const struct agent_conf_field *f, const json_t *v, struct err *e)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "agents.%s.%s: %s", agent, f->name, f->rule);
    agent_conf_got(&b, f, v);
    err_set(e, ERR_INVALID, "%s", b.data);
    buf_fini(&b);
    return -1;
}

/* True when s (len bytes, from a JSON string) holds no NUL byte. */
static bool
agent_conf_no_nul(const json_t *s)
{
    return strlen(json_string_value(s)) == json_string_length(s);
}

/* True when s has no control characters. */
static bool
agent_conf_printable(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            return false;
        }
    }
    return true;
}

/* True when s is an environment variable name we accept. */
static bool
agent_conf_var_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > AGENT_CONF_VAR_MAX || isdigit((unsigned char)s[0])) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_')) {
            return false;
        }
    }
    return true;
}

/* True when s is a model name we pass on a command line. */
static bool
agent_conf_model_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > AGENT_CONF_MODEL_MAX || s[0] == '-') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!(isalnum((unsigned char)s[i]) || strchr("._:/-@[]", s[i]) != NULL)) {
            return false;
        }
    }
    return true;
}

/* True when s is a base URL we pass on. */
static bool
agent_conf_url_ok(const char *s)
{
    size_t n = strlen(s);
    size_t scheme = str_has_prefix(s, "http://") ? 7 : str_has_prefix(s, "https://") ? 8 : 0;
    if (scheme == 0 || n <= scheme || n > AGENT_CONF_URL_MAX || s[scheme] == '/') {
        return false;
    }
    return agent_conf_printable(s) && strpbrk(s, " \"'\\{}") == NULL;
}

/* Checks the strings of an array field; fills *bad with the index of a bad element. */
static bool
agent_conf_strings_ok(const json_t *v, size_t min, size_t *bad)
{
    size_t i, n = json_array_size(v);
    const json_t *s;
    if (!json_is_array(v) || n < min || n > AGENT_CONF_ARGS_MAX) {
        *bad = SIZE_MAX;
        return false;
    }
    json_array_foreach(v, i, s)
    {
        if (!json_is_string(s) || !agent_conf_no_nul(s) || json_string_length(s) >= AGENT_ARG_MAX) {
            *bad = i;
            return false;
        }
    }
    return true;
}

/* Checks a command template: the program, and an element holding {prompt}. */
static int
agent_conf_check_command(const char *agent, const struct agent_conf_field *f, const json_t *v,
                         struct err *e)
{
    size_t bad, i;
    const json_t *s;
    if (!agent_conf_strings_ok(v, 1, &bad)) {
        if (bad == SIZE_MAX) {
            return agent_conf_bad(agent, f, v, e);
        }
        return err_set(e, ERR_INVALID,
                       "agents.%s.command[%zu]: must be a string without NUL bytes, shorter than "
                       "%d bytes",
                       agent, bad, AGENT_ARG_MAX);
    }
    const char *prog = json_string_value(json_array_get(v, 0));
    if (prog[0] == '\0' || !agent_conf_printable(prog) || strchr(prog, '{') != NULL) {
        return err_set(e, ERR_INVALID,
                       "agents.%s.command[0]: the program must be a non-empty name or path "
                       "without control characters or placeholders",
                       agent);
    }
    bool prompt = false;
    json_array_foreach(v, i, s)
    {
        const char *arg = json_string_value(s);
        if (i == 0 || strstr(arg, "{prompt}") == NULL) {
            continue;
        }
        /* An element naming a placeholder without a value is left out: the prompt must never
         * share one with a placeholder that may be unset. */
        if (strstr(arg, "{model}") != NULL || strstr(arg, "{session}") != NULL ||
            strstr(arg, "{baseUrl}") != NULL) {
            return err_set(e, ERR_INVALID,
                           "agents.%s.command[%zu]: {prompt} must not share an argument with "
                           "{model}, {session} or {baseUrl}, which may be unset (the whole "
                           "argument is then left out)",
                           agent, i);
        }
        prompt = true;
    }
    if (!prompt) {
        return err_set(e, ERR_INVALID,
                       "agents.%s.command: no argument holds {prompt}, so the agent would never "
                       "see the task; for example [\"%s\", \"--\", \"{prompt}\"]",
                       agent, prog);
    }
    return 0;
}

/* Checks an env object. */
static int
agent_conf_check_env(const char *agent, const struct agent_conf_field *f, const json_t *v,
                     struct err *e)
{
    const char *name;
    const json_t *val;
    if (!json_is_object(v) || json_object_size(v) > AGENT_ENV_MAX) {
        return agent_conf_bad(agent, f, v, e);
    }
    json_object_foreach((json_t *)v, name, val)
    {
        if (!agent_conf_var_ok(name)) {
            return err_set(e, ERR_INVALID,
                           "agents.%s.env: '%.64s' is not a variable name (letters, digits and "
                           "_, not starting with a digit)",
                           agent, name);
        }
        if (!json_is_string(val) || !agent_conf_no_nul(val) ||
            json_string_length(val) >= AGENT_ARG_MAX) {
            return err_set(e, ERR_INVALID,
                           "agents.%s.env.%s: must be a string without NUL bytes, shorter than "
                           "%d bytes (got %s)",
                           agent, name, AGENT_ARG_MAX, json_kind_name(val));
        }
    }
    return 0;
}

/* Checks one string field against its own rule. */
static bool
agent_conf_string_ok(const struct agent_conf_field *f, const char *s, size_t len)
{
    const char *name = f->name;
    if (strlen(s) != len) {
        return false; /* a NUL byte */
    }
    if (strcmp(name, "parser") == 0) {
        enum agent_format fmt;
        return agent_format_parse(s, &fmt) == 0;
    }
    if (strcmp(name, "model") == 0) {
        return agent_conf_model_ok(s);
    }
    if (strcmp(name, "baseUrl") == 0) {
        return agent_conf_url_ok(s);
    }
    if (strcmp(name, "systemPrompt") == 0) {
        return len >= 1 && len <= AGENT_CONF_SYSTEM_MAX;
    }
    if (strcmp(name, "apiKey") == 0) {
        return len >= 1 && len <= AGENT_CONF_KEY_MAX && s[0] != '-' && agent_conf_printable(s);
    }
    if (strcmp(name, "apiKeyEnv") == 0 || strcmp(name, "baseUrlEnv") == 0) {
        return agent_conf_var_ok(s);
    }
    if (strcmp(name, "description") == 0) {
        return len >= 1 && len <= AGENT_CONF_DESC_MAX && agent_conf_printable(s);
    }
    return false;
}

/* Checks v as the value of agents.<agent>.<field>. */
int
agent_conf_check_field(const char *agent, const char *field, const json_t *v, struct err *e)
{
    const struct agent_conf_field *f = agent_conf_field_find(field);
    size_t bad;
    if (f == NULL) {
        return err_set(e, ERR_INVALID, "agents.%s: unknown field '%.64s'", agent, field);
    }
    switch (f->kind) {
    case AGENT_CONF_STRING:
        if (!json_is_string(v) ||
            !agent_conf_string_ok(f, json_string_value(v), json_string_length(v))) {
            return agent_conf_bad(agent, f, v, e);
        }
        return 0;
    case AGENT_CONF_INT:
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > AGENT_CONF_MAX_CONCURRENT_MAX) {
            return agent_conf_bad(agent, f, v, e);
        }
        return 0;
    case AGENT_CONF_STRINGS:
        if (strcmp(f->name, "command") == 0) {
            return agent_conf_check_command(agent, f, v, e);
        }
        if (!agent_conf_strings_ok(v, 0, &bad)) {
            if (bad == SIZE_MAX) {
                return agent_conf_bad(agent, f, v, e);
            }
            return err_set(e, ERR_INVALID,
                           "agents.%s.%s[%zu]: must be a string without NUL bytes, shorter than "
                           "%d bytes",
                           agent, f->name, bad, AGENT_ARG_MAX);
        }
        return 0;
    case AGENT_CONF_OBJECT:
        return agent_conf_check_env(agent, f, v, e);
    }
    return agent_conf_bad(agent, f, v, e);
}

/* Parses a strict base-10 integer with optional surrounding whitespace. */
static bool
agent_conf_parse_int(const char *s, long long *out)
{
    char *end = NULL;
    while (isspace((unsigned char)*s)) {
        s++;
    }
    if (!isdigit((unsigned char)(*s == '-' || *s == '+' ? s[1] : s[0]))) {
        return false;
    }
    errno = 0;
    long long v = strtoll(s, &end, 10);
    while (isspace((unsigned char)*end)) {
        end++;
    }
    if (errno == ERANGE || *end != '\0') {
        return false;
    }
    *out = v;
    return true;
}

/* Turns command-line text into the JSON value field takes. */
json_t *
agent_conf_parse_value(const char *agent, const char *field, const char *text, struct err *e)
{
    const struct agent_conf_field *f = agent_conf_field_find(field);
    json_error_t je;
    long long i;
    json_t *v = NULL;
    if (f == NULL) {
        err_set(e, ERR_INVALID, "agents.%s: unknown field '%.64s'", agent, field);
        return NULL;
    }
    switch (f->kind) {
    case AGENT_CONF_STRING:
        v = json_string(text); /* NULL for invalid UTF-8 */
        if (v == NULL) {
            err_set(e, ERR_INVALID, "agents.%s.%s: must be valid UTF-8", agent, field);
        }
        return v;
    case AGENT_CONF_INT:
        if (!agent_conf_parse_int(text, &i)) {
            struct buf b;
            buf_init(&b);
            json_t *s = json_string(text);
            buf_printf(&b, "agents.%s.%s: %s", agent, field, f->rule);
            if (s != NULL) {
                agent_conf_got(&b, f, s);
            }
            json_decref(s);
            err_set(e, ERR_INVALID, "%s", b.data);
            buf_fini(&b);
            return NULL;
        }
        return json_integer((json_int_t)i);
    case AGENT_CONF_STRINGS:
    case AGENT_CONF_OBJECT:
        /* The message gives the position, never jansson's "near '...'", which may quote a
         * secret from env. */
        v = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
        if (v == NULL) {
            err_set(e, ERR_INVALID,
                    "agents.%s.%s: must be JSON text, %s, for example %s (invalid JSON at line "
                    "%d column %d)",
                    agent, field, f->kind == AGENT_CONF_OBJECT ? "an object" : "an array",
                    strcmp(field, "command") == 0  ? "'[\"mytool\", \"--\", \"{prompt}\"]'"
                    : f->kind == AGENT_CONF_OBJECT ? "'{\"NAME\": \"value\"}'"
                                                   : "'[\"--flag\", \"value\"]'",
                    je.line, je.column);
        }
        return v;
    }
    return NULL;
}

/* Checks a whole agents.<name> object. */
int
agent_conf_check(const char *name, const json_t *obj, struct err *e)
{
    const char *field;
    const json_t *v;
    if (!agent_conf_name_ok(name)) {
        return err_set(e, ERR_INVALID, "agents.%.64s: not a valid agent name: it must match %s",
                       name, AGENT_CONF_NAME_PATTERN);
    }
    bool builtin = agent_find(name) != NULL;
    if (!json_is_object(obj)) {
        return err_set(e, ERR_INVALID, "agents.%s: must be an object (got %s)", name,
                       json_kind_name(obj));
    }
    json_object_foreach((json_t *)obj, field, v)
    {
        if (!agent_conf_field_known(field)) {
            return err_set(e, ERR_INVALID, "agents.%s: unknown field '%.64s'", name, field);
        }
        if (!agent_conf_field_applies(field, builtin)) {
            return err_set(e, ERR_INVALID,
                           "agents.%s.%s: %s is a built-in agent, and only user-defined agents "
                           "take %s (give your own agent another name)",
                           name, field, name, field);
        }
        if (agent_conf_check_field(name, field, v, e) != 0) {
            return -1;
        }
    }
    if (!builtin && json_object_get(obj, "command") == NULL) {
        return err_set(e, ERR_INVALID,
                       "agents.%s.command: missing; a user-defined agent needs an argv template "
                       "such as [\"%s\", \"--\", \"{prompt}\"]",
                       name, name);
    }
    return 0;
}

/* True when some string of the array (or the string) v contains s. */
static bool
agent_conf_mentions(const json_t *v, const char *s)
{
    size_t i;
    const json_t *item;
    if (json_is_string(v)) {
        return strstr(json_string_value(v), s) != NULL;
    }
    json_array_foreach(v, i, item)
    {
        if (json_is_string(item) && strstr(json_string_value(item), s) != NULL) {
            return true;
        }
    }
    return false;
}

/* Lists the settings of a user-defined agent that cannot reach it, and a gemini baseUrl that
 * cannot work without a settings pin we do not write. */
char **
agent_conf_unused(const char *name, const json_t *obj)
{
    char **v = xcalloc(4, sizeof *v);
    size_t n = 0;
    if (strcmp(name, "gemini") == 0 && json_is_object(obj) &&
        json_object_get(obj, "baseUrl") != NULL) {
        /* GOOGLE_GEMINI_BASE_URL alone selects gemini's "gateway" auth, which -p refuses. */
        v[n++] = xstrdup("agents.gemini.baseUrl needs security.auth.selectedType "
                         "\"gemini-api-key\" in the user's ~/.gemini/settings.json, or gemini "
                         "exits with \"Invalid auth method selected.\"");
        return v;
    }
    if (agent_find(name) != NULL || !json_is_object(obj)) {
        return v;
    }
    const json_t *cmd = json_object_get(obj, "command");
    const json_t *extra = json_object_get(obj, "extraArgs");
    if (json_object_get(obj, "apiKey") != NULL && json_object_get(obj, "apiKeyEnv") == NULL) {
        v[n++] = xasprintf("agents.%s.apiKey is not passed to %s: set agents.%s.apiKeyEnv to "
                           "the variable that should receive it",
                           name, name, name);
    }
    if (json_object_get(obj, "baseUrl") != NULL && json_object_get(obj, "baseUrlEnv") == NULL &&
        !agent_conf_mentions(cmd, "{baseUrl}") && !agent_conf_mentions(extra, "{baseUrl}")) {
        v[n++] = xasprintf("agents.%s.baseUrl is not passed to %s: set agents.%s.baseUrlEnv, or "
                           "use {baseUrl} in its command",
                           name, name, name);
    }
    if (json_object_get(obj, "model") != NULL && !agent_conf_mentions(cmd, "{model}") &&
        !agent_conf_mentions(extra, "{model}")) {
        v[n++] = xasprintf("agents.%s.model is not passed to %s: its command has no {model}", name,
                           name);
    }
    return v;
}

/* A NULL-terminated copy of the strings of a JSON array (non-strings skipped), or NULL. */
static char **
agent_conf_strv(const json_t *a)
{
    size_t i, n = 0;
    const json_t *s;
    if (!json_is_array(a)) {
        return NULL;
    }
    char **v = xcalloc(json_array_size(a) + 1, sizeof *v);
    json_array_foreach(a, i, s)
    {
        if (json_is_string(s)) {
            v[n++] = xstrdup(json_string_value(s));
        }
    }
    return v;
}

/* Reads agents.<name> into c. */
int
agent_conf_load(const char *name, const json_t *obj, struct agent_conf *c, struct err *e)
{
    memset(c, 0, sizeof *c);
    c->driver = agent_find(name);
    if (c->driver == NULL && !json_is_object(obj)) {
        return err_set(e, ERR_NOTFOUND, "unknown agent '%.64s'", name);
    }
    c->name = xstrdup(name);
    if (!json_is_object(obj)) {
        c->cfg.format = c->driver->format;
        return 0;
    }
    c->obj = json_incref((json_t *)obj);
    c->cfg.model = json_get_str(obj, "model");
    c->cfg.base_url = json_get_str(obj, "baseUrl");
    c->cfg.system_prompt = json_get_str(obj, "systemPrompt");
    c->cfg.api_key = json_get_str(obj, "apiKey");
    c->extra_args_v = agent_conf_strv(json_object_get(obj, "extraArgs"));
    c->cfg.extra_args = c->extra_args_v;
    const json_t *env = json_object_get(obj, "env");
    c->cfg.env = json_is_object(env) ? env : NULL;
    c->max_concurrent = json_get_int(obj, "maxConcurrent", 0);
    if (c->max_concurrent < 1 || c->max_concurrent > AGENT_CONF_MAX_CONCURRENT_MAX) {
        c->max_concurrent = 0;
    }
    if (c->driver != NULL) {
        c->cfg.format = c->driver->format;
        return 0;
    }
    c->command_v = agent_conf_strv(json_object_get(obj, "command"));
    c->cfg.command = c->command_v;
    if (agent_format_parse(json_get_str(obj, "parser"), &c->cfg.format) != 0) {
        c->cfg.format = AGENT_FORMAT_TEXT;
    }
    c->description = json_get_str(obj, "description");
    c->api_key_env = json_get_str(obj, "apiKeyEnv");
    c->base_url_env = json_get_str(obj, "baseUrlEnv");
    return 0;
}

/* Releases what c holds (NULL-safe, and safe on a zeroed struct). */
void
agent_conf_fini(struct agent_conf *c)
{
    if (c == NULL) {
        return;
    }
    strv_free(c->extra_args_v);
    strv_free(c->command_v);
    json_decref(c->obj);
    free(c->name);
    memset(c, 0, sizeof *c);
}

/* Returns the program the agent runs, or NULL. */
const char *
agent_conf_program(const struct agent_conf *c)
{
    if (c->driver != NULL) {
        return c->driver->command;
    }
    return c->command_v && c->command_v[0] && c->command_v[0][0] ? c->command_v[0] : NULL;
}

/* Replaces every {taskId} and {baseUrl} in s; false when {baseUrl} has no value (the element
 * is then left out, as agent_build_template does for its own placeholders). */
static bool
agent_conf_expand(const char *s, const char *task_id, const char *base_url, struct buf *out)
{
    buf_reset(out);
    buf_add(out, "", 0);
    while (*s != '\0') {
        if (str_has_prefix(s, "{taskId}")) {
            buf_adds(out, task_id);
            s += strlen("{taskId}");
        } else if (str_has_prefix(s, "{baseUrl}")) {
            if (base_url == NULL) {
                return false;
            }
            buf_adds(out, base_url);
            s += strlen("{baseUrl}");
        } else {
            buf_addc(out, *s++);
        }
    }
    return true;
}

/* Appends the expanded s to v (of capacity cap, counting n) unless it is left out. */
static void
agent_conf_push(char **v, size_t *n, const char *s, const struct agent_run_spec *spec,
                const char *base_url, struct buf *tmp)
{
    if (agent_conf_expand(s, spec->task_id, base_url, tmp)) {
        v[(*n)++] = xstrdup(tmp->data);
    }
}

/* Builds the command of one run of a configured agent. */
int
agent_conf_build(const struct agent_conf *c, const struct agent_run_spec *spec,
                 struct agent_cmd *out, struct err *e)
{
    struct agent_run_spec s = *spec;
    struct agent_config cfg = c->cfg;
    char **tmpl = NULL;
    json_t *env = NULL;
    struct buf tmp;
    int rc = -1;

    out->argv = NULL;
    out->envp = NULL;
    s.config = &c->cfg;
    if (c->driver != NULL) {
        return agent_build(c->driver, &s, out, e);
    }
    buf_init(&tmp);
    size_t n = c->command_v ? strv_len(c->command_v) : 0;
    size_t nextra = c->extra_args_v ? strv_len(c->extra_args_v) : 0;
    if (n == 0 || c->command_v[0][0] == '\0') {
        err_set(e, ERR_INVALID,
                "agents.%s.command: not set; a user-defined agent needs an argv template such "
                "as [\"%s\", \"--\", \"{prompt}\"]",
                c->name, c->name);
        goto out;
    }
    size_t at = 0; /* where extraArgs go: before the {prompt} argument and a "--" just before it */
    for (size_t i = 1; i < n && at == 0; i++) {
        if (strstr(c->command_v[i], "{prompt}") != NULL) {
            at = (i > 1 && strcmp(c->command_v[i - 1], "--") == 0) ? i - 1 : i;
        }
    }
    if (at == 0) {
        err_set(e, ERR_INVALID,
                "agents.%s.command: no argument holds {prompt}, so the agent would never see "
                "the task",
                c->name);
        goto out;
    }
    tmpl = xcalloc(n + nextra + 1, sizeof *tmpl);
    size_t k = 0;
    tmpl[k++] = xstrdup(c->command_v[0]); /* the program is taken as it is */
    for (size_t i = 1; i < n; i++) {
        for (size_t j = 0; i == at && j < nextra; j++) {
            agent_conf_push(tmpl, &k, c->extra_args_v[j], spec, c->cfg.base_url, &tmp);
        }
        agent_conf_push(tmpl, &k, c->command_v[i], spec, c->cfg.base_url, &tmp);
    }
    /* Environment: the key (unless the client has one) and the URL, then the agent's env. */
    env = json_object();
    if (c->api_key_env != NULL && c->cfg.api_key != NULL) {
        const char *have = json_get_str(spec->client_env, c->api_key_env);
        if (have == NULL || have[0] == '\0') {
            json_object_set_new(env, c->api_key_env, json_string(c->cfg.api_key));
        }
    }
    if (c->base_url_env != NULL && c->cfg.base_url != NULL) {
        json_object_set_new(env, c->base_url_env, json_string(c->cfg.base_url));
    }
    if (c->cfg.env != NULL) {
        json_object_update(env, (json_t *)c->cfg.env);
    }
    cfg.command = tmpl;
    cfg.env = env;
    cfg.extra_args = NULL;
    s.config = &cfg;
    rc = agent_build_template(&cfg, &s, out, e);
    if (rc != 0) {
        err_wrap(e, "agent %s", c->name);
    }
out:
    strv_free(tmpl);
    json_decref(env);
    buf_fini(&tmp);
    return rc;
}
