/* Configuration keys, their validation, loading with per-key fallback, and edits of config.json.
 * Everything about a key lives in config_table[]: loading, `beat config show`, the checks and the
 * table in docs/configuration.md are all generated from it. Not here: watching the file and
 * telling the daemon to reload (the engine), and validating agents.<name> (the agents work). */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/task.h"
#include "util/buf.h"
#include "util/common.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/str.h"

#define CONFIG_QUOTE_MAX 64 /* bytes of a bad value or key quoted in a message */
#define CONFIG_NAME_MAX  64 /* longer names get no "did you mean" */
/* Why an edit refused a file it cannot parse, and what to do. */
#define CONFIG_EDIT_HINT \
    "it was left unchanged: fix it by hand, or move it away to start again from defaults"

enum config_type {
    CONFIG_INT,
    CONFIG_ENUM,
    CONFIG_AGENT, /* a string naming an agent */
};

enum config_source {
    CONFIG_SOURCE_DEFAULT,
    CONFIG_SOURCE_FILE,
    CONFIG_SOURCE_ENV,
};

struct config_key {
    const char *name;
    enum config_type type;
    const char *unit;           /* integers: "ms", "bytes", "percent", "days" or NULL */
    int64_t def;                /* integers */
    const char *def_str;        /* enums and agents; NULL = unset */
    int64_t min, max;           /* integers, inclusive */
    const char *const *choices; /* enums, NULL-terminated */
    const char *env;            /* the environment variable that overrides the file */
    bool live;                  /* a change applies without restarting the daemon */
    const char *description;    /* one line */
};

static const char *const config_log_levels[] = { "debug", "info", "warn", "error", NULL };
/* The agents defaultAgent may name until user-defined agents are validated (config_agent_known). */
static const char *const config_builtin_agents[] = { "claude", "codex", "gemini", NULL };

/* Display order is table order. Every key is live: the engine reads these values when it next
 * uses them (a new task, the next resource check, the next retention sweep). */
static const struct config_key config_table[] = {
    {
        .name = "timeout",
        .type = CONFIG_INT,
        .unit = "ms",
        .def = 1800000,
        .min = TASK_TIMEOUT_MIN,
        .max = TASK_TIMEOUT_MAX,
        .env = "TASK_TIMEOUT",
        .live = true,
        .description = "Timeout of a task that does not set its own.",
    },
    {
        .name = "maxOutputBuffer",
        .type = CONFIG_INT,
        .unit = "bytes",
        .def = 10485760,
        .min = TASK_BUFFER_MIN,
        .max = TASK_BUFFER_MAX,
        .env = "MAX_OUTPUT_BUFFER",
        .live = true,
        .description = "Output kept per task (stdout and stderr) when the task sets no limit.",
    },
    {
        .name = "killGracePeriodMs",
        .type = CONFIG_INT,
        .unit = "ms",
        .def = 5000,
        .min = 100,
        .max = 60000,
        .env = "PROCESS_KILL_GRACE_PERIOD_MS",
        .live = true,
        .description = "Wait between SIGTERM and SIGKILL when stopping an agent's process group.",
    },
    {
        .name = "logLevel",
        .type = CONFIG_ENUM,
        .def_str = "info",
        .choices = config_log_levels,
        .env = "LOG_LEVEL",
        .live = true,
        .description = "Least severe level written to daemon.log.",
    },
    {
        .name = "defaultAgent",
        .type = CONFIG_AGENT,
        .def_str = NULL,
        .choices = config_builtin_agents,
        .env = "BACKBEAT_DEFAULT_AGENT",
        .live = true,
        .description = "Agent for tasks that name none; when unset, every task must name one.",
    },
    {
        .name = "taskRetentionDays",
        .type = CONFIG_INT,
        .unit = "days",
        .def = 30,
        .min = 1,
        .max = 3650,
        .env = "TASK_RETENTION_DAYS",
        .live = true,
        .description = "Finished tasks and their output are deleted after this many days.",
    },
    {
        .name = "maxWorkers",
        .type = CONFIG_INT,
        .def = 4,
        .min = 1,
        .max = 1024,
        .env = "MAX_WORKERS",
        .live = true,
        .description = "Hard cap on agents running at the same time.",
    },
    {
        .name = "cpuThreshold",
        .type = CONFIG_INT,
        .unit = "percent",
        .def = 90,
        .min = 1,
        .max = 100,
        .env = "CPU_THRESHOLD",
        .live = true,
        .description = "No new agent starts while CPU use is above this percentage.",
    },
    {
        .name = "memoryReserve",
        .type = CONFIG_INT,
        .unit = "bytes",
        .def = 1073741824,
        .min = 0,
        .max = 68719476736,
        .env = "MEMORY_RESERVE",
        .live = true,
        .description = "Memory kept free: no new agent starts when less than this is available.",
    },
    {
        .name = "cpuCoresReserved",
        .type = CONFIG_INT,
        .def = 0,
        .min = 0,
        .max = 1024,
        .env = "CPU_CORES_RESERVED",
        .live = true,
        .description = "CPU cores left to other work when deciding whether an agent may start.",
    },
    {
        .name = "missedRunGraceMs",
        .type = CONFIG_INT,
        .unit = "ms",
        .def = 60000,
        .min = 0,
        .max = 3600000,
        .env = "BACKBEAT_MISSED_RUN_GRACE_MS",
        .live = true,
        .description = "How late a schedule's fire may still run; later ones count as missed.",
    },
};

