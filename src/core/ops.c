/* The operation table: every MCP tool and CLI command, sorted by name. */
#include <stddef.h>

#include "core/op.h"
#include "core/ops.h"

const struct op *const op_table[] = {
    &op_cancel_schedule,
    &op_cancel,
    &op_configure_agent,
    &op_create_pipeline,
    &op_delegate,
    &op_get_schedule,
    &op_list_agents,
    &op_list_schedules,
    &op_pause_schedule,
    &op_resume_schedule,
    &op_resume,
    &op_retry,
    &op_schedule_pipeline,
    &op_schedule_task,
    &op_system,
    &op_logs,
    &op_status,
    &op_wait,
    NULL,
};
