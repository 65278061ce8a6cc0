/* The agent operations: ListAgents (every built-in and configured agent: installed or not,
 * version, authentication, default marker, settings) and ConfigureAgent (check, set or reset an
 * agent's settings). Versions come from `<program> --version`, run off the loop with a short
 * timeout while the call is pending, and cached per (path, mtime, size). Secrets never leave:
 * an API key is only ever shown masked, and only by ConfigureAgent check. */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agents/agent.h"
#include "core/config.h"
#include "core/engine.h"
#include "core/op.h"
#include "core/ops.h"
#include "runtime/rt.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define OPS_AGENT_PROBE_MS    3000 /* `--version` gets this long */
#define OPS_AGENT_PROBE_BYTES 4096 /* of its stdout and of its stderr */
#define OPS_AGENT_VERSION_MAX 200  /* bytes of the version line kept */
#define OPS_AGENT_CACHE_MAX   32

static const char *const ops_agent_actions[] = { "set", "check", "reset", NULL };

/* How to install each built-in (agent-clis.md). */
static const struct {
    const char *name;
    const char *install;
} ops_agent_installs[] = {
    { "claude", "npm install -g @anthropic-ai/claude-code" },
    { "codex", "npm install -g @openai/codex" },
    { "gemini", "npm install -g @google/gemini-cli" },
};

/* What `--version` said for one program file. The daemon runs one loop thread, so this cache
 * needs no lock; entries are replaced round-robin. */
struct ops_agent_version {
    char *path;
    int64_t mtime_ns;
    int64_t size;
    char *version; /* NULL when unknown */
    char *error;   /* why it is unknown */
};

static struct ops_agent_version ops_agent_cache[OPS_AGENT_CACHE_MAX];
static size_t ops_agent_cache_next;

/* One `--version` run for one entry of a pending call. */
struct ops_agent_probe {
    struct ops_agent_call *call;
    json_t *entry; /* borrowed from call->result */
    char *path;
    int64_t mtime_ns, size;
    struct rt_capture *cap; /* NULL once reported */
};

/* A ListAgents or ConfigureAgent check call waiting for its probes. */
struct ops_agent_call {
    struct op_ctx *ctx;
    json_t *result;
    struct ops_agent_probe *probes;
    size_t nprobes, pending;
};

/* ---- status ---- */

/* The install hint of a built-in, or NULL. */
static const char *
ops_agent_install(const char *name)
{
    for (size_t i = 0; i < sizeof ops_agent_installs / sizeof ops_agent_installs[0]; i++) {
        if (strcmp(ops_agent_installs[i].name, name) == 0) {
            return ops_agent_installs[i].install;
        }
    }
    return NULL;
}

/* True when env (an object) has a non-empty string for name. */
static bool
ops_agent_env_set(const json_t *env, const char *name)
{
    const char *v = name ? json_get_str(env, name) : NULL;
    return v != NULL && v[0] != '\0';
}