#define CONFIG_NKEYS ARRAY_SIZE(config_table)

struct config_val {
    int64_t i;                 /* integers */
    char *s;                   /* enums and agents, owned; NULL = unset */
    enum config_source source; /* where the value in use came from */
    char *problem;             /* what was wrong with this key, or NULL */
};

struct config {
    char *path;           /* NULL when loaded without a home */
    json_t *file;         /* the file's object, or NULL when absent or unusable */
    const json_t *agents; /* file["agents"] when it is an object, borrowed from file */
    struct config_val vals[CONFIG_NKEYS];
    char **problems; /* NULL-terminated */
    size_t nproblems;
};

/* The table entry for name, or NULL. */
static const struct config_key *
config_key_find(const char *name)
{
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        if (strcmp(config_table[i].name, name) == 0) {
            return &config_table[i];
        }
    }
    return NULL;
}

/* Appends s for a message: bounded, valid UTF-8, control characters shown as '?'. */
static void
config_quote(struct buf *b, const char *s)
{
    size_t len = strlen(s);
    size_t n = len > CONFIG_QUOTE_MAX ? str_utf8_boundary(s, CONFIG_QUOTE_MAX) : len;
    char *clean = str_utf8_sanitize(s, n);
    for (char *p = clean; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            *p = '?';
        }
    }
    buf_adds(b, clean);
    if (n < len) {
        buf_adds(b, "...");
    }
    free(clean);
}

/* Appends a JSON value for a message, bounded like config_quote. */
static void
config_quote_json(struct buf *b, const json_t *v)
{
    char *text = json_dump_compact(v);
    config_quote(b, text);
    free(text);
}

/* What kind of JSON value v is, for "got ..." in messages. */
static const char *
config_json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

static const char *
config_type_name(const struct config_key *k)
{
    switch (k->type) {
    case CONFIG_INT:
        return "integer";
    case CONFIG_ENUM:
        return "enum";
    case CONFIG_AGENT:
        return "string";
    }
    return "?";
}

/* Appends the choices of k joined with sep. */
static void
config_choices(struct buf *b, const struct config_key *k, const char *sep)
{
    for (size_t i = 0; k->choices[i]; i++) {
        buf_printf(b, "%s%s", i ? sep : "", k->choices[i]);
    }
}

/* Appends the allowed values of k in short form ("1..1024", "debug|info|warn|error"). */
static void
config_range(struct buf *b, const struct config_key *k)
{
    if (k->type == CONFIG_INT) {
        buf_printf(b, "%lld..%lld", (long long)k->min, (long long)k->max);
    } else {
        config_choices(b, k, "|");
    }
}

/* Appends the rule of k as a phrase ("must be an integer 1..1024"). */
static void
config_rule(struct buf *b, const struct config_key *k)
{
    switch (k->type) {
    case CONFIG_INT:
        buf_printf(b, "must be an integer %lld..%lld", (long long)k->min, (long long)k->max);
        if (k->unit) {
            buf_printf(b, " (%s)", k->unit);
        }
        break;
    case CONFIG_ENUM:
        buf_adds(b, "must be one of ");
        config_choices(b, k, ", ");
        break;
    case CONFIG_AGENT:
        buf_adds(b, "must be a known agent: ");
        config_choices(b, k, ", ");
        break;
    }
}

