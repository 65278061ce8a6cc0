/* Claude Code: `claude -p --output-format stream-json --verbose ... -- <prompt>` and its stream
 * (system/init, assistant, user, rate_limit_event, result; session_id on every line). The nested
 * claude must not believe it runs inside Claude Code, so the client's CLAUDECODE and
 * CLAUDE_CODE_* markers are dropped; a few CLAUDE_CODE_* user settings are kept. */
#include <stdlib.h>
#include <string.h>

#include "agents/agent-int.h"
#include "agents/agent.h"
#include "util/json.h"
#include "util/str.h"
#include "util/xmalloc.h"

/* CLAUDE_CODE_* variables that are the user's settings rather than markers of a running
 * session; the config env can still set any other one explicitly. */
static const char *const agent_claude_keep[] = {
    "CLAUDE_CODE_MAX_RETRIES",       "CLAUDE_CODE_OAUTH_TOKEN",
    "CLAUDE_CODE_USE_BEDROCK",       "CLAUDE_CODE_USE_VERTEX",
    "CLAUDE_CODE_USE_FOUNDRY",       "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
    "CLAUDE_CODE_MAX_OUTPUT_TOKENS",
};

/* True for the client variables a nested claude must not see. */
static bool
agent_claude_strip(const char *name)
{
    if (strcmp(name, "CLAUDECODE") == 0) {
        return true;
    }
    if (!str_has_prefix(name, "CLAUDE_CODE_")) {
        return false;
    }
    for (size_t i = 0; i < sizeof(agent_claude_keep) / sizeof(agent_claude_keep[0]); i++) {
        if (strcmp(name, agent_claude_keep[i]) == 0) {
            return false;
        }
    }
    return true;
}

/* Builds the claude command line and environment. */
static int
agent_claude_build(const struct agent_driver *d, const struct agent_run_spec *spec,
                   struct agent_cmd *out, struct err *e)
{
    static const char *const fixed[] = { "-p", "--output-format", "stream-json", "--verbose",
                                         NULL };
    struct agent_cmd_builder b;
    struct agent_opts o;
    int rc = -1;

    agent_cmd_begin(&b);
    agent_opts_resolve(spec, &o);
    if (agent_check_spec(spec, e) != 0) {
        goto out;
    }
    /* commander takes the element after an option as its value even when it starts with '-'. */
    if (agent_cmd_arg(&b, "command", d->command, e) != 0 ||
        agent_cmd_args(&b, "", (char *const *)fixed, e) != 0 ||
        agent_cmd_opt(&b, "--model", "model", o.model, e) != 0 ||
        agent_cmd_opt(&b, "--append-system-prompt", "system_prompt", o.system_prompt, e) != 0 ||
        agent_cmd_opt(&b, "--resume", "resume_session", o.session, e) != 0) {
        goto out;
    }
    if (agent_cmd_args(&b, "extra_args", o.extra_args, e) != 0) {
        goto out;
    }
    /* "--" ends the options: a prompt starting with '-' stays the prompt, and a variadic
     * option in extra_args (--allowedTools A B) cannot swallow it. */
    if (agent_cmd_arg(&b, "", "--", e) != 0 || agent_cmd_arg(&b, "prompt", spec->prompt, e) != 0) {
        goto out;
    }
    if (agent_env_begin(&b, spec, agent_claude_strip, e) != 0) {
        goto out;
    }
    agent_env_api_key(&b, spec, d->key_env);
    if (o.base_url != NULL) {
        agent_cmd_setenv(&b, "ANTHROPIC_BASE_URL", o.base_url);
    }
    if (agent_env_finish(&b, spec, e) != 0 || agent_cmd_end(&b, out, e) != 0) {
        goto out;
    }
    rc = 0;
out:
    agent_cmd_abort(&b);
    return rc;
}

const struct agent_driver agent_claude_driver = {
    .name = "claude",
    .command = "claude",
    .description = "Claude Code (Anthropic)",
    .format = AGENT_FORMAT_CLAUDE,
    .supports_resume = true,
    .key_env = "ANTHROPIC_API_KEY",
    .login_hint = "claude login",
    .build = agent_claude_build,
};

/* An assistant message: text and tool uses are progress; an API error message is an error. */
static void
agent_claude_assistant(const json_t *ev, struct agent_report *r)
{
    const json_t *content = json_object_get(json_object_get(ev, "message"), "content");
    const char *text = NULL, *s;
    size_t text_len = 0, n, i;
    json_t *block;

    json_array_foreach(content, i, block)
    {
        const char *type = json_get_str(block, "type");
        if (type == NULL) {
            continue;
        }
        if (strcmp(type, "text") == 0 && (s = agent_json_str(block, "text", &n)) != NULL) {
            agent_report_set_last_line(r, s, n);
            text = s;
            text_len = n;
        } else if (strcmp(type, "tool_use") == 0 && (s = json_get_str(block, "name")) != NULL) {
            agent_report_set_tool(r, s, agent_report_tool_arg(json_object_get(block, "input")));
        }
    }
    if (json_is_integer(json_object_get(ev, "api_error_status")) ||
        json_get_bool(ev, "is_api_error_message", false)) {
        agent_report_set_error(r, (int)json_get_int(ev, "api_error_status", 0),
                               text ? text : "API error", text ? text_len : 9);
    }
}