/* Describes one agent as it stands for a client with environment env. */
json_t *
ops_agent_status(const struct config *c, const char *name, const json_t *env)
{
    struct agent_conf ac;
    struct err e;
    /* Not config_agent_conf: an agent whose command is broken is still listed, with a hint. */
    if (!config_agent_known(config_agents(c), name) ||
        agent_conf_load(name, config_agent(c, name), &ac, &e) != 0) {
        return NULL;
    }
    const struct agent_driver *d = ac.driver;
    const char *def = config_str(c, "defaultAgent");
    json_t *o = json_object();
    json_set_str(o, "name", name);
    json_set_str(o, "provider", name); /* the existing tool's name for it */
    json_set_str(o, "description",
                 d                ? d->description
                 : ac.description ? ac.description
                                  : "User-defined agent");
    json_object_set_new(o, "builtin", json_boolean(d != NULL));
    json_object_set_new(o, "registered", json_true());
    json_object_set_new(o, "isDefault", json_boolean(def != NULL && strcmp(def, name) == 0));

    const char *program = agent_conf_program(&ac);
    char *path = program ? fs_find_exec(program, json_get_str(env, "PATH")) : NULL;
    json_set_str(o, "command", program);
    json_object_set_new(o, "installed", json_boolean(path != NULL));
    json_object_set_new(o, "cliFound", json_boolean(path != NULL));
    json_set_str(o, "path", path);

    /* Authentication, in the order the agent would find it (§7.4 of the old tool). */
    const char *key_env = d ? d->key_env : ac.api_key_env;
    const json_t *cfg_env = ac.cfg.env;
    const char *method;
    if (ops_agent_env_set(env, key_env)) {
        method = "env-var";
    } else if ((ac.cfg.api_key != NULL && key_env != NULL) || ops_agent_env_set(cfg_env, key_env)) {
        method = "config-file";
    } else if (path != NULL) {
        method = "cli-installed";
    } else {
        method = "none";
    }
    bool ready = path != NULL;
    json_set_str(o, "authStatus", ready ? "ready" : "not-configured");
    json_set_str(o, "authMethod", method);
    json_object_set_new(o, "ready", json_boolean(ready));
    if (strcmp(method, "env-var") == 0) {
        json_set_str(o, "envVar", key_env);
    }
    json_object_set_new(o, "hasStoredKey", json_boolean(ac.cfg.api_key != NULL));

    char *hint = NULL;
    if (program == NULL) {
        hint = xasprintf("agents.%s has no usable command: set agents.%s.command to an argv "
                         "template with {prompt}",
                         name, name);
    } else if (path == NULL && d != NULL) {
        hint = xasprintf("'%s' was not found on PATH: install it (%s), then log in (%s) or set "
                         "%s",
                         program, ops_agent_install(name), d->login_hint, d->key_env);
    } else if (path == NULL) {
        hint = xasprintf("'%.200s' was not found on PATH: install it, or fix "
                         "agents.%s.command[0]",
                         program, name);
    } else if (strcmp(method, "cli-installed") == 0 && d != NULL) {
        hint = xasprintf("Auth not verified. To confirm: %s, or export %s=<key>, or `beat config "
                         "set agents.%s.apiKey <key>`",
                         d->login_hint, d->key_env, name);
    } else if (strcmp(method, "cli-installed") == 0) {
        hint = xasprintf("Auth not verified: %s handles its own credentials (or set "
                         "agents.%s.apiKey and agents.%s.apiKeyEnv)",
                         name, name, name);
    }
    json_set_str(o, "hint", hint);
    free(hint);

    json_set_str(o, "model", ac.cfg.model);
    if (ac.cfg.base_url != NULL) {
        char *url = config_mask_url(ac.cfg.base_url);
        json_set_str(o, "baseUrl", url);
        free(url);
    }
    if (ac.cfg.system_prompt != NULL) {
        json_set_str(o, "systemPrompt", ac.cfg.system_prompt);
    }
    if (ac.extra_args_v != NULL) {
        json_object_set(o, "extraArgs", json_object_get(ac.obj, "extraArgs"));
    }
    if (ac.max_concurrent > 0) {
        json_set_int(o, "maxConcurrent", ac.max_concurrent);
    }
    json_set_str(o, "parser", agent_format_name(ac.cfg.format));
    if (d == NULL) {
        if (ac.command_v != NULL) {
            json_object_set(o, "commandTemplate", json_object_get(ac.obj, "command"));
        }
        json_set_str(o, "apiKeyEnv", ac.api_key_env);
        json_set_str(o, "baseUrlEnv", ac.base_url_env);
    }
    free(path);
    agent_conf_fini(&ac);
    return o;
}

/* ---- versions ---- */

/* The cached version of a program file, or NULL. */
static struct ops_agent_version *
ops_agent_cache_find(const char *path, int64_t mtime_ns, int64_t size)
{
    for (size_t i = 0; i < OPS_AGENT_CACHE_MAX; i++) {
        struct ops_agent_version *v = &ops_agent_cache[i];
        if (v->path != NULL && strcmp(v->path, path) == 0 && v->mtime_ns == mtime_ns &&
            v->size == size) {
            return v;
        }
    }
    return NULL;
}