/* Parses a plain base-10 integer with optional surrounding whitespace and nothing else. */
static bool
config_parse_int(const char *s, int64_t *out)
{
    while (isspace((unsigned char)*s)) {
        s++;
    }
    const char *digits = (*s == '+' || *s == '-') ? s + 1 : s;
    if (!isdigit((unsigned char)*digits)) {
        return false;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE) {
        return false;
    }
    while (isspace((unsigned char)*end)) {
        end++;
    }
    if (*end != '\0') {
        return false;
    }
    *out = v;
    return true;
}

/* True when name is an agent defaultAgent may name. */
bool
config_agent_known(const json_t *agents, const char *name)
{
    /* User-defined agents (agents.<name> with a command) will be accepted here once their
     * validation exists; until then a configured entry only tunes a built-in. */
    (void)agents;
    for (size_t i = 0; config_builtin_agents[i]; i++) {
        if (strcmp(config_builtin_agents[i], name) == 0) {
            return true;
        }
    }
    return false;
}

/* Checks raw against k; on success sets *i (integers) or *s (borrowed from the table or raw). */
static bool
config_value_parse(const struct config_key *k, const char *raw, const json_t *agents, int64_t *i,
                   const char **s)
{
    switch (k->type) {
    case CONFIG_INT:
        return config_parse_int(raw, i) && *i >= k->min && *i <= k->max;
    case CONFIG_ENUM:
        for (size_t n = 0; k->choices[n]; n++) {
            if (strcmp(k->choices[n], raw) == 0) {
                *s = k->choices[n];
                return true;
            }
        }
        return false;
    case CONFIG_AGENT:
        if (!config_agent_known(agents, raw)) {
            return false;
        }
        *s = raw;
        return true;
    }
    return false;
}

/* Checks a JSON value from the file against k: integers for integer keys, strings otherwise. */
static bool
config_value_json(const struct config_key *k, const json_t *v, const json_t *agents, int64_t *i,
                  const char **s)
{
    if (k->type == CONFIG_INT) {
        if (!json_is_integer(v)) {
            return false;
        }
        *i = (int64_t)json_integer_value(v);
        return *i >= k->min && *i <= k->max;
    }
    return json_is_string(v) && config_value_parse(k, json_string_value(v), agents, i, s);
}

/* Lowercase Levenshtein distance of two names of at most CONFIG_NAME_MAX bytes. */
static size_t
config_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t prev[CONFIG_NAME_MAX + 1], cur[CONFIG_NAME_MAX + 1];
    for (size_t j = 0; j <= lb; j++) {
        prev[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t best = prev[j - 1] + cost;
            if (prev[j] + 1 < best) {
                best = prev[j] + 1;
            }
            if (cur[j - 1] + 1 < best) {
                best = cur[j - 1] + 1;
            }
            cur[j] = best;
        }
        memcpy(prev, cur, (lb + 1) * sizeof prev[0]);
    }
    return prev[lb];
}

/* The key the user probably meant by name: its environment variable's name, or a key within a
 * small edit distance. NULL when nothing is close. */
static const struct config_key *
config_suggest(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > CONFIG_NAME_MAX) {
        return NULL;
    }
    const struct config_key *best = NULL;
    size_t best_d = len / 3 > 2 ? len / 3 : 2;
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        if (strcasecmp(config_table[i].env, name) == 0) {
            return &config_table[i];
        }
        size_t d = config_distance(name, config_table[i].name);
        if (d <= best_d && (best == NULL || d < best_d)) {
            best = &config_table[i];
            best_d = d;
        }
    }
    return best;
}

/* Fails with "unknown key 'x'; did you mean 'y'?" (or the list of keys). */
static int
config_unknown_key(const char *name, struct err *e)
{
    struct buf b;
    buf_init(&b);
    buf_adds(&b, "unknown key '");
    config_quote(&b, name);
    buf_adds(&b, "'");
    const struct config_key *k = config_suggest(name);
    if (k != NULL) {
        buf_printf(&b, "; did you mean '%s'?", k->name);
    } else {
        buf_adds(&b, "; known keys: ");
        for (size_t i = 0; i < CONFIG_NKEYS; i++) {
            buf_printf(&b, "%s%s", i ? ", " : "", config_table[i].name);
        }
    }
    err_set(e, ERR_INVALID, "%s", b.data);
    buf_fini(&b);
    return -1;
}

