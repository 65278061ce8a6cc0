/* The operation table machinery. Each user-visible operation is one `struct op`: its MCP tool
 * name, CLI words, help, arguments as data, hints and handler. From that one description come
 * the MCP tools/list entry (inputSchema, outputSchema, annotations), CLI parsing and --help,
 * and the single validator every entry point calls before a handler runs. */
#ifndef CORE_OP_H
#define CORE_OP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "util/err.h"

enum arg_type {
    ARG_STRING,
    ARG_INTEGER,
    ARG_BOOLEAN,
    ARG_ENUM,
    ARG_STRING_ARRAY,
    ARG_OBJECT_ARRAY,
};

#define ARG_REQUIRED   0x001 /* schema "required"; missing -> error */
#define ARG_POSITIONAL 0x002 /* CLI: taken from the next positional word */
#define ARG_REST       0x004 /* CLI: every remaining positional word, joined with spaces */
#define ARG_CLI_ONLY   0x008 /* not part of the MCP schema (--json, --follow) */
#define ARG_MCP_ONLY   0x010 /* not offered on the CLI */
#define ARG_COMMA_LIST 0x020 /* CLI: a string array given as "a,b,c" (repeatable) */
#define ARG_DURATION   0x040 /* CLI: an integer of ms also accepts 500ms, 30s, 5m, 2h */
#define ARG_NONEMPTY   0x080 /* string must contain a non-space character */
#define ARG_CHARS      0x100 /* string: min/max count characters (code points), not bytes */

/* Checks a string's format; returns false and fills why ("must look like task-<uuid>"). */
typedef bool (*arg_format_fn)(const char *s, const char **why);

struct op_arg {
    const char *name;    /* JSON property name (camelCase) */
    const char *cli;     /* CLI long option without dashes ("working-directory"), NULL = none */
    char cli_short;      /* CLI short option, 0 = none */
    enum arg_type type;
    unsigned flags;
    int64_t min;         /* integers: minimum; strings: min bytes; arrays: min items */
    int64_t max;         /* as min; 0 = unbounded (strings always get a project-wide cap) */
    const char *const *choices; /* ARG_ENUM: NULL-terminated */
    arg_format_fn format;
    const char *pattern; /* JSON Schema "pattern" that format enforces (may be NULL) */
    const char *help;    /* one line: CLI help and schema description */
    const struct op_arg *items; /* ARG_OBJECT_ARRAY: the item properties, { 0 }-terminated */
    const char *cli_alias; /* one more long option name, e.g. "deps" */
    const char *value_name; /* CLI metavariable, e.g. "MS" */
};

#define OP_READONLY    0x01 /* readOnlyHint */
#define OP_DESTRUCTIVE 0x02 /* destructiveHint */
#define OP_IDEMPOTENT  0x04 /* idempotentHint */
#define OP_OPENWORLD   0x08 /* openWorldHint: reaches outside (runs agents) */
#define OP_NO_MCP      0x10 /* CLI only */
#define OP_NO_CLI      0x20 /* MCP only */

#define OP_DONE    0
#define OP_PENDING 1 /* the handler completes later through ctx->complete */

struct engine;

/* One call in flight. The MCP layer owns it; a pending handler keeps the pointer until it
 * calls complete, or until cancel_cb runs (then it must not call complete). */
struct op_ctx {
    struct engine *engine;
    const char *client_cwd;    /* the caller's working directory, or NULL */
    const json_t *client_env;  /* the caller's environment object, or NULL */
    /* Completes a pending call: exactly one of result (stolen) and e is set. */
    void (*complete)(struct op_ctx *ctx, json_t *result, const struct err *e);
    /* Sends a progress notification when the caller asked for progress; otherwise no-op. */
    void (*progress)(struct op_ctx *ctx, double progress, double total, const char *message);
    /* Set by a pending handler: called when the request is cancelled or its client leaves;
     * the handler releases its state and does not complete. */
    void (*cancel_cb)(struct op_ctx *ctx);
    void *handler_data; /* a pending handler's own state */
    void *transport;    /* the MCP layer's request */
};

typedef int (*op_run_fn)(struct op_ctx *ctx, const json_t *args, json_t **result, struct err *e);

struct op {
    const char *name;        /* MCP tool name, "DelegateTask" */
    const char *cli;         /* CLI words, "run" or "schedule create"; NULL with OP_NO_CLI */
    const char *cli_alias;   /* other CLI words ("ls"), or NULL */
    const char *title;       /* human title */
    const char *summary;     /* one line */
    const char *description; /* what a model needs to act on it */
    const struct op_arg *args; /* { 0 }-terminated */
    const char *output_schema; /* JSON text of the success shape */
    unsigned flags;
    op_run_fn run;
    /* Cross-field rules the table cannot express; runs after the generic checks. */
    int (*check)(const json_t *args, struct err *e);
};

/* Descriptions of result fields by name (core/ops-fields.c), { NULL }-terminated: filled into
 * every outputSchema property that has none. */
struct op_field_doc {
    const char *name;
    const char *description;
};
extern const struct op_field_doc op_field_docs[];

/* The table, sorted by name; NULL-terminated. */
extern const struct op *const op_table[];

const struct op *op_find(const char *name);
/* Validates args (an object; NULL means {}) against op: unknown fields, types, required,
 * ranges, lengths, enums, formats, items, then op->check. Fails with ERR_INVALID and a message
 * that names the field and the rule ("priority: must be one of P0, P1, P2 (got \"P9\")"). */
int op_validate(const struct op *op, const json_t *args, struct err *e);
/* The JSON Schema of op's input, exactly what op_validate enforces. New reference. */
json_t *op_input_schema(const struct op *op);
/* One tools/list entry for op. New reference. */
json_t *op_tool_json(const struct op *op);
/* The whole tools/list result {"tools":[...]}. New reference. */
json_t *op_tools_list(void);

/* CLI: parses argv (after the command words) into an args object for op. */
int op_cli_parse(const struct op *op, int argc, char **argv, json_t **out, struct err *e);
/* CLI: prints "usage: beat <words> ..." and the options of op. */
void op_cli_help(const struct op *op, FILE *out);

/* Common formats. */
bool op_format_task_id(const char *s, const char **why);
bool op_format_schedule_id(const char *s, const char **why);

#endif
