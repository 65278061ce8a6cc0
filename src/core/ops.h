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
extern const struct op op_list_agents;
extern const struct op op_configure_agent;
extern const struct op op_schedule_task;
extern const struct op op_schedule_pipeline;
extern const struct op op_list_schedules;
extern const struct op op_get_schedule;
extern const struct op op_cancel_schedule;
extern const struct op op_pause_schedule;
extern const struct op op_resume_schedule;
extern const struct op op_create_pipeline;

/* A task as clients see it (never its environment). with_deps adds dependsOn, dependents,
 * blockedBy, waitingReason and the newest output line, which need the engine. */
json_t *ops_task_json(struct engine *eng, const struct task *t, bool with_deps);
/* Fills t's settings from args (priority, timeout, maxOutputBuffer, agent, workingDirectory,
 * model, systemPrompt; fields absent from args keep t's value, else the client's config
 * default) and the caller's context (environment, cwd). Fails with ERR_INVALID naming the
 * field (no agent resolvable, unknown agent, bad directory). */
int ops_task_settings(struct op_ctx *ctx, const json_t *args, struct task *t, struct err *e);

struct config;
/* One agent as a client with environment env (PATH, key variables) sees it: installed (path),
 * authentication (authStatus, authMethod, envVar, hint), default marker and settings, never an
 * API key. No version (that needs a probe). NULL when name is not a known agent. New
 * reference. */
json_t *ops_agent_status(const struct config *c, const char *name, const json_t *env);

#endif