/* The table entry for key, or an ERR_INVALID error with a suggestion. */
static const struct config_key *
config_key_get(const char *key, struct err *e)
{
    const struct config_key *k = config_key_find(key);
    if (k == NULL) {
        config_unknown_key(key, e);
    }
    return k;
}

/* Fails with "invalid value 'x' for key: <rule>". */
static int
config_bad_value(const struct config_key *k, const char *value, struct err *e)
{
    struct buf b;
    buf_init(&b);
    buf_adds(&b, "invalid value '");
    config_quote(&b, value);
    buf_printf(&b, "' for %s: ", k->name);
    config_rule(&b, k);
    err_set(e, ERR_INVALID, "%s", b.data);
    buf_fini(&b);
    return -1;
}

/* Validates one raw string value for key. */
int
config_check_value(const char *key, const char *value, struct err *e)
{
    const struct config_key *k = config_key_get(key, e);
    if (k == NULL) {
        return -1;
    }
    int64_t i = 0;
    const char *s = NULL;
    if (!config_value_parse(k, value, NULL, &i, &s)) {
        return config_bad_value(k, value, e);
    }
    return 0;
}

/* Masks a secret for display. */
char *
config_mask_secret(const char *s)
{
    size_t len = strlen(s);
    if (len <= 8) {
        return xstrdup("***");
    }
    return xasprintf("%.3s...%s", s, s + len - 3);
}

/* Formats an integer with a short human form when its unit has one. */
char *
config_format_int(int64_t v, const char *unit)
{
    static const struct {
        const char *unit;
        int64_t size;
        const char *suffix;
    } forms[] = {
        { "ms", 3600000, "h" },          { "ms", 60000, "m" },         { "ms", 1000, "s" },
        { "bytes", 1073741824, " GiB" }, { "bytes", 1048576, " MiB" }, { "bytes", 1024, " KiB" },
    };
    for (size_t i = 0; unit != NULL && v > 0 && i < ARRAY_SIZE(forms); i++) {
        if (strcmp(forms[i].unit, unit) == 0 && v % forms[i].size == 0) {
            return xasprintf("%lld (%lld%s)", (long long)v, (long long)(v / forms[i].size),
                             forms[i].suffix);
        }
    }
    return xasprintf("%lld", (long long)v);
}

/* Records a problem, for the key at idx (or the file when idx is SIZE_MAX). Takes msg. */
static void
config_problem_take(struct config *c, size_t idx, char *msg)
{
    if (idx != SIZE_MAX) {
        struct config_val *v = &c->vals[idx];
        if (v->problem == NULL) {
            v->problem = xstrdup(msg);
        } else {
            char *both = xasprintf("%s; also %s", v->problem, msg);
            free(v->problem);
            v->problem = both;
        }
    }
    c->problems = xrealloc(c->problems, (c->nproblems + 2) * sizeof *c->problems);
    c->problems[c->nproblems++] = msg;
    c->problems[c->nproblems] = NULL;
}

static void config_problem(struct config *c, const char *fmt, ...) PRINTFLIKE(2, 3);

/* Records a problem about the file as a whole. */
static void
config_problem(struct config *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) {
        abort(); /* OOM */
    }
    va_end(ap);
    config_problem_take(c, SIZE_MAX, msg);
}

/* Appends "; using ..." for a rejected value of the key at idx, given what is in use now. */
static void
config_fallback(struct buf *b, const struct config *c, size_t idx)
{
    const struct config_key *k = &config_table[idx];
    const struct config_val *v = &c->vals[idx];
    if (v->source == CONFIG_SOURCE_FILE) {
        buf_adds(b, "; using the value from " CONFIG_FILE_NAME ", ");
    } else if (k->type == CONFIG_INT || v->s != NULL) {
        buf_adds(b, "; using the default ");
    } else {
        buf_adds(b, "; leaving it unset");
        return;
    }
    if (k->type == CONFIG_INT) {
        buf_printf(b, "%lld", (long long)v->i);
    } else {
        buf_adds(b, v->s);
    }
}

/* Stores a valid value for the key at idx. */
static void
config_val_set(struct config *c, size_t idx, int64_t i, const char *s, enum config_source src)
{
    struct config_val *v = &c->vals[idx];
    free(v->s);
    v->i = i;
    v->s = s ? xstrdup(s) : NULL;
    v->source = src;
}

