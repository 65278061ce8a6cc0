/* OpenAI Codex CLI: `codex exec --json --skip-git-repo-check ... -- <prompt>` (resume:
 * `codex exec ... resume -- <thread> <prompt>`) and its JSONL events (thread.started,
 * item.*, turn.completed, turn.failed, error). codex reads no base-URL variable, so a base URL
 * becomes a custom model provider given as -c overrides (values written as TOML strings). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agent-int.h"
#include "agents/agent.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/str.h"
#include "util/xmalloc.h"

/* The provider id our -c overrides define ("openai" is reserved by codex). */
#define AGENT_CODEX_PROVIDER "backbeat"

/* key="value" with value as a TOML basic string, so codex never reads it as another type. */
static char *
agent_codex_toml(const char *key, const char *value)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "%s=\"", key);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        switch (*p) {
        case '"':
            buf_adds(&b, "\\\"");
            break;
        case '\\':
            buf_adds(&b, "\\\\");
            break;
        case '\n':
            buf_adds(&b, "\\n");
            break;
        case '\t':
            buf_adds(&b, "\\t");
            break;
        case '\r':
            buf_adds(&b, "\\r");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                buf_printf(&b, "\\u%04x", *p);
            } else {
                buf_addc(&b, (char)*p);
            }
        }
    }
    buf_addc(&b, '"');
    return buf_take(&b);
}

/* Appends "-c key=<TOML string>". */
static int
agent_codex_config(struct agent_cmd_builder *b, const char *field, const char *key,
                   const char *value, struct err *e)
{
    char *kv = agent_codex_toml(key, value);
    int rc = 0;
    if (agent_cmd_arg(b, "", "-c", e) != 0 || agent_cmd_arg(b, field, kv, e) != 0) {
        rc = -1;
    }
    free(kv);
    return rc;
}

/* Builds the codex command line and environment. */
static int
agent_codex_build(const struct agent_driver *d, const struct agent_run_spec *spec,
                  struct agent_cmd *out, struct err *e)
{
    static const char *const fixed[] = { "exec", "--json", "--skip-git-repo-check", NULL };
    static const char *const provider[][2] = {
        { "model_provider", AGENT_CODEX_PROVIDER },
        { "model_providers." AGENT_CODEX_PROVIDER ".name", AGENT_CODEX_PROVIDER },
        { "model_providers." AGENT_CODEX_PROVIDER ".base_url", NULL }, /* the URL */
        { "model_providers." AGENT_CODEX_PROVIDER ".env_key", "OPENAI_API_KEY" },
        { "model_providers." AGENT_CODEX_PROVIDER ".wire_api", "responses" },
    };
    struct agent_cmd_builder b;
    struct agent_opts o;
    int rc = -1;

    agent_cmd_begin(&b);
    agent_opts_resolve(spec, &o);
    if (agent_check_spec(spec, e) != 0) {
        goto out;
    }
    if (agent_cmd_arg(&b, "command", d->command, e) != 0 ||
        agent_cmd_args(&b, "", (char *const *)fixed, e) != 0 ||
        agent_cmd_opt(&b, "--model", "model", o.model, e) != 0) {
        goto out;
    }
    if (o.system_prompt != NULL && agent_codex_config(&b, "system_prompt", "developer_instructions",
                                                      o.system_prompt, e) != 0) {
        goto out;
    }
    for (size_t i = 0; o.base_url != NULL && i < sizeof(provider) / sizeof(provider[0]); i++) {
        const char *v = provider[i][1] ? provider[i][1] : o.base_url;
        if (agent_codex_config(&b, "base_url", provider[i][0], v, e) != 0) {
            goto out;
        }
    }
    if (agent_cmd_args(&b, "extra_args", o.extra_args, e) != 0) {
        goto out;
    }
    /* Every option goes before "resume": exec's own options (--sandbox ...) are refused after
     * it, while before it they apply to the resumed session too. */
    if (o.session != NULL && agent_cmd_arg(&b, "", "resume", e) != 0) {
        goto out;
    }
    if (agent_cmd_arg(&b, "", "--", e) != 0) {
        goto out;
    }
    if (o.session != NULL && agent_cmd_arg(&b, "resume_session", o.session, e) != 0) {
        goto out;
    }
    if (agent_cmd_arg(&b, "prompt", spec->prompt, e) != 0) {
        goto out;
    }
    if (agent_env_begin(&b, spec, NULL, e) != 0) {
        goto out;
    }
    agent_env_api_key(&b, spec, d->key_env);
    if (agent_env_finish(&b, spec, e) != 0 || agent_cmd_end(&b, out, e) != 0) {
        goto out;
    }
    rc = 0;
out:
    agent_cmd_abort(&b);
    return rc;
}

