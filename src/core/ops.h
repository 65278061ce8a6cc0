/* The operations offered to MCP clients and the CLI, and helpers shared by their handlers. */
#ifndef CORE_OPS_H
#define CORE_OPS_H

#include <stdbool.h>

#include <jansson.h>

#include "core/op.h"
#include "core/task.h"

#define TASK_ID_PATTERN "^task-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

struct engine;

extern const struct op op_delegate;
extern const struct op op_status;
extern const struct op op_logs;
extern const struct op op_cancel;
extern const struct op op_retry;
extern const struct op op_resume;
extern const struct op op_wait;
extern const struct op op_system;

/* A task as clients see it (never its environment). with_deps adds dependsOn, dependents,
 * blockedBy, waitingReason and the newest output line, which need the engine. */
json_t *ops_task_json(struct engine *eng, const struct task *t, bool with_deps);

#endif