/* Checks and applies the file's value for each key; reports unknown keys and a bad agents. */
static void
config_apply_file(struct config *c, json_t *root)
{
    const char *name;
    json_t *v;
    json_object_foreach(root, name, v)
    {
        if (strcmp(name, "agents") == 0) {
            if (json_is_object(v)) {
                c->agents = v;
            } else {
                config_problem(
                    c, "agents in " CONFIG_FILE_NAME " must be an object, not %s; ignoring it",
                    config_json_kind(v));
            }
            continue;
        }
        if (config_key_find(name) != NULL) {
            continue;
        }
        struct buf b;
        buf_init(&b);
        buf_adds(&b, "unknown key '");
        config_quote(&b, name);
        buf_adds(&b, "' in " CONFIG_FILE_NAME);
        const struct config_key *k = config_suggest(name);
        if (k != NULL) {
            buf_printf(&b, "; did you mean '%s'?", k->name);
        } else {
            buf_adds(&b, " (ignored; `beat config keys` lists the keys)");
        }
        config_problem_take(c, SIZE_MAX, buf_take(&b));
    }
    /* Known keys after the loop above, so defaultAgent's check can see the agents object. */
    for (size_t idx = 0; idx < CONFIG_NKEYS; idx++) {
        const struct config_key *k = &config_table[idx];
        v = json_object_get(root, k->name);
        if (v == NULL || json_is_null(v)) {
            continue; /* null reads as "not set", like an absent key */
        }
        int64_t i = 0;
        const char *s = NULL;
        if (config_value_json(k, v, c->agents, &i, &s)) {
            config_val_set(c, idx, i, s, CONFIG_SOURCE_FILE);
            continue;
        }
        struct buf b;
        buf_init(&b);
        buf_printf(&b, "%s=", k->name);
        config_quote_json(&b, v);
        buf_adds(&b, " (" CONFIG_FILE_NAME "): ");
        config_rule(&b, k);
        if (k->type == CONFIG_INT ? !json_is_integer(v) : !json_is_string(v)) {
            buf_printf(&b, ", not %s", config_json_kind(v));
        }
        config_fallback(&b, c, idx);
        config_problem_take(c, idx, buf_take(&b));
    }
}

/* True when text holds only whitespace: an empty file reads as {}. */
static bool
config_blank(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!isspace((unsigned char)text[i])) {
            return false;
        }
    }
    return true;
}

/* Reads and parses the file; NULL with a problem recorded when it is unusable, or with no
 * problem when it is absent or blank. */
static json_t *
config_read_file(struct config *c)
{
    struct err e = { 0 };
    size_t len = 0;
    char *text = fs_read_file(c->path, CONFIG_FILE_MAX, &len, &e);
    if (text == NULL) {
        if (e.code != ERR_NOTFOUND) {
            config_problem(c, "%s; ignoring the file, using environment and defaults", e.msg);
        }
        return NULL;
    }
    json_t *root = NULL;
    if (!config_blank(text, len)) {
        root = json_parse(text, len, &e);
        if (root == NULL) {
            config_problem(c, "%s is not valid JSON (%s); %s", c->path, e.msg,
                           "ignoring the whole file, using environment and defaults");
        } else if (!json_is_object(root)) {
            config_problem(
                c,
                "%s must hold a JSON object, not %s; ignoring it, using environment and defaults",
                c->path, config_json_kind(root));
            json_decref(root);
            root = NULL;
        }
    }
    free(text);
    return root;
}

/* Applies the environment's values over the file's. */
static void
config_apply_env(struct config *c, const json_t *env)
{
    for (size_t idx = 0; idx < CONFIG_NKEYS; idx++) {
        const struct config_key *k = &config_table[idx];
        const json_t *v = json_object_get(env, k->env);
        if (v == NULL) {
            continue;
        }
        /* An empty variable (NAME= in a shell) reads as unset, as it usually means "clear". */
        if (json_is_string(v) && json_string_length(v) == 0) {
            continue;
        }
        int64_t i = 0;
        const char *s = NULL;
        if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) &&
            config_value_parse(k, json_string_value(v), c->agents, &i, &s)) {
            config_val_set(c, idx, i, s, CONFIG_SOURCE_ENV);
            continue;
        }
        struct buf b;
        buf_init(&b);
        buf_printf(&b, "%s=", k->env);
        if (json_is_string(v)) {
            config_quote(&b, json_string_value(v));
        } else {
            config_quote_json(&b, v);
        }
        buf_printf(&b, " (environment, key %s): ", k->name);
        config_rule(&b, k);
        config_fallback(&b, c, idx);
        config_problem_take(c, idx, buf_take(&b));
    }
}

