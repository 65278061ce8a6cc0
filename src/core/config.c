/* Configuration keys, their validation, loading with per-key fallback, and edits of config.json.
 * Everything about a key lives in config_table[]: loading, `beat config show`, the checks and the
 * table in docs/configuration.md are all generated from it. The agents object is checked field
 * by field with the rules of agents/agent-conf.c, and edited through agents.<name>.<field> keys.
 * Not here: watching the file and telling the daemon to reload (the engine). */
#include "core/config.h"

#include <sys/file.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "agents/agent.h"
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
/* The built-in agents; defaultAgent may also name a user-defined one (config_agent_known). */
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
        .description = "Finished tasks and their output are deleted after this many days (not "
                       "while a waiting task depends on them or their schedule run goes on).",
    },
    {
        .name = "maxWorkers",
        .type = CONFIG_INT,
        .def = 16,
        .min = 1,
        .max = 1024,
        .env = "MAX_WORKERS",
        .live = true,
        .description = "Hard cap on agents running at once; below it, CPU and memory decide.",
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
        .description = "No agent starts if projected CPU use would pass this; 100 turns it off.",
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
        .description = "An agent starts only if its expected memory use leaves this available.",
    },
    {
        .name = "cpuCoresReserved",
        .type = CONFIG_INT,
        .def = 0,
        .min = 0,
        .max = 1024,
        .env = "CPU_CORES_RESERVED",
        .live = true,
        .description = "CPU cores left to other work (at least one core stays usable).",
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

static void config_user_agents(struct buf *b, const json_t *agents, const char *sep);

struct config_val {
    int64_t i;                 /* integers */
    char *s;                   /* enums and agents, owned; NULL = unset */
    enum config_source source; /* where the value in use came from */
    char *problem;             /* what was wrong with this key, or NULL */
};

struct config {
    char *path;     /* NULL when loaded without a home */
    json_t *file;   /* the file's object, or NULL when absent or unusable */
    json_t *agents; /* file["agents"] with its bad entries and fields left out, or NULL */
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
        if (k->type == CONFIG_AGENT) {
            buf_adds(b, "|a user-defined agent");
        }
    }
}

/* Appends the rule of k as a phrase ("must be an integer 1..1024"); agents (may be NULL) adds
 * the user-defined agents to the names defaultAgent may take. */
static void
config_rule(struct buf *b, const struct config_key *k, const json_t *agents)
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
        config_user_agents(b, agents, ", ");
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

/* True when name is a built-in agent or one defined in agents. */
bool
config_agent_known(const json_t *agents, const char *name)
{
    if (name == NULL) {
        return false;
    }
    if (agent_find(name) != NULL) {
        return true;
    }
    /* A user-defined agent exists as soon as its entry does, even with a broken command: its
     * tasks then fail with the reason, rather than being refused as "unknown". */
    return agent_conf_name_ok(name) && json_is_object(json_object_get(agents, name));
}

/* Appends the names of the user-defined agents in agents, each after sep. */
static void
config_user_agents(struct buf *b, const json_t *agents, const char *sep)
{
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)agents, name, v)
    {
        if (agent_find(name) == NULL && config_agent_known(agents, name)) {
            buf_printf(b, "%s%s", sep, name);
        }
    }
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
config_bad_value(const struct config_key *k, const char *value, const json_t *agents, struct err *e)
{
    struct buf b;
    buf_init(&b);
    buf_adds(&b, "invalid value '");
    config_quote(&b, value);
    buf_printf(&b, "' for %s: ", k->name);
    config_rule(&b, k, agents);
    err_set(e, ERR_INVALID, "%s", b.data);
    buf_fini(&b);
    return -1;
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

/* The agent field the user probably meant by name, or NULL. */
static const char *
config_suggest_field(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > CONFIG_NAME_MAX) {
        return NULL;
    }
    const char *best = NULL;
    size_t best_d = len / 3 > 2 ? len / 3 : 2;
    for (const char *const *f = agent_conf_fields(); *f; f++) {
        size_t d = config_distance(name, *f);
        if (d <= best_d && (best == NULL || d < best_d)) {
            best = *f;
            best_d = d;
        }
    }
    return best;
}

