/* Human-readable rendering of operation results for the terminal. --json bypasses it. */
#ifndef CLI_RENDER_H
#define CLI_RENDER_H

#include <stdio.h>

#include <jansson.h>

#include "core/op.h"

/* Prints the successful result of op (called with args) for a person. */
void render_result(const struct op *op, const json_t *args, const json_t *result, FILE *out);
/* Prints the closing line of a foreground run: "Completed (exit 0)" or why it failed. */
void render_task_end(const json_t *task, FILE *out);
/* Prints one line about the worker pool from a SystemStatus result (nothing when NULL). */
void render_pool_line(const json_t *system, FILE *out);
/* Formats a duration in ms as "850ms", "12.3s" or "4m 05s". */
void render_duration(int64_t ms, char out[32]);

#endif