/* Remembers what `--version` said for a program file. */
static void
ops_agent_cache_put(const char *path, int64_t mtime_ns, int64_t size, const char *version,
                    const char *error)
{
    struct ops_agent_version *v = NULL;
    for (size_t i = 0; i < OPS_AGENT_CACHE_MAX && v == NULL; i++) {
        if (ops_agent_cache[i].path != NULL && strcmp(ops_agent_cache[i].path, path) == 0) {
            v = &ops_agent_cache[i]; /* the file changed: replace its entry */
        }
    }
    if (v == NULL) {
        v = &ops_agent_cache[ops_agent_cache_next];
        ops_agent_cache_next = (ops_agent_cache_next + 1) % OPS_AGENT_CACHE_MAX;
    }
    free(v->path);
    free(v->version);
    free(v->error);
    v->path = xstrdup(path);
    v->mtime_ns = mtime_ns;
    v->size = size;
    v->version = version ? xstrdup(version) : NULL;
    v->error = error ? xstrdup(error) : NULL;
}

/* Sets entry's version (null when unknown) and versionError. */
static void
ops_agent_set_version(json_t *entry, const char *version, const char *error)
{
    json_object_set_new(entry, "version", version ? json_string(version) : json_null());
    json_set_str(entry, "versionError", error);
}

/* The first non-blank line of s, trimmed and bounded; NULL when there is none. Caller frees. */
static char *
ops_agent_first_line(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && s[end] != '\n') {
            end++;
        }
        size_t a = i, b = end;
        while (a < b && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r')) {
            a++;
        }
        while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r')) {
            b--;
        }
        if (b > a) {
            size_t n = b - a;
            if (n > OPS_AGENT_VERSION_MAX) {
                n = str_utf8_boundary(s + a, OPS_AGENT_VERSION_MAX);
            }
            char *line = str_utf8_sanitize(s + a, n);
            for (char *p = line; *p; p++) {
                if ((unsigned char)*p < 0x20 || *p == 0x7f) {
                    *p = ' ';
                }
            }
            return line;
        }
        i = end + 1;
    }
    return NULL;
}

static void ops_agent_call_free(struct ops_agent_call *call);

/* A probe ended: record its version, and complete the call after the last one. */
static void
ops_agent_probe_cb(void *arg, const struct rt_capture_result *res)
{
    struct ops_agent_probe *p = arg;
    struct ops_agent_call *call = p->call;
    char *version = NULL, *error = NULL;
    const char *prog = strrchr(p->path, '/') ? strrchr(p->path, '/') + 1 : p->path;

    p->cap = NULL;
    if (res->timed_out) {
        error = xasprintf("`%s --version` did not answer within %d ms", prog, OPS_AGENT_PROBE_MS);
    } else if (res->term_signal != 0) {
        error = xasprintf("`%s --version` was killed by signal %d", prog, res->term_signal);
    } else if (res->exit_status != 0) {
        error = xasprintf("`%s --version` exited with status %d", prog, res->exit_status);
    } else {
        version = ops_agent_first_line(res->out, res->out_len);
        if (version == NULL) {
            version = ops_agent_first_line(res->err, res->err_len);
        }
        if (version == NULL) {
            error = xasprintf("`%s --version` printed nothing", prog);
        }
    }
    ops_agent_cache_put(p->path, p->mtime_ns, p->size, version, error);
    ops_agent_set_version(p->entry, version, error);
    free(version);
    free(error);
    if (--call->pending == 0) {
        struct op_ctx *ctx = call->ctx;
        json_t *result = json_incref(call->result);
        ctx->cancel_cb = NULL;
        ops_agent_call_free(call);
        ctx->complete(ctx, result, NULL);
    }
}

/* Frees a call; probes still running are cancelled (their callbacks never run). */
static void
ops_agent_call_free(struct ops_agent_call *call)
{
    for (size_t i = 0; i < call->nprobes; i++) {
        rt_capture_cancel(call->probes[i].cap);
        free(call->probes[i].path);
    }
    free(call->probes);
    json_decref(call->result);
    free(call);
}

/* The client went away or cancelled: stop the probes. */
static void
ops_agent_cancel_cb(struct op_ctx *ctx)
{
    ops_agent_call_free(ctx->handler_data);
}

/* The client's environment as "K=V" strings for a probe; owned. */
static char **
ops_agent_envp(const json_t *env)
{
    const char *k;
    json_t *v;
    char **envp = xcalloc(json_object_size(env) + 1, sizeof *envp);
    size_t n = 0;
    json_object_foreach((json_t *)env, k, v)
    {
        if (n < AGENT_ENV_MAX && json_is_string(v) &&
            strlen(json_string_value(v)) == json_string_length(v) && strchr(k, '=') == NULL) {
            envp[n++] = xasprintf("%s=%s", k, json_string_value(v));
        }
    }
    return envp;
}

