/* Gemini CLI: `gemini --prompt=<prompt> --skip-trust --output-format stream-json ...` and its
 * stream (init, message deltas, tool_use, tool_result, error, result). The prompt is one
 * "--prompt=" element because yargs would read a separate value starting with '-' as options.
 * gemini has no system-prompt option that adds to its own (GEMINI_SYSTEM_MD replaces it and
 * needs a file), so a system prompt goes in front of the prompt in a delimited block. */
#include <stdlib.h>
#include <string.h>

#include "agents/agent-int.h"
#include "agents/agent.h"
#include "util/json.h"

/* Builds the gemini command line and environment. */
static int
agent_gemini_build(const struct agent_driver *d, const struct agent_run_spec *spec,
                   struct agent_cmd *out, struct err *e)
{
    static const char *const fixed[] = { "--skip-trust", "--output-format", "stream-json", NULL };
    struct agent_cmd_builder b;
    struct agent_opts o;
    char *prompt = NULL;
    int rc = -1;

    agent_cmd_begin(&b);
    agent_opts_resolve(spec, &o);
    if (agent_check_spec(spec, e) != 0) {
        goto out;
    }
    if (o.system_prompt != NULL) {
        prompt = agent_prompt_with_system(spec->prompt, o.system_prompt);
    }
    if (agent_cmd_arg(&b, "command", d->command, e) != 0 ||
        agent_cmd_arg2(&b, o.system_prompt ? "system_prompt and prompt" : "prompt",
                       "--prompt=", prompt ? prompt : spec->prompt, e) != 0 ||
        agent_cmd_args(&b, "", (char *const *)fixed, e) != 0) {
        goto out;
    }
    if (agent_cmd_opt(&b, "--model", "model", o.model, e) != 0 ||
        agent_cmd_opt(&b, "--resume", "resume_session", o.session, e) != 0) {
        goto out;
    }
    if (agent_cmd_args(&b, "extra_args", o.extra_args, e) != 0) {
        goto out;
    }
    if (agent_env_begin(&b, spec, NULL, e) != 0) {
        goto out;
    }
    agent_env_api_key(&b, spec, d->key_env);
    if (o.base_url != NULL) {
        agent_cmd_setenv(&b, "GOOGLE_GEMINI_BASE_URL", o.base_url);
    }
    if (agent_env_finish(&b, spec, e) != 0) {
        goto out;
    }
    /* Without it gemini re-launches itself as a child node process that a SIGTERM to the
     * parent does not stop; forced, whatever the config says. */
    agent_cmd_setenv(&b, "GEMINI_CLI_NO_RELAUNCH", "true");
    if (agent_cmd_end(&b, out, e) != 0) {
        goto out;
    }
    rc = 0;
out:
    free(prompt);
    agent_cmd_abort(&b);
    return rc;
}

const struct agent_driver agent_gemini_driver = {
    .name = "gemini",
    .command = "gemini",
    .description = "Gemini CLI (Google)",
    .format = AGENT_FORMAT_GEMINI,
    .supports_resume = true,
    .key_env = "GEMINI_API_KEY",
    .login_hint = "gemini (choose a login method once), or set GEMINI_API_KEY",
    .build = agent_gemini_build,
};

/* Forgets the text so far: what follows is a new answer. */
static void
agent_gemini_new_answer(struct agent_report *r)
{
    free(r->result_text);
    r->result_text = NULL;
    r->result_len = 0;
}

/* A message event: assistant deltas add up to the answer of the current model turn. */
static void
agent_gemini_message(const json_t *ev, struct agent_report *r)
{
    const char *role = json_get_str(ev, "role");
    const char *s;
    size_t n, w;

    if (role != NULL && strcmp(role, "user") == 0) {
        agent_gemini_new_answer(r); /* a new turn: the answer starts over */
        return;
    }
    if (role == NULL || strcmp(role, "assistant") != 0 ||
        (s = agent_json_str(ev, "content", &n)) == NULL) {
        return;
    }
    if (json_get_bool(ev, "delta", false)) {
        agent_report_append_result(r, s, n);
    } else {
        agent_report_set_result(r, s, n);
    }
    /* Look back at most 4 KiB for the last line, so many deltas stay linear. */
    w = r->result_len < 4096 ? r->result_len : 4096;
    while (w > 0 && (r->result_text[r->result_len - w] & 0xc0) == 0x80) {
        w--; /* start on a character */
    }
    agent_report_set_last_line(r, r->result_text + r->result_len - w, w);
}

/* The result event: status, usage and, on failure, the error. */
static void
agent_gemini_result(const json_t *ev, struct agent_report *r)
{
    const char *status = json_get_str(ev, "status");
    const json_t *stats = json_object_get(ev, "stats");
    const char *s;
    size_t n;

    r->saw_result = true;
    r->is_error = status == NULL || strcmp(status, "success") != 0;
    if ((s = agent_json_str(ev, "response", &n)) != NULL) {
        agent_report_set_result(r, s, n);
    }
    if (json_is_integer(json_object_get(stats, "input_tokens"))) {
        r->input_tokens = json_get_int(stats, "input_tokens", -1);
    }
    if (json_is_integer(json_object_get(stats, "output_tokens"))) {
        r->output_tokens = json_get_int(stats, "output_tokens", -1);
    }
    if (!r->is_error) {
        agent_report_clear_error(r);
        return;
    }
    s = agent_json_str(json_object_get(ev, "error"), "message", &n);
    agent_report_set_error(r, 0, s ? s : "gemini reported an error", s ? n : 24);
}

/* Parses one gemini stream-json event. */
void
agent_gemini_parse(const json_t *ev, struct agent_report *r)
{
    const char *type = json_get_str(ev, "type");
    const char *s;
    size_t n;

    if (type == NULL) {
        return;
    }
    if (strcmp(type, "init") == 0) {
        if ((s = agent_json_str(ev, "session_id", &n)) != NULL) {
            agent_report_set_session(r, s, n);
        }
    } else if (strcmp(type, "message") == 0) {
        agent_gemini_message(ev, r);
    } else if (strcmp(type, "tool_use") == 0) {
        s = json_get_str(ev, "tool_name");
        agent_report_set_tool(r, s ? s : "tool",
                              agent_report_tool_arg(json_object_get(ev, "parameters")));
        /* Text before a tool call is not the answer: the answer is the last turn's text. */
        agent_gemini_new_answer(r);
    } else if (strcmp(type, "error") == 0) {
        if ((s = agent_json_str(ev, "message", &n)) != NULL) {
            agent_report_set_last_line(r, s, n);
            if (json_get_str(ev, "severity") == NULL ||
                strcmp(json_get_str(ev, "severity"), "error") == 0) {
                agent_report_set_error(r, 0, s, n);
            }
        }
    } else if (strcmp(type, "result") == 0) {
        agent_gemini_result(ev, r);
    }
}