/* A system event: retries of failed API calls and denied tools are worth showing. */
static void
agent_claude_system(const json_t *ev, struct agent_report *r)
{
    const char *sub = json_get_str(ev, "subtype");
    char *msg;

    if (sub == NULL) {
        return;
    }
    if (strcmp(sub, "api_retry") == 0) {
        const char *what = json_get_str(ev, "error");
        msg = xasprintf("%s, retry %lld of %lld", what ? what : "error",
                        (long long)json_get_int(ev, "attempt", 0),
                        (long long)json_get_int(ev, "max_retries", 0));
        agent_report_set_error(r, (int)json_get_int(ev, "error_status", 0), msg, strlen(msg));
        agent_report_set_last_line(r, r->api_error, strlen(r->api_error));
        free(msg);
    } else if (strcmp(sub, "permission_denied") == 0) {
        agent_report_set_tool(r, "Permission denied", json_get_str(ev, "tool_name"));
    }
}

/* A rate_limit_event: "rejected" means a usage limit stopped the run until resetsAt. */
static void
agent_claude_rate_limit(const json_t *ev, struct agent_report *r)
{
    const json_t *info = json_object_get(ev, "rate_limit_info");
    const char *status = json_get_str(info, "status");
    const char *kind = json_get_str(info, "rateLimitType");
    json_t *resets = json_object_get(info, "resetsAt");
    char *msg;

    if (status == NULL || strcmp(status, "rejected") != 0) {
        return;
    }
    msg = xasprintf("usage limit reached (%s)", kind ? kind : "unknown");
    agent_report_set_error(r, 429, msg, strlen(msg));
    free(msg);
    if (json_is_number(resets) && json_number_value(resets) > 0 &&
        json_number_value(resets) < 1e11) {
        r->limit_resets_at_ms = (int64_t)(json_number_value(resets) * 1000);
    }
}

/* The result event ends a turn: final text, usage, cost and whether it failed. */
static void
agent_claude_result(const json_t *ev, struct agent_report *r)
{
    const char *sub = json_get_str(ev, "subtype");
    const json_t *usage = json_object_get(ev, "usage");
    json_t *cost = json_object_get(ev, "total_cost_usd");
    const char *s;
    size_t n = 0;

    r->saw_result = true;
    r->is_error = json_get_bool(ev, "is_error", false) || (sub && str_has_prefix(sub, "error"));
    if ((s = agent_json_str(ev, "result", &n)) != NULL) {
        agent_report_set_result(r, s, n);
    }
    if (json_is_integer(json_object_get(usage, "input_tokens"))) {
        r->input_tokens = json_get_int(usage, "input_tokens", -1);
    }
    if (json_is_integer(json_object_get(usage, "output_tokens"))) {
        r->output_tokens = json_get_int(usage, "output_tokens", -1);
    }
    if (json_is_number(cost)) {
        r->cost_usd = json_number_value(cost);
    }
    if (!r->is_error) {
        agent_report_clear_error(r);
        return;
    }
    if (json_is_integer(json_object_get(ev, "api_error_status")) ||
        json_get_str(ev, "api_error") != NULL) {
        agent_report_set_error(r, (int)json_get_int(ev, "api_error_status", 0), s ? s : "API error",
                               s ? n : 9);
    } else if (sub != NULL && str_has_prefix(sub, "error")) {
        json_t *errors = json_object_get(ev, "errors");
        const char *first = json_string_value(json_array_get(errors, 0));
        char *msg = xasprintf("%s%s%s", sub, first ? ": " : "", first ? first : "");
        agent_report_set_error(r, 0, msg, strlen(msg));
        free(msg);
    }
}

/* Parses one claude stream-json event. */
void
agent_claude_parse(const json_t *ev, struct agent_report *r)
{
    const char *type = json_get_str(ev, "type");
    const char *s;
    size_t n;

    if ((s = agent_json_str(ev, "session_id", &n)) != NULL) {
        agent_report_set_session(r, s, n);
    }
    if (type == NULL) {
        return;
    }
    if (strcmp(type, "assistant") == 0) {
        agent_claude_assistant(ev, r);
    } else if (strcmp(type, "system") == 0) {
        agent_claude_system(ev, r);
    } else if (strcmp(type, "rate_limit_event") == 0) {
        agent_claude_rate_limit(ev, r);
    } else if (strcmp(type, "result") == 0) {
        agent_claude_result(ev, r);
    }
}