/* Appends "; did you mean 'x'?" for an unknown agent field, or the list of fields. */
static void
config_field_hint(struct buf *b, const char *field)
{
    const char *near = config_suggest_field(field);
    if (near != NULL) {
        buf_printf(b, "; did you mean '%s'?", near);
        return;
    }
    buf_adds(b, "; fields: ");
    for (const char *const *f = agent_conf_fields(); *f; f++) {
        buf_printf(b, "%s%s", f == agent_conf_fields() ? "" : ", ", *f);
    }
}

/* Checks the agents object field by field. A bad field is left out on its own (and reported),
 * never its agent or the other agents; the checked copy becomes c->agents. No message quotes
 * an apiKey, an env value or a base URL. */
static void
config_apply_agents(struct config *c, const json_t *agents)
{
    json_t *clean = json_object();
    const char *name, *field;
    json_t *entry, *v;
    json_object_foreach((json_t *)agents, name, entry)
    {
        struct buf b;
        if (!agent_conf_name_ok(name)) {
            buf_init(&b);
            buf_adds(&b, "agents['");
            config_quote(&b, name);
            buf_adds(&b, "'] in " CONFIG_FILE_NAME
                         ": not a valid agent name (it must match " AGENT_CONF_NAME_PATTERN
                         "); ignored");
            config_problem_take(c, SIZE_MAX, buf_take(&b));
            continue;
        }
        if (!json_is_object(entry)) {
            config_problem(c,
                           "agents.%s in " CONFIG_FILE_NAME " must be an object, not %s; ignored",
                           name, json_kind_name(entry));
            continue;
        }
        bool builtin = agent_find(name) != NULL;
        json_t *ce = json_object();
        json_object_foreach(entry, field, v)
        {
            struct err e;
            if (json_is_null(v)) {
                continue; /* null reads as "not set", as for the keys */
            }
            if (!agent_conf_field_known(field)) {
                buf_init(&b);
                buf_adds(&b, "unknown field '");
                config_quote(&b, field);
                buf_printf(&b, "' in agents.%s in " CONFIG_FILE_NAME, name);
                config_field_hint(&b, field);
                config_problem_take(c, SIZE_MAX, buf_take(&b));
            } else if (!agent_conf_field_applies(field, builtin)) {
                config_problem(c,
                               "agents.%s.%s in " CONFIG_FILE_NAME ": %s is a built-in agent and "
                               "only user-defined agents take %s; ignored",
                               name, field, name, field);
            } else if (agent_conf_check_field(name, field, v, &e) != 0) {
                config_problem(c, "%s, in " CONFIG_FILE_NAME "; this field is ignored", e.msg);
            } else {
                json_object_set(ce, field, v);
            }
        }
        if (!builtin && json_object_get(ce, "command") == NULL) {
            config_problem(c,
                           "agents.%s in " CONFIG_FILE_NAME " has no usable command: its tasks "
                           "fail until agents.%s.command is set",
                           name, name);
        }
        char **unused = agent_conf_unused(name, ce);
        for (char **p = unused; *p; p++) {
            config_problem_take(c, SIZE_MAX, *p);
            *p = NULL;
        }
        free(unused);
        json_object_set_new(clean, name, ce);
    }
    json_decref(c->agents);
    c->agents = clean;
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
                config_apply_agents(c, v);
            } else {
                config_problem(
                    c, "agents in " CONFIG_FILE_NAME " must be an object, not %s; ignoring it",
                    json_kind_name(v));
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
        config_rule(&b, k, c->agents);
        if (k->type == CONFIG_INT ? !json_is_integer(v) : !json_is_string(v)) {
            buf_printf(&b, ", not %s", json_kind_name(v));
        }
        config_fallback(&b, c, idx);
        config_problem_take(c, idx, buf_take(&b));
    }
}