/* Fills the version of every entry that has a path: from the cache, or by running `--version`.
 * Takes result. Returns OP_DONE with *out set, or OP_PENDING when probes run. */
static int
ops_agent_versions(struct op_ctx *ctx, json_t *result, json_t *const *entries, size_t n,
                   json_t **out)
{
    struct ops_agent_call *call = xcalloc(1, sizeof *call);
    char **envp = ops_agent_envp(ctx->client_env);
    call->ctx = ctx;
    call->result = result;
    call->probes = xcalloc(n ? n : 1, sizeof *call->probes);
    for (size_t i = 0; i < n; i++) {
        const char *path = json_get_str(entries[i], "path");
        struct stat st;
        if (path == NULL) {
            ops_agent_set_version(entries[i], NULL, NULL);
            continue;
        }
        if (stat(path, &st) != 0) {
            ops_agent_set_version(entries[i], NULL, "the program file cannot be read");
            continue;
        }
        int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        const struct ops_agent_version *cached = ops_agent_cache_find(path, mtime, st.st_size);
        if (cached != NULL) {
            ops_agent_set_version(entries[i], cached->version, cached->error);
            continue;
        }
        struct ops_agent_probe *p = &call->probes[call->nprobes];
        char *argv[] = { (char *)path, "--version", NULL };
        struct err e;
        p->cap = rt_run_capture(engine_rt(ctx->engine), argv, envp, OPS_AGENT_PROBE_MS,
                                OPS_AGENT_PROBE_BYTES, ops_agent_probe_cb, p, &e);
        if (p->cap == NULL) {
            ops_agent_set_version(entries[i], NULL, e.msg);
            continue;
        }
        p->call = call;
        p->entry = entries[i];
        p->path = xstrdup(path);
        p->mtime_ns = mtime;
        p->size = st.st_size;
        call->nprobes++;
        call->pending++;
    }
    strv_free(envp);
    if (call->pending == 0) {
        *out = json_incref(result);
        ops_agent_call_free(call);
        return OP_DONE;
    }
    ctx->handler_data = call;
    ctx->cancel_cb = ops_agent_cancel_cb;
    return OP_PENDING;
}

/* ---- ListAgents ---- */

static int
ops_list_agents(struct op_ctx *ctx, const json_t *args, json_t **result, struct err *e)
{
    (void)args, (void)e;
    struct config *cfg = engine_client_config(ctx->engine, ctx->client_env);
    char **names = config_agent_names(cfg);
    json_t *arr = json_array();
    size_t n = 0;
    for (char **p = names; *p; p++) {
        json_t *o = ops_agent_status(cfg, *p, ctx->client_env);
        if (o != NULL) {
            json_array_append_new(arr, o);
            n++;
        }
    }
    json_t **entries = xcalloc(n + 1, sizeof *entries);
    for (size_t i = 0; i < n; i++) {
        entries[i] = json_array_get(arr, i);
    }
    json_t *problems = json_array();
    for (const char *const *p = config_problems(cfg); *p; p++) {
        if (strstr(*p, "agents") != NULL) {
            json_array_append_new(problems, json_string_bytes(*p, strlen(*p)));
        }
    }
    const char *def = config_str(cfg, "defaultAgent");
    json_t *r = json_pack("{s:b, s:o, s:o, s:o}", "success", 1, "agents", arr, "defaultAgent",
                          def ? json_string(def) : json_null(), "problems", problems);
    int rc = ops_agent_versions(ctx, r, entries, n, result);
    free(entries);
    strv_free(names);
    config_free(cfg);
    return rc;
}

/* ---- ConfigureAgent ---- */

/* The fields ConfigureAgent set writes, in the order reported. */
static const char *const ops_agent_set_fields[] = { "apiKey",       "model",         "baseUrl",
                                                    "systemPrompt", "maxConcurrent", NULL };