const struct agent_driver agent_codex_driver = {
    .name = "codex",
    .command = "codex",
    .description = "Codex CLI (OpenAI)",
    .format = AGENT_FORMAT_CODEX,
    .supports_resume = true,
    .key_env = "OPENAI_API_KEY",
    .login_hint = "codex login",
    .build = agent_codex_build,
};

/* The command codex runs, without its "/bin/bash -lc '...'" wrapper. */
static void
agent_codex_command(struct agent_report *r, const char *cmd)
{
    const char *p = strstr(cmd, "sh -lc ");
    size_t skip = 7;
    char *inner = NULL;

    if (p == NULL) {
        p = strstr(cmd, "sh -c ");
        skip = 6;
    }
    if (p != NULL && strchr(cmd, ' ') >= p) { /* the shell is the first word */
        p += skip;
        size_t n = strlen(p);
        if (n >= 2 && p[0] == '\'' && p[n - 1] == '\'') {
            inner = xstrndup(p + 1, n - 2);
            p = inner;
        }
        cmd = p;
    }
    agent_report_set_tool(r, "Shell", cmd);
    free(inner);
}

/* An item event: messages are the answer, commands and tool calls are progress. */
static void
agent_codex_item(const json_t *ev, bool completed, struct agent_report *r)
{
    const json_t *item = json_object_get(ev, "item");
    const char *type = json_get_str(item, "type");
    const char *s;
    size_t n;

    if (type == NULL) {
        return;
    }
    if (strcmp(type, "agent_message") == 0) {
        if (completed && (s = agent_json_str(item, "text", &n)) != NULL) {
            agent_report_set_result(r, s, n);
            agent_report_set_last_line(r, s, n);
        }
    } else if (strcmp(type, "command_execution") == 0) {
        if (!completed && (s = json_get_str(item, "command")) != NULL) {
            agent_codex_command(r, s);
        }
    } else if (strcmp(type, "mcp_tool_call") == 0) {
        if (!completed) {
            const char *server = json_get_str(item, "server");
            const char *tool = json_get_str(item, "tool");
            char *what = xasprintf("%s.%s", server ? server : "?", tool ? tool : "?");
            agent_report_set_tool(r, "MCP", what);
            free(what);
        }
    } else if (strcmp(type, "file_change") == 0) {
        const json_t *first = json_array_get(json_object_get(item, "changes"), 0);
        agent_report_set_tool(r, "Edit", json_get_str(first, "path"));
    } else if (strcmp(type, "web_search") == 0) {
        agent_report_set_tool(r, "Search", json_get_str(item, "query"));
    }
}

/* Parses one codex exec --json event. */
void
agent_codex_parse(const json_t *ev, struct agent_report *r)
{
    const char *type = json_get_str(ev, "type");
    const json_t *usage;
    const char *s;
    size_t n;

    if (type == NULL) {
        return;
    }
    if (strcmp(type, "thread.started") == 0) {
        if ((s = agent_json_str(ev, "thread_id", &n)) != NULL) {
            agent_report_set_session(r, s, n);
        }
    } else if (strcmp(type, "item.started") == 0 || strcmp(type, "item.updated") == 0) {
        agent_codex_item(ev, false, r);
    } else if (strcmp(type, "item.completed") == 0) {
        agent_codex_item(ev, true, r);
    } else if (strcmp(type, "turn.completed") == 0) {
        /* Each turn reports its own usage; a process may run several turns. */
        usage = json_object_get(ev, "usage");
        if (json_is_integer(json_object_get(usage, "input_tokens"))) {
            r->input_tokens = (r->input_tokens < 0 ? 0 : r->input_tokens) +
                              json_get_int(usage, "input_tokens", 0);
        }
        if (json_is_integer(json_object_get(usage, "output_tokens"))) {
            r->output_tokens = (r->output_tokens < 0 ? 0 : r->output_tokens) +
                               json_get_int(usage, "output_tokens", 0);
        }
        r->saw_result = true;
        r->is_error = false;
        agent_report_clear_error(r);
    } else if (strcmp(type, "turn.failed") == 0) {
        r->saw_result = true;
        r->is_error = true;
        s = agent_json_str(json_object_get(ev, "error"), "message", &n);
        agent_report_set_error(r, 0, s ? s : "turn failed", s ? n : 11);
    } else if (strcmp(type, "error") == 0) {
        /* Retries ("Reconnecting... 2/5 (...)") and the final error both come this way. */
        if ((s = agent_json_str(ev, "message", &n)) != NULL) {
            agent_report_set_error(r, 0, s, n);
            agent_report_set_last_line(r, r->api_error, strlen(r->api_error));
        }
    }
}