/* Loads defaults, the file and the environment, key by key. */
struct config *
config_load(const char *home, const json_t *env)
{
    struct config *c = xcalloc(1, sizeof *c);
    c->problems = xcalloc(1, sizeof *c->problems);
    for (size_t idx = 0; idx < CONFIG_NKEYS; idx++) {
        const struct config_key *k = &config_table[idx];
        config_val_set(c, idx, k->def, k->def_str, CONFIG_SOURCE_DEFAULT);
    }
    if (home != NULL) {
        c->path = config_path(home);
        c->file = config_read_file(c);
        if (c->file != NULL) {
            config_apply_file(c, c->file);
        }
    }
    if (json_is_object(env)) {
        config_apply_env(c, env);
    }
    return c;
}

/* Frees c (NULL is fine). */
void
config_free(struct config *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t idx = 0; idx < CONFIG_NKEYS; idx++) {
        free(c->vals[idx].s);
        free(c->vals[idx].problem);
    }
    strv_free(c->problems);
    json_decref(c->file);
    free(c->path);
    free(c);
}

/* The index of key, aborting when it is unknown: callers name keys in code. */
static size_t
config_index(const char *key)
{
    const struct config_key *k = config_key_find(key);
    if (k == NULL) {
        log_error("config: no key named '%s'", key);
        abort();
    }
    return (size_t)(k - config_table);
}

/* Returns an integer key's value. */
int64_t
config_int(const struct config *c, const char *key)
{
    size_t idx = config_index(key);
    if (config_table[idx].type != CONFIG_INT) {
        log_error("config: key '%s' is not an integer", key);
        abort();
    }
    return c->vals[idx].i;
}

/* Returns a string key's value, or NULL when unset. */
const char *
config_str(const struct config *c, const char *key)
{
    size_t idx = config_index(key);
    if (config_table[idx].type == CONFIG_INT) {
        log_error("config: key '%s' is an integer", key);
        abort();
    }
    return c->vals[idx].s;
}

/* Returns agents.<name> from the file, or NULL. */
const json_t *
config_agent(const struct config *c, const char *name)
{
    return c->agents ? json_object_get(c->agents, name) : NULL;
}

/* Returns the problems found while loading. */
const char *const *
config_problems(const struct config *c)
{
    return (const char *const *)c->problems;
}

/* True for environment variable names that probably hold a secret. */
static bool
config_secret_name(const char *name)
{
    static const char *const words[] = { "KEY",    "TOKEN",      "SECRET", "PASSWORD",
                                         "PASSWD", "CREDENTIAL", "AUTH" };
    for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
        if (strcasestr(name, words[i]) != NULL) {
            return true;
        }
    }
    return false;
}

/* Replaces obj[key] with its masked form. */
static void
config_mask_member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        return;
    }
    char *masked = json_is_string(v) ? config_mask_secret(json_string_value(v)) : xstrdup("***");
    json_object_set_new(obj, key, json_string_bytes(masked, strlen(masked)));
    free(masked);
}

/* A copy of the agents object safe to print: apiKey and secret-looking env values masked. */
static json_t *
config_agents_masked(const json_t *agents)
{
    if (agents == NULL) {
        return json_object();
    }
    json_t *out = json_deep_copy(agents);
    const char *name;
    json_t *a;
    json_object_foreach(out, name, a)
    {
        if (!json_is_object(a)) {
            continue;
        }
        config_mask_member(a, "apiKey");
        json_t *env = json_object_get(a, "env");
        if (json_is_object(env)) {
            const char *var;
            json_t *val;
            json_object_foreach(env, var, val)
            {
                if (config_secret_name(var)) {
                    config_mask_member(env, var);
                }
            }
        }
    }
    return out;
}

/* The value of the key at idx as JSON (null when unset). */
static json_t *
config_val_json(const struct config_key *k, int64_t i, const char *s)
{
    if (k->type == CONFIG_INT) {
        return json_integer((json_int_t)i);
    }
    return s ? json_string(s) : json_null();
}

/* Describes one key as JSON: the metadata shared by show and keys. */
static json_t *
config_key_json(const struct config_key *k)
{
    struct buf b;
    buf_init(&b);
    config_range(&b, k);
    json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:s, s:s, s:b, s:s}", "key", k->name, "type",
                          config_type_name(k), "unit", k->unit ? json_string(k->unit) : json_null(),
                          "default", config_val_json(k, k->def, k->def_str), "range", b.data, "env",
                          k->env, "live", k->live, "description", k->description);
    buf_fini(&b);
    return o;
}