/* Cross-field rules: set needs a field, check and reset take none. */
static int
ops_configure_check(const json_t *args, struct err *e)
{
    const char *action = json_get_str(args, "action");
    bool set = action != NULL && strcmp(action, "set") == 0;
    bool any = false;
    for (const char *const *f = ops_agent_set_fields; *f; f++) {
        if (json_object_get(args, *f) != NULL) {
            if (!set) {
                return err_set(e, ERR_INVALID, "%s: only with action set (action is %s)", *f,
                               action ? action : "check");
            }
            any = true;
        }
    }
    if (set && !any) {
        return err_set(e, ERR_INVALID,
                       "apiKey: action set needs at least one of apiKey, model, baseUrl, "
                       "systemPrompt, maxConcurrent");
    }
    return 0;
}

/* Writes the given fields to agents.<agent> in one atomic edit. */
static int
ops_configure_set(struct op_ctx *ctx, const char *agent, const json_t *args, json_t **result,
                  struct err *e)
{
    const char *keys[6], *values[6];
    char *owned[6] = { NULL };
    char num[32]; /* maxConcurrent, the only integer, goes to config as text */
    size_t n = 0;
    struct buf msg;
    int rc = -1;

    buf_init(&msg);
    for (const char *const *f = ops_agent_set_fields; *f; f++) {
        const json_t *v = json_object_get(args, *f);
        if (v == NULL) {
            continue;
        }
        owned[n] = xasprintf("agents.%s.%s", agent, *f);
        keys[n] = owned[n];
        if (json_is_integer(v)) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
            values[n] = num;
        } else {
            values[n] = json_string_value(v);
        }
        n++;
    }
    if (config_update(engine_home(ctx->engine), keys, values, n, e) != 0) {
        goto out;
    }
    engine_reload_config(ctx->engine);
    json_t *updated = json_array();
    const char *key = json_get_str(args, "apiKey");
    char *masked = key ? config_mask_secret(key) : NULL;
    if (n == 1 && key != NULL) {
        buf_printf(&msg, "API key stored for %s (%s)", agent, masked);
    } else {
        buf_printf(&msg, "Updated %s:", agent);
    }
    for (const char *const *f = ops_agent_set_fields; *f; f++) {
        const json_t *v = json_object_get(args, *f);
        if (v == NULL) {
            continue;
        }
        json_array_append_new(updated, json_string(*f));
        if (n == 1 && key != NULL) {
            continue;
        }
        if (strcmp(*f, "apiKey") == 0) {
            buf_printf(&msg, " apiKey (%s)", masked);
        } else if (strcmp(*f, "systemPrompt") == 0) {
            buf_printf(&msg, " systemPrompt (%zu bytes)", json_string_length(v));
        } else if (strcmp(*f, "baseUrl") == 0) {
            char *url = config_mask_url(json_string_value(v));
            buf_printf(&msg, " baseUrl=%s", url);
            free(url);
        } else if (json_is_integer(v)) {
            buf_printf(&msg, " %s=%lld", *f, (long long)json_integer_value(v));
        } else {
            buf_printf(&msg, " %s=%s", *f, json_string_value(v));
        }
    }
    free(masked);
    log_info("agents: ConfigureAgent set %zu field%s of %s", n, n == 1 ? "" : "s", agent);
    *result = json_pack("{s:b, s:s, s:s, s:o}", "success", 1, "message", msg.data, "agent", agent,
                        "updated", updated);
    rc = OP_DONE;
out:
    for (size_t i = 0; i < 6; i++) {
        free(owned[i]);
    }
    buf_fini(&msg);
    return rc;
}

/* Clears what ConfigureAgent set can set; a built-in's whole entry goes (as in the old tool),
 * a user-defined agent keeps its definition (command, env, parser...). */
static int
ops_configure_reset(struct op_ctx *ctx, const struct config *cfg, const char *agent,
                    json_t **result, struct err *e)
{
    const char *keys[5], *values[5] = { NULL };
    char *owned[5] = { NULL };
    size_t n = 0;
    char *msg;
    if (!config_agent_is_user(cfg, agent)) {
        owned[n] = xasprintf("agents.%s", agent);
        keys[n] = owned[n];
        n++;
        msg = xasprintf("Stored config cleared for %s", agent);
    } else {
        for (const char *const *f = ops_agent_set_fields; *f && n < 5; f++) {
            owned[n] = xasprintf("agents.%s.%s", agent, *f);
            keys[n] = owned[n];
            n++;
        }
        msg = xasprintf("Stored config cleared for %s (apiKey, model, baseUrl, systemPrompt, "
                        "maxConcurrent; its command and the rest of its definition are kept)",
                        agent);
    }
    int rc = config_update(engine_home(ctx->engine), keys, values, n, e);
    if (rc == 0) {
        engine_reload_config(ctx->engine);
        log_info("agents: ConfigureAgent reset %s", agent);
        *result = json_pack("{s:b, s:s, s:s}", "success", 1, "message", msg, "agent", agent);
        rc = OP_DONE;
    }
    for (size_t i = 0; i < n; i++) {
        free(owned[i]);
    }
    free(msg);
    return rc;
}

