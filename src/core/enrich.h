/* Prompt enrichment: what a task continuing from another (continueFrom) or resuming one
 * (ResumeTask, prompt mode) is told about the earlier task. Pure functions over a checkpoint;
 * the format is documented in docs/continuation.md and bounded so prompts cannot grow without
 * limit along a chain. */
#ifndef CORE_ENRICH_H
#define CORE_ENRICH_H

#include "core/task.h"
#include "store/store.h"

/* Most bytes of context put before a prompt; each part is cut to its share. */
#define ENRICH_CONTEXT_MAX 32768

/* The prompt for a task that continues from upstream: a delimited context block built from
 * upstream's checkpoint (c may be NULL), then "YOUR TASK:" and the original prompt, intact.
 * Returns a new string. */
char *enrich_continue(const struct task *upstream, const struct checkpoint *c,
                      const char *prompt);
/* The prompt for resuming src in prompt mode: the checkpoint block, the original prompt and
 * the additional context (may be NULL). Returns a new string. */
char *enrich_resume(const struct task *src, const struct checkpoint *c,
                    const char *additional_context);

#endif
