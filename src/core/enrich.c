/* Prompt enrichment for continueFrom and ResumeTask (prompt mode). */
#include <string.h>

#include "core/enrich.h"
#include "util/buf.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define ENRICH_PART_MAX 8192

/* Appends at most max bytes of s: its end, where the latest and most useful lines are. */
static void
enrich_add_tail(struct buf *b, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max) {
        buf_add(b, s, n);
        return;
    }
    const char *p = s + n - max;
    while ((*p & 0xc0) == 0x80) { /* do not start inside a UTF-8 sequence */
        p++;
    }
    buf_adds(b, "[... earlier part cut ...]\n");
    buf_adds(b, p);
}

static void
enrich_section(struct buf *b, const char *title, const char *text)
{
    if (text == NULL || *text == '\0') {
        return;
    }
    buf_printf(b, "\n%s:\n", title);
    enrich_add_tail(b, text, ENRICH_PART_MAX);
    if (b->data[b->len - 1] != '\n') {
        buf_addc(b, '\n');
    }
}

static void
enrich_block(struct buf *b, const char *heading, const struct task *t,
             const struct checkpoint *c)
{
    buf_printf(b, "<<<BACKBEAT CONTEXT: %s>>>\n", heading);
    buf_printf(b, "Earlier task: %s (agent %s)\nIts status: %s", t->id,
               t->agent ? t->agent : "unknown", c ? c->status : task_status_name(t->status));
    if (c && c->has_exit_code) {
        buf_printf(b, ", exit code %d", c->exit_code);
    }
    if ((c && c->reason) || t->reason) {
        buf_printf(b, " (%s)", c && c->reason ? c->reason : t->reason);
    }
    buf_addc(b, '\n');
    enrich_section(b, "Its prompt", t->prompt);
    if (c) {
        enrich_section(b, "Its final answer", c->result_text);
        enrich_section(b, "Last lines of its output", c->output_tail);
        enrich_section(b, "Last lines of its errors", c->error_tail);
        if (c->git_branch || c->git_commit) {
            buf_printf(b, "\nGit state of %s: branch %s, commit %s\n",
                       t->working_directory ? t->working_directory : "its directory",
                       c->git_branch ? c->git_branch : "(detached)",
                       c->git_commit ? c->git_commit : "(none)");
        }
        size_t nfiles = c->git_changed ? json_array_size(c->git_changed) : 0;
        if (nfiles > 0) {
            buf_adds(b, "Files it left changed:");
            for (size_t i = 0; i < nfiles && b->len < ENRICH_CONTEXT_MAX; i++) {
                buf_printf(b, " %s", json_string_value(json_array_get(c->git_changed, i)));
            }
            buf_addc(b, '\n');
        }
    }
    buf_adds(b, "<<<END BACKBEAT CONTEXT>>>\n\n");
}

/* Builds a continueFrom prompt. */
char *
enrich_continue(const struct task *upstream, const struct checkpoint *c, const char *prompt)
{
    struct buf b;
    buf_init(&b);
    enrich_block(&b, "this task continues from an earlier task; here is what it left", upstream,
                 c);
    buf_adds(&b, "YOUR TASK:\n");
    buf_adds(&b, prompt);
    return buf_take(&b);
}

/* Builds a resume prompt. */
char *
enrich_resume(const struct task *src, const struct checkpoint *c, const char *additional)
{
    struct buf b;
    buf_init(&b);
    enrich_block(&b, "an earlier attempt at this task ended; here is what it left", src, c);
    buf_adds(&b, "Continue or retry the task below, taking the earlier attempt into account.\n");
    if (additional && *additional) {
        buf_adds(&b, "\nADDITIONAL CONTEXT:\n");
        buf_adds(&b, additional);
        buf_addc(&b, '\n');
    }
    buf_adds(&b, "\nYOUR TASK:\n");
    /* A resumed task's own prompt may already be enriched: its original task comes last. */
    const char *orig = strstr(src->prompt, "\nYOUR TASK:\n");
    const char *last = orig;
    while (orig) {
        last = orig;
        orig = strstr(orig + 1, "\nYOUR TASK:\n");
    }
    buf_adds(&b, last && strncmp(src->prompt, "<<<BACKBEAT CONTEXT", 19) == 0 ? last + 12
                                                                              : src->prompt);
    return buf_take(&b);
}