static int
ops_configure_agent(struct op_ctx *ctx, const json_t *args, json_t **result, struct err *e)
{
    const char *agent = json_get_str(args, "agent");
    const char *action = json_get_str(args, "action");
    struct config *cfg = engine_client_config(ctx->engine, ctx->client_env);
    int rc = -1;

    action = action ? action : "check";
    if (!config_agent_known(config_agents(cfg), agent)) {
        char *known = config_agent_list(cfg);
        err_set(e, ERR_INVALID,
                "agent: unknown agent \"%s\"; known agents: %s (a user-defined agent is defined "
                "with `beat config set agents.%s.command '[\"program\", \"{prompt}\"]'`)",
                agent, known, agent);
        free(known);
        goto out;
    }
    if (strcmp(action, "set") == 0) {
        rc = ops_configure_set(ctx, agent, args, result, e);
    } else if (strcmp(action, "reset") == 0) {
        rc = ops_configure_reset(ctx, cfg, agent, result, e);
    } else {
        json_t *o = ops_agent_status(cfg, agent, ctx->client_env);
        if (o == NULL) {
            err_set(e, ERR_INTERNAL, "agent: cannot read the settings of %s", agent);
            goto out;
        }
        json_object_set_new(o, "success", json_true());
        json_set_str(o, "agent", agent);
        json_set_str(o, "method", json_get_str(o, "authMethod"));
        const char *key = json_get_str(config_agent(cfg, agent), "apiKey");
        if (key != NULL) {
            char *masked = config_mask_secret(key);
            json_set_str(o, "storedKey", masked);
            free(masked);
        }
        rc = ops_agent_versions(ctx, o, &o, 1, result);
    }
out:
    config_free(cfg);
    return rc;
}

/* ---- the table entries ---- */

static const struct op_arg list_agents_args[] = {
    { .name = "json",
      .cli = "json",
      .type = ARG_BOOLEAN,
      .flags = ARG_CLI_ONLY,
      .help = "Print the result as JSON." },
    { 0 },
};

static const struct op_arg configure_agent_args[] = {
    { .name = "agent",
      .type = ARG_STRING,
      .flags = ARG_REQUIRED,
      .min = 1,
      .max = AGENT_CONF_NAME_MAX,
      .format = config_agent_name_format,
      .pattern = CONFIG_AGENT_NAME_PATTERN,
      .help = "The agent: claude, codex, gemini or one defined in config.json under agents." },
    { .name = "action",
      .type = ARG_ENUM,
      .choices = ops_agent_actions,
      .help = "check (default): installed, version, authentication; set: store the given "
              "fields; reset: clear what set stores." },
    { .name = "apiKey",
      .type = ARG_STRING,
      .flags = ARG_NONEMPTY,
      .min = 1,
      .max = 4096,
      .help = "set: API key stored in config.json (mode 0600), given to the agent when the "
              "client's environment has none; never shown unmasked." },
    { .name = "model",
      .type = ARG_STRING,
      .min = 1,
      .max = 200,
      .help = "set: model used when a task names none (letters, digits and . _ : / - @ [ ], "
              "not starting with -)." },
    { .name = "baseUrl",
      .type = ARG_STRING,
      .min = 1,
      .max = 2048,
      .help = "set: API endpoint (http:// or https://), passed the way the agent CLI expects "
              "it." },
    { .name = "systemPrompt",
      .type = ARG_STRING,
      .min = 1,
      .max = 16000,
      .help = "set: system instructions added to tasks of this agent that set none." },
    { .name = "maxConcurrent",
      .type = ARG_INTEGER,
      .min = 1,
      .max = AGENT_CONF_MAX_CONCURRENT_MAX,
      .help = "set: most tasks of this agent running at once." },
    { 0 },
};

