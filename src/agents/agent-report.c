/* The report an agent's stdout builds up, and the line dispatcher: a line of a JSON format is
 * parsed once and handed to the CLI's parser (agent-<cli>.c); the text format is handled here.
 * Agent output is untrusted data: every string kept is valid UTF-8 without NUL, and bounded. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agent-int.h"
#include "agents/agent.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/str.h"
#include "util/xmalloc.h"

/* Starts an empty report. */
void
agent_report_init(struct agent_report *r)
{
    memset(r, 0, sizeof(*r));
    r->input_tokens = -1;
    r->output_tokens = -1;
    r->cost_usd = -1;
    r->limit_resets_at_ms = -1;
}

/* Frees the report's strings (NULL-safe). */
void
agent_report_fini(struct agent_report *r)
{
    if (r == NULL) {
        return;
    }
    free(r->session_id);
    free(r->result_text);
    free(r->api_error);
    free(r->last_line);
    agent_report_init(r);
}

/* A valid UTF-8 copy of at most max bytes of s, cut on a character boundary. */
static char *
agent_report_clean(const char *s, size_t n, size_t max, size_t *len_out)
{
    char *p;
    if (n > max) {
        n = str_utf8_boundary(s, max);
    }
    if (str_is_utf8(s, n)) {
        p = xstrndup(s, n);
    } else {
        p = str_utf8_sanitize(s, n); /* may grow: each bad byte becomes 3 */
        n = strlen(p);
        if (n > max) {
            n = str_utf8_boundary(p, max);
            p[n] = '\0';
        }
    }
    if (len_out != NULL) {
        *len_out = n;
    }
    return p;
}

/* Replaces a string slot. */
static void
agent_report_store(char **slot, const char *s, size_t n, size_t max)
{
    free(*slot);
    *slot = agent_report_clean(s, n, max, NULL);
}

/* Sets the agent's session id (ids longer than 256 bytes are not ids: ignored). */
void
agent_report_set_session(struct agent_report *r, const char *s, size_t n)
{
    if (n == 0 || n > 256) {
        return;
    }
    if (r->session_id != NULL && strlen(r->session_id) == n && memcmp(r->session_id, s, n) == 0) {
        return; /* claude repeats it on every line */
    }
    agent_report_store(&r->session_id, s, n, 256);
}

/* Replaces the result text. */
void
agent_report_set_result(struct agent_report *r, const char *s, size_t n)
{
    free(r->result_text);
    r->result_text = agent_report_clean(s, n, AGENT_RESULT_MAX, &r->result_len);
}

/* Appends to the result text, up to AGENT_RESULT_MAX bytes. */
void
agent_report_append_result(struct agent_report *r, const char *s, size_t n)
{
    size_t add;
    char *p;

    if (r->result_text == NULL) {
        agent_report_set_result(r, s, n);
        return;
    }
    if (r->result_len >= AGENT_RESULT_MAX) {
        return;
    }
    p = agent_report_clean(s, n, AGENT_RESULT_MAX - r->result_len, &add);
    r->result_text = xrealloc(r->result_text, r->result_len + add + 1);
    memcpy(r->result_text + r->result_len, p, add + 1);
    r->result_len += add;
    free(p);
}

/* Finds the last non-blank line of s[0..n) and sets *start and *len to it, trimmed. */
static void
agent_report_last(const char *s, size_t n, const char **start, size_t *len)
{
    size_t end = n, b;
    while (end > 0 && isspace((unsigned char)s[end - 1])) {
        end--;
    }
    b = end;
    while (b > 0 && s[b - 1] != '\n') {
        b--;
    }
    while (b < end && isspace((unsigned char)s[b])) {
        b++;
    }
    *start = s + b;
    *len = end - b;
}

/* Sets the progress line from the last non-blank line of s. */
void
agent_report_set_last_line(struct agent_report *r, const char *s, size_t n)
{
    const char *line;
    size_t len;

    agent_report_last(s, n, &line, &len);
    if (len > 0) {
        agent_report_store(&r->last_line, line, len, AGENT_LAST_LINE_MAX);
    }
}

/* Sets the progress line to a tool use. */
void
agent_report_set_tool(struct agent_report *r, const char *tool, const char *what)
{
    struct buf b;
    size_t n;

    buf_init(&b);
    buf_add(&b, tool, strnlen(tool, AGENT_LAST_LINE_MAX));
    if (what != NULL) {
        while (isspace((unsigned char)*what)) {
            what++;
        }
        n = strcspn(what, "\r\n");
        if (n > 0) {
            buf_adds(&b, ": ");
            buf_add(&b, what, n < AGENT_LAST_LINE_MAX ? n : AGENT_LAST_LINE_MAX);
        }
    }
    agent_report_store(&r->last_line, b.data, b.len, AGENT_LAST_LINE_MAX);
    buf_fini(&b);
}

/* Picks the argument that best says what a tool call does. */
const char *
agent_report_tool_arg(const json_t *input)
{
    static const char *const keys[] = {
        "command", "file_path", "path", "pattern", "query", "url", "description", "prompt",
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *v = json_get_str(input, keys[i]);
        if (v != NULL && v[0] != '\0') {
            return v;
        }
    }
    return NULL;
}

/* Finds "status NNN" or "status: NNN" (an HTTP status) in a message; 0 when absent. */
static int
agent_report_find_status(const char *s)
{
    for (const char *p = strstr(s, "status"); p != NULL; p = strstr(p + 1, "status")) {
        const char *q = p + 6;
        if (*q == ':') {
            q++;
        }
        while (*q == ' ') {
            q++;
        }
        if (isdigit((unsigned char)q[0]) && isdigit((unsigned char)q[1]) &&
            isdigit((unsigned char)q[2]) && !isdigit((unsigned char)q[3])) {
            int v = (q[0] - '0') * 100 + (q[1] - '0') * 10 + (q[2] - '0');
            if (v >= 100 && v <= 599) {
                return v;
            }
        }
    }
    return 0;
}