/* The source of a value as show reports it ("default", "file", "env:NAME"). */
static char *
config_source_name(const struct config_key *k, enum config_source src)
{
    switch (src) {
    case CONFIG_SOURCE_DEFAULT:
        return xstrdup("default");
    case CONFIG_SOURCE_FILE:
        return xstrdup("file");
    case CONFIG_SOURCE_ENV:
        return xasprintf("env:%s", k->env);
    }
    return xstrdup("?");
}

/* Describes the loaded configuration for `beat config show`. */
json_t *
config_show_json(const struct config *c)
{
    json_t *keys = json_array();
    for (size_t idx = 0; idx < CONFIG_NKEYS; idx++) {
        const struct config_key *k = &config_table[idx];
        const struct config_val *v = &c->vals[idx];
        json_t *o = config_key_json(k);
        char *src = config_source_name(k, v->source);
        json_object_set_new(o, "value", config_val_json(k, v->i, v->s));
        json_object_set_new(o, "source", json_string(src));
        free(src);
        if (v->problem != NULL) {
            json_object_set_new(o, "problem", json_string_bytes(v->problem, strlen(v->problem)));
        }
        json_array_append_new(keys, o);
    }
    json_t *problems = json_array();
    for (size_t i = 0; i < c->nproblems; i++) {
        json_array_append_new(problems, json_string_bytes(c->problems[i], strlen(c->problems[i])));
    }
    json_t *path = c->path ? json_string_bytes(c->path, strlen(c->path)) : json_null();
    return json_pack("{s:o, s:o, s:o, s:o}", "path", path, "keys", keys, "agents",
                     config_agents_masked(c->agents), "problems", problems);
}

/* Appends a value for a change line. */
static void
config_diff_value(struct buf *b, const struct config_key *k, const struct config_val *v)
{
    if (k->type == CONFIG_INT) {
        buf_printf(b, "%lld", (long long)v->i);
    } else {
        buf_adds(b, v->s ? v->s : "(unset)");
    }
}

/* Lists the keys whose values differ between old and new. */
char **
config_diff(const struct config *old, const struct config *new)
{
    char **lines = xcalloc(CONFIG_NKEYS + 1, sizeof *lines);
    size_t n = 0;
    for (size_t idx = 0; idx < CONFIG_NKEYS; idx++) {
        const struct config_key *k = &config_table[idx];
        const struct config_val *a = &old->vals[idx], *b = &new->vals[idx];
        bool same = k->type == CONFIG_INT
                        ? a->i == b->i
                        : (a->s == NULL ? b->s == NULL : b->s != NULL && strcmp(a->s, b->s) == 0);
        if (same) {
            continue;
        }
        struct buf line;
        buf_init(&line);
        buf_printf(&line, "%s: ", k->name);
        config_diff_value(&line, k, a);
        buf_adds(&line, " -> ");
        config_diff_value(&line, k, b);
        char *src = config_source_name(k, b->source);
        buf_printf(&line, " (%s)", src);
        free(src);
        if (!k->live) {
            buf_adds(&line, " (needs a daemon restart)");
        }
        lines[n++] = buf_take(&line);
    }
    return lines;
}

/* Returns home/config.json. */
char *
config_path(const char *home)
{
    return xasprintf("%s/%s", home, CONFIG_FILE_NAME);
}

/* Reads the file for an edit: a new object ({} when absent or blank), or NULL with e set when
 * the file exists but is not a JSON object, so it is never overwritten blindly. */
static json_t *
config_read_for_edit(const char *path, struct err *e)
{
    struct err re = { 0 };
    size_t len = 0;
    char *text = fs_read_file(path, CONFIG_FILE_MAX, &len, &re);
    if (text == NULL) {
        if (re.code == ERR_NOTFOUND) {
            return json_object();
        }
        err_set(e, ERR_IO, "%s", re.msg);
        return NULL;
    }
    json_t *root = NULL;
    if (config_blank(text, len)) {
        root = json_object();
    } else if ((root = json_parse(text, len, &re)) == NULL) {
        err_set(e, ERR_STATE, "%s is not valid JSON (%s); %s", path, re.msg, CONFIG_EDIT_HINT);
    } else if (!json_is_object(root)) {
        err_set(e, ERR_STATE, "%s must hold a JSON object, not %s; %s", path,
                config_json_kind(root), CONFIG_EDIT_HINT);
        json_decref(root);
        root = NULL;
    }
    free(text);
    return root;
}