#define AGENT_PROPS                                                                             \
    "\"name\":{\"type\":\"string\"},\"provider\":{\"type\":\"string\"},\"description\":"        \
    "{\"type\":\"string\"},\"builtin\":{\"type\":\"boolean\"},\"registered\":{\"type\":"        \
    "\"boolean\"},\"isDefault\":{\"type\":\"boolean\"},\"installed\":{\"type\":\"boolean\"},"   \
    "\"cliFound\":{\"type\":\"boolean\"},\"command\":{\"type\":\"string\"},\"path\":{\"type\":" \
    "\"string\"},\"version\":{\"type\":[\"string\",\"null\"]},\"versionError\":{\"type\":"      \
    "\"string\"},\"authStatus\":{\"type\":\"string\",\"enum\":[\"ready\",\"not-configured\"]}," \
    "\"authMethod\":{\"type\":\"string\",\"enum\":[\"env-var\",\"config-file\","                \
    "\"cli-installed\",\"none\"]},\"ready\":{\"type\":\"boolean\"},\"envVar\":{\"type\":"       \
    "\"string\"},\"hasStoredKey\":{\"type\":\"boolean\"},\"hint\":{\"type\":\"string\"},"       \
    "\"model\":{\"type\":\"string\"},\"baseUrl\":{\"type\":\"string\"},\"systemPrompt\":"       \
    "{\"type\":\"string\"},\"extraArgs\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}," \
    "\"maxConcurrent\":{\"type\":\"integer\"},\"parser\":{\"type\":\"string\"},"                \
    "\"commandTemplate\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},\"apiKeyEnv\":"   \
    "{\"type\":\"string\"},\"baseUrlEnv\":{\"type\":\"string\"}"

const struct op op_list_agents = {
    .name = "ListAgents",
    .cli = "agents list",
    .title = "List agents",
    .summary = "List the agent CLIs: installed, version, authentication, default.",
    .description =
        "Every built-in agent (claude, codex, gemini) and every user-defined agent of "
        "config.json: whether its program is on your PATH (and where), its version, how it "
        "authenticates (env-var, config-file, cli-installed or none, with a hint), whether it is "
        "the default agent, and its configured model, baseUrl and maxConcurrent. API keys are "
        "never shown.",
    .args = list_agents_args,
    .output_schema = "{\"type\":\"object\",\"properties\":{\"success\":{\"type\":\"boolean\"},"
                     "\"agents\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
                     "\"properties\":{" AGENT_PROPS "},\"required\":[\"name\",\"provider\","
                     "\"installed\",\"authStatus\",\"authMethod\",\"isDefault\"]}},"
                     "\"defaultAgent\":{\"type\":[\"string\",\"null\"]},\"problems\":{\"type\":"
                     "\"array\",\"items\":{\"type\":\"string\"}}},\"required\":[\"success\","
                     "\"agents\",\"defaultAgent\"]}",
    .flags = OP_READONLY | OP_IDEMPOTENT,
    .run = ops_list_agents,
};

const struct op op_configure_agent = {
    .name = "ConfigureAgent",
    .cli = NULL,
    .title = "Configure an agent",
    .summary = "Check an agent, or set or reset its API key, model, base URL, system prompt.",
    .description =
        "check (default): whether the agent is installed, its version and how it "
        "authenticates (a stored key is shown masked). set: stores apiKey, model, baseUrl, "
        "systemPrompt and/or maxConcurrent in config.json (validated, written atomically, "
        "applied from the next task). reset: clears them (a built-in's whole entry; a "
        "user-defined agent keeps its command).",
    .args = configure_agent_args,
    .output_schema =
        "{\"type\":\"object\",\"properties\":{\"success\":{\"type\":\"boolean\"},"
        "\"message\":{\"type\":\"string\"},\"agent\":{\"type\":\"string\"},"
        "\"updated\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
        "\"method\":{\"type\":\"string\"},\"storedKey\":{\"type\":\"string\"}," AGENT_PROPS
        "},\"required\":[\"success\"]}",
    .flags = OP_DESTRUCTIVE | OP_IDEMPOTENT | OP_NO_CLI,
    .run = ops_configure_agent,
    .check = ops_configure_check,
};