/* Removes a prefix from a buffer when present. */
static bool
agent_report_cut_prefix(struct buf *b, const char *prefix)
{
    size_t n = strlen(prefix);
    if (b->len >= n && memcmp(b->data, prefix, n) == 0) {
        buf_consume(b, n);
        return true;
    }
    return false;
}

/* Replaces b with the message of an embedded {"error":{...}} body, if it is one. */
static void
agent_report_unwrap_json(struct buf *b, int *status)
{
    json_t *v = NULL, *err;
    const char *msg, *kind;
    struct buf out;

    if (b->len == 0 || b->data[0] != '{' || b->len > 64 * 1024) {
        return;
    }
    v = json_parse(b->data, b->len, NULL);
    err = json_object_get(v, "error");
    msg = json_get_str(err, "message");
    if (msg != NULL) {
        buf_init(&out);
        kind = json_get_str(err, "status"); /* google: "INVALID_ARGUMENT" */
        if (kind == NULL) {
            kind = json_get_str(err, "type"); /* openai: "invalid_request_error" */
        }
        if (kind != NULL) {
            buf_printf(&out, "%s: ", kind);
        }
        buf_adds(&out, msg);
        if (*status == 0 && json_get_int(err, "code", 0) >= 100 &&
            json_get_int(err, "code", 0) <= 599) {
            *status = (int)json_get_int(err, "code", 0);
        }
        buf_fini(b);
        *b = out;
    }
    json_decref(v);
}

/* Sets api_error from a CLI's error text. */
void
agent_report_set_error(struct agent_report *r, int status, const char *s, size_t n)
{
    struct buf b;
    char *clean, *end, num[8];

    clean = agent_report_clean(s, n, 4 * AGENT_ERROR_MAX, NULL);
    buf_init(&b);
    buf_adds(&b, clean);
    free(clean);
    /* gemini: "[API Error: <text>]\nPlease wait ..."; claude: "API Error: <status> <text>" */
    if (agent_report_cut_prefix(&b, "[API Error: ")) {
        end = strstr(b.data, "]\n");
        if (end != NULL) {
            memmove(end, end + 1, b.len - (size_t)(end - b.data)); /* moves the NUL too */
            b.len--;
        } else if (b.len > 0 && b.data[b.len - 1] == ']') {
            b.data[--b.len] = '\0';
        }
    }
    agent_report_cut_prefix(&b, "API Error: ");
    agent_report_unwrap_json(&b, &status);
    if (status == 0) {
        status = agent_report_find_status(b.data);
    }
    if (status != 0) {
        snprintf(num, sizeof(num), "%d ", status);
        agent_report_cut_prefix(&b, num);
    }
    for (size_t i = 0; i < b.len; i++) {
        if (b.data[i] == '\n' || b.data[i] == '\r' || b.data[i] == '\t') {
            b.data[i] = ' ';
        }
    }
    while (b.len > 0 && b.data[b.len - 1] == ' ') {
        b.data[--b.len] = '\0';
    }
    free(r->api_error);
    r->api_error = NULL;
    if (status != 0) {
        clean = xasprintf("API error %d: %s", status, b.data);
    } else {
        clean = xstrdup(b.len > 0 ? b.data : "API error");
    }
    agent_report_store(&r->api_error, clean, strlen(clean), AGENT_ERROR_MAX);
    free(clean);
    buf_fini(&b);
    r->api_status = status;
}

/* Forgets earlier API errors: the run got past them. */
void
agent_report_clear_error(struct agent_report *r)
{
    free(r->api_error);
    r->api_error = NULL;
    r->api_status = 0;
    r->limit_resets_at_ms = -1;
}

/* A string member with its length (jansson strings may hold NUL). */
const char *
agent_json_str(const json_t *obj, const char *key, size_t *n)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        return NULL;
    }
    *n = json_string_length(v);
    return json_string_value(v);
}

/* Text format: every non-blank line is the newest result and progress line. */
static void
agent_report_text_line(const char *line, size_t len, struct agent_report *r)
{
    const char *s;
    size_t n;

    if (len > AGENT_RESULT_MAX) {
        len = AGENT_RESULT_MAX; /* keep the start of a huge line */
    }
    agent_report_last(line, len, &s, &n);
    if (n == 0) {
        return;
    }
    agent_report_set_result(r, s, n);
    agent_report_store(&r->last_line, s, n, AGENT_LAST_LINE_MAX);
}

/* Feeds one stdout line to the parser of format f. */
void
agent_parse_line(enum agent_format f, const char *line, size_t len, struct agent_report *r)
{
    json_t *ev;
    size_t i = 0;

    if (line == NULL || r == NULL) {
        return;
    }
    if (f == AGENT_FORMAT_TEXT) {
        agent_report_text_line(line, len, r);
        return;
    }
    if (len > AGENT_LINE_MAX) {
        return;
    }
    while (i < len && isspace((unsigned char)line[i])) {
        i++;
    }
    if (i == len || line[i] != '{') {
        return; /* not an event: stray text from the CLI */
    }
    ev = json_parse(line, len, NULL);
    if (json_is_object(ev)) {
        switch (f) {
        case AGENT_FORMAT_TEXT:
            break;
        case AGENT_FORMAT_CLAUDE:
            agent_claude_parse(ev, r);
            break;
        case AGENT_FORMAT_CODEX:
            agent_codex_parse(ev, r);
            break;
        case AGENT_FORMAT_GEMINI:
            agent_gemini_parse(ev, r);
            break;
        }
    }
    json_decref(ev);
}