/* Cuts jansson's "near '<token>'" from a parse error: the token may be part of an API key,
 * and the message goes to daemon.log. The line and column stay. */
static void
config_parse_error_clean(char *msg)
{
    char *near = strstr(msg, " near ");
    if (near != NULL) {
        *near = '\0';
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
        config_parse_error_clean(e.msg);
        if (root == NULL) {
            config_problem(c, "%s is not valid JSON (%s); %s", c->path, e.msg,
                           "ignoring the whole file, using environment and defaults");
        } else if (!json_is_object(root)) {
            config_problem(
                c,
                "%s must hold a JSON object, not %s; ignoring it, using environment and defaults",
                c->path, json_kind_name(root));
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
        config_rule(&b, k, c->agents);
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
    json_decref(c->agents);
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

/* Returns the checked agents object, or NULL. */
const json_t *
config_agents(const struct config *c)
{
    return c->agents;
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

/* Shows a URL without the password of any user:password@ part. */
char *
config_mask_url(const char *url)
{
    const char *host = strstr(url, "://");
    if (host == NULL) {
        return xstrdup(url);
    }
    host += 3;
    size_t span = strcspn(host, "/?#");
    const char *at = memchr(host, '@', span);
    if (at == NULL) {
        return xstrdup(url);
    }
    return xasprintf("%.*s***%s", (int)(host - url), url, at);
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
        const char *url = json_get_str(a, "baseUrl");
        if (url != NULL) {
            char *shown = config_mask_url(url);
            json_set_str(a, "baseUrl", shown);
            free(shown);
        }
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
    /* Agents: which ones changed, never how (a value may be a key). All live. */
    size_t extra = json_object_size(old->agents) + json_object_size(new->agents);
    lines = xrealloc(lines, (n + extra + 1) * sizeof *lines);
    const char *name;
    json_t *a;
    json_object_foreach(new->agents, name, a)
    {
        const json_t *was = json_object_get(old->agents, name);
        if (was == NULL) {
            lines[n++] = xasprintf("agents.%s: added", name);
        } else if (!json_equal((json_t *)was, a)) {
            lines[n++] = xasprintf("agents.%s: changed", name);
        }
    }
    json_object_foreach(old->agents, name, a)
    {
        if (json_object_get(new->agents, name) == NULL) {
            lines[n++] = xasprintf("agents.%s: removed", name);
        }
    }
    lines[n] = NULL;
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
        config_parse_error_clean(re.msg);
        err_set(e, ERR_STATE, "%s is not valid JSON (%s); %s", path, re.msg, CONFIG_EDIT_HINT);
    } else if (!json_is_object(root)) {
        err_set(e, ERR_STATE, "%s must hold a JSON object, not %s; %s", path,
                json_kind_name(root), CONFIG_EDIT_HINT);
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

/* ---- edits: config set / reset, table keys and agents.<name>[.<field>] ---- */

/* An agents.* key split up. */
struct config_agent_key {
    char name[AGENT_CONF_NAME_MAX + 1];
    const char *field; /* NULL for agents.<name> as a whole; points into the key */
};

/* One change to config.json: a key and its new value, or NULL to remove it. */
struct config_edit {
    const char *key;
    const char *value;
    const struct config_key *k; /* a table key; NULL for agents.* and unknown keys */
    bool agent;                 /* an agents.* key */
    struct config_agent_key ak;
    json_t *v; /* an agents.* value, checked as far as it can be without the file */
};

/* Splits "agents.<name>[.<field>]", checking the name's form. */
static int
config_agent_key_parse(const char *key, struct config_agent_key *ak, struct err *e)
{
    const char *p = key + strlen("agents.");
    const char *dot = strchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    memset(ak, 0, sizeof *ak);
    if (n > 0 && n <= AGENT_CONF_NAME_MAX) {
        memcpy(ak->name, p, n);
        ak->name[n] = '\0';
    }
    if (!agent_conf_name_ok(ak->name)) {
        struct buf b;
        buf_init(&b);
        buf_adds(&b, "'");
        config_quote(&b, key);
        buf_adds(&b, "': not a valid agent name; agent keys are agents.<name> and "
                     "agents.<name>.<field>, with <name> matching " AGENT_CONF_NAME_PATTERN);
        err_set(e, ERR_INVALID, "%s", b.data);
        buf_fini(&b);
        return -1;
    }
    ak->field = dot ? dot + 1 : NULL;
    return 0;
}

/* Fails with "unknown field 'x' for agents.<name>; did you mean 'y'?". */
static int
config_unknown_field(const char *name, const char *field, struct err *e)
{
    struct buf b;
    buf_init(&b);
    buf_adds(&b, "unknown field '");
    config_quote(&b, field);
    buf_printf(&b, "' for agents.%s", name);
    config_field_hint(&b, field);
    err_set(e, ERR_INVALID, "%s", b.data);
    buf_fini(&b);
    return -1;
}

/* Checks that field exists and applies to the agent name. */
static int
config_agent_field_ok(const char *name, const char *field, struct err *e)
{
    if (!agent_conf_field_known(field)) {
        return config_unknown_field(name, field, e);
    }
    if (!agent_conf_field_applies(field, agent_find(name) != NULL)) {
        return err_set(e, ERR_INVALID,
                       "agents.%s.%s: %s is a built-in agent and only user-defined agents take "
                       "%s (give your own agent another name)",
                       name, field, name, field);
    }
    return 0;
}

/* Checks that a user-defined agent's program exists: an absolute path must be an executable
 * file, a bare name must be found on this process's PATH (the run-time check uses the PATH of
 * the client that submits the task). */
static int
config_check_program(const char *name, const json_t *command, struct err *e)
{
    const char *prog = json_string_value(json_array_get(command, 0));
    if (prog == NULL) {
        return 0;
    }
    if (strchr(prog, '/') != NULL && prog[0] != '/') {
        return err_set(e, ERR_INVALID,
                       "agents.%s.command[0]: '%.200s' is a relative path; give a name found on "
                       "PATH or an absolute path",
                       name, prog);
    }
    char *found = fs_find_exec(prog, getenv("PATH"));
    if (found == NULL) {
        if (prog[0] == '/') {
            return err_set(e, ERR_INVALID,
                           "agents.%s.command[0]: '%.200s' is not an executable file", name, prog);
        }
        return err_set(e, ERR_INVALID,
                       "agents.%s.command[0]: no '%.200s' executable on PATH; install it, or give "
                       "its absolute path",
                       name, prog);
    }
    free(found);
    return 0;
}

/* Parses and checks the value of an agents.* key as far as the file is not needed. */
static json_t *
config_agent_value(const struct config_agent_key *ak, const char *value, struct err *e)
{
    json_t *v = NULL;
    if (ak->field == NULL) {
        json_error_t je;
        v = json_loads(value, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
        if (v == NULL) {
            err_set(e, ERR_INVALID,
                    "agents.%s: must be a JSON object of its fields, for example "
                    "'{\"command\": [\"mytool\", \"--\", \"{prompt}\"]}' (invalid JSON at line %d "
                    "column %d)",
                    ak->name, je.line, je.column);
            return NULL;
        }
        if (agent_conf_check(ak->name, v, e) != 0) {
            json_decref(v);
            return NULL;
        }
    } else {
        if (config_agent_field_ok(ak->name, ak->field, e) != 0) {
            return NULL;
        }
        v = agent_conf_parse_value(ak->name, ak->field, value, e);
        if (v == NULL) {
            return NULL;
        }
        if (agent_conf_check_field(ak->name, ak->field, v, e) != 0) {
            json_decref(v);
            return NULL;
        }
    }
    const json_t *command = ak->field == NULL                   ? json_object_get(v, "command")
                            : strcmp(ak->field, "command") == 0 ? v
                                                                : NULL;
    if (command != NULL && config_check_program(ak->name, command, e) != 0) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* Checks an edit as far as it can be checked without the file. */
static int
config_edit_prepare(struct config_edit *ed, struct err *e)
{
    if (strcmp(ed->key, "agents") == 0) {
        return err_set(e, ERR_INVALID,
                       "agents is not a setting itself: use agents.<name>.<field>, or "
                       "agents.<name> with a JSON object");
    }
    if (str_has_prefix(ed->key, "agents.")) {
        ed->agent = true;
        if (config_agent_key_parse(ed->key, &ed->ak, e) != 0) {
            return -1;
        }
        if (ed->value != NULL && (ed->v = config_agent_value(&ed->ak, ed->value, e)) == NULL) {
            return -1;
        }
        return 0;
    }
    ed->k = config_key_find(ed->key);
    if (ed->k == NULL && ed->value != NULL) {
        return config_unknown_key(ed->key, e);
    }
    return 0; /* resetting an unknown key is fine when the file has it (a typo to clean up) */
}

/* Applies an agents.* edit to root. */
static int
config_edit_agent(json_t *root, const struct config_edit *ed, bool *changed, struct err *e)
{
    const char *name = ed->ak.name, *field = ed->ak.field;
    bool builtin = agent_find(name) != NULL;
    json_t *agents = json_object_get(root, "agents");
    if (agents != NULL && !json_is_object(agents)) {
        return err_set(e, ERR_STATE, "agents in " CONFIG_FILE_NAME " is %s, not an object; %s",
                       json_kind_name(agents), CONFIG_EDIT_HINT);
    }
    json_t *entry = agents ? json_object_get(agents, name) : NULL;
    if (ed->value == NULL) {
        if (field == NULL) {
            const char *def = json_get_str(root, "defaultAgent");
            if (entry == NULL) {
                return 0;
            }
            if (!builtin && def != NULL && strcmp(def, name) == 0) {
                return err_set(e, ERR_INVALID,
                               "agents.%s: %s is the defaultAgent; set or reset defaultAgent first",
                               name, name);
            }
            json_object_del(agents, name);
        } else {
            json_t *cur = json_is_object(entry) ? json_object_get(entry, field) : NULL;
            if (cur == NULL) {
                return agent_conf_field_known(field) ? 0 : config_unknown_field(name, field, e);
            }
            if (!builtin && strcmp(field, "command") == 0) {
                return err_set(e, ERR_INVALID,
                               "agents.%s.command: a user-defined agent needs its command; `beat "
                               "config reset agents.%s` removes the whole agent",
                               name, name);
            }
            json_object_del(entry, field);
            if (json_object_size(entry) == 0) {
                json_object_del(agents, name);
            }
        }
        if (json_object_size(agents) == 0) {
            json_object_del(root, "agents");
        }
        *changed = true;
        return 0;
    }
    if (entry != NULL && !json_is_object(entry) && field != NULL) {
        return err_set(e, ERR_STATE,
                       "agents.%s in " CONFIG_FILE_NAME " is %s, not an object; set agents.%s to "
                       "an object or reset it first",
                       name, json_kind_name(entry), name);
    }
    if (entry == NULL && field != NULL && !builtin && strcmp(field, "command") != 0) {
        return err_set(e, ERR_INVALID,
                       "agents.%s: no such agent; define it first with `beat config set "
                       "agents.%s.command '[\"%s\", \"--\", \"{prompt}\"]'`",
                       name, name, name);
    }
    if (agents == NULL) {
        agents = json_object();
        json_object_set_new(root, "agents", agents);
    }
    if (field == NULL) {
        json_object_set(agents, name, ed->v);
    } else {
        if (entry == NULL) {
            entry = json_object();
            json_object_set_new(agents, name, entry);
        }
        json_object_set(entry, field, ed->v);
    }
    *changed = true;
    return 0;
}

/* Applies one edit to root; *changed tells whether root must be written. */
static int
config_edit_apply(json_t *root, const struct config_edit *ed, bool *changed, struct err *e)
{
    if (ed->agent) {
        return config_edit_agent(root, ed, changed, e);
    }
    const struct config_key *k = ed->k;
    if (ed->value == NULL) {
        if (json_object_get(root, ed->key) == NULL) {
            /* Nothing to remove; an unknown key that is not in the file is still a mistake. */
            return k != NULL ? 0 : config_unknown_key(ed->key, e);
        }
        json_object_del(root, ed->key);
        *changed = true;
        return 0;
    }
    const json_t *agents = json_object_get(root, "agents");
    agents = json_is_object(agents) ? agents : NULL;
    int64_t i = 0;
    const char *s = NULL;
    if (!config_value_parse(k, ed->value, agents, &i, &s)) {
        return config_bad_value(k, ed->value, agents, e);
    }
    json_object_set_new(root, k->name, config_val_json(k, i, s));
    *changed = true;
    return 0;
}

/* Applies several sets and resets to config.json in one atomic write. */
int
config_update(const char *home, const char *const *keys, const char *const *values, size_t n,
              struct err *e)
{
    char *path = NULL, *lock_path = NULL;
    json_t *root = NULL;
    bool changed = false;
    int rc = -1, lock_fd = -1;
    struct config_edit *eds = xcalloc(n ? n : 1, sizeof *eds);
    for (size_t i = 0; i < n; i++) {
        eds[i].key = keys[i];
        eds[i].value = values[i];
        if (config_edit_prepare(&eds[i], e) != 0) {
            goto out;
        }
    }
    if (home == NULL || *home == '\0') {
        err_set(e, ERR_INVALID, "no state directory to hold %s", CONFIG_FILE_NAME);
        goto out;
    }
    /* Read, change, write under one lock: two `beat config set` at once must not lose one.
     * (Before the state directory exists there is nothing to lose, and nothing is created
     * unless something is written.) */
    lock_path = xasprintf("%s/config.lock", home);
    if (access(home, F_OK) == 0) {
        lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lock_fd < 0 || flock(lock_fd, LOCK_EX) != 0) {
            err_sys(e, ERR_IO, "lock %s", lock_path);
            goto out;
        }
    }
    path = config_path(home);
    if ((root = config_read_for_edit(path, e)) == NULL) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (config_edit_apply(root, &eds[i], &changed, e) != 0) {
            goto out;
        }
    }
    rc = changed ? config_write(home, path, root, e) : 0;
out:
    if (lock_fd >= 0) {
        close(lock_fd); /* releases the lock */
    }
    free(lock_path);
    for (size_t i = 0; i < n; i++) {
        json_decref(eds[i].v);
    }
    free(eds);
    json_decref(root);
    free(path);
    return rc;
}

/* Validates and writes one key into config.json. */
int
config_set(const char *home, const char *key, const char *value, struct err *e)
{
    return config_update(home, &key, &value, 1, e);
}

/* Removes one key from config.json. */
int
config_reset(const char *home, const char *key, struct err *e)
{
    const char *none = NULL;
    return config_update(home, &key, &none, 1, e);
}

/* Validates one raw string value for key. */
int
config_check_value(const char *key, const char *value, struct err *e)
{
    if (strcmp(key, "agents") == 0 || str_has_prefix(key, "agents.")) {
        struct config_edit ed = { .key = key, .value = value };
        int rc = config_edit_prepare(&ed, e);
        json_decref(ed.v);
        return rc;
    }
    const struct config_key *k = config_key_get(key, e);
    if (k == NULL) {
        return -1;
    }
    int64_t i = 0;
    const char *s = NULL;
    if (!config_value_parse(k, value, NULL, &i, &s)) {
        return config_bad_value(k, value, NULL, e);
    }
    return 0;
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
            if (k->type == CONFIG_AGENT) {
                buf_adds(&b, ", or a user-defined agent");
            }
        }
        buf_printf(&b, " | `%s` | %s | %s |\n", k->env, k->live ? "live" : "restart",
                   k->description);
    }
    return buf_take(&b);
}