/* Writes root to path atomically (0600), creating home (0700) first. */
static int
config_write(const char *home, const char *path, const json_t *root, struct err *e)
{
    if (fs_mkdir_p(home, 0700, e) != 0) {
        return -1;
    }
    char *text = json_dump_pretty(root);
    char *data = xasprintf("%s\n", text);
    int rc = fs_write_atomic(path, data, strlen(data), 0600, e);
    free(data);
    free(text);
    return rc;
}

/* Validates and writes one key into config.json. */
int
config_set(const char *home, const char *key, const char *value, struct err *e)
{
    char *path = NULL;
    json_t *root = NULL;
    int rc = -1;
    const struct config_key *k = config_key_get(key, e);
    if (k == NULL) {
        goto out;
    }
    if (home == NULL || *home == '\0') {
        err_set(e, ERR_INVALID, "no state directory to hold %s", CONFIG_FILE_NAME);
        goto out;
    }
    path = config_path(home);
    if ((root = config_read_for_edit(path, e)) == NULL) {
        goto out;
    }
    const json_t *agents = json_object_get(root, "agents");
    int64_t i = 0;
    const char *s = NULL;
    if (!config_value_parse(k, value, json_is_object(agents) ? agents : NULL, &i, &s)) {
        config_bad_value(k, value, e);
        goto out;
    }
    json_object_set_new(root, k->name, config_val_json(k, i, s));
    rc = config_write(home, path, root, e);
out:
    json_decref(root);
    free(path);
    return rc;
}

/* Removes one key from config.json. */
int
config_reset(const char *home, const char *key, struct err *e)
{
    char *path = NULL;
    json_t *root = NULL;
    int rc = -1;
    const struct config_key *k = config_key_find(key);
    if (k == NULL && strcmp(key, "agents") == 0) {
        err_set(e, ERR_INVALID, "agents is not a setting; edit the agents object in %s/%s", home,
                CONFIG_FILE_NAME);
        goto out;
    }
    if (home == NULL || *home == '\0') {
        err_set(e, ERR_INVALID, "no state directory to hold %s", CONFIG_FILE_NAME);
        goto out;
    }
    path = config_path(home);
    if ((root = config_read_for_edit(path, e)) == NULL) {
        goto out;
    }
    if (json_object_get(root, key) == NULL) {
        /* Nothing to remove; an unknown key that is not in the file is still a mistake. */
        rc = k != NULL ? 0 : config_unknown_key(key, e);
        goto out;
    }
    json_object_del(root, key);
    rc = config_write(home, path, root, e);
out:
    json_decref(root);
    free(path);
    return rc;
}

/* Describes every key as JSON. */
json_t *
config_keys_json(void)
{
    json_t *keys = json_array();
    for (size_t idx = 0; idx < CONFIG_NKEYS; idx++) {
        json_array_append_new(keys, config_key_json(&config_table[idx]));
    }
    return keys;
}

/* Renders the key table as Markdown for docs/configuration.md. */
char *
config_keys_markdown(void)
{
    struct buf b;
    buf_init(&b);
    buf_adds(&b,
             "| key | type | default | allowed | environment variable | applies | description |\n");
    buf_adds(&b, "| --- | --- | --- | --- | --- | --- | --- |\n");
    for (size_t idx = 0; idx < CONFIG_NKEYS; idx++) {
        const struct config_key *k = &config_table[idx];
        buf_printf(&b, "| `%s` | %s", k->name, config_type_name(k));
        if (k->unit) {
            buf_printf(&b, " (%s)", k->unit);
        }
        buf_adds(&b, " | ");
        if (k->type == CONFIG_INT) {
            char *def = config_format_int(k->def, k->unit);
            buf_adds(&b, def);
            free(def);
        } else {
            buf_adds(&b, k->def_str ? k->def_str : "(unset)");
        }
        buf_adds(&b, " | ");
        if (k->type == CONFIG_INT) {
            config_range(&b, k);
        } else {
            config_choices(&b, k, ", ");
        }
        buf_printf(&b, " | `%s` | %s | %s |\n", k->env, k->live ? "live" : "restart",
                   k->description);
    }
    return buf_take(&b);
}
