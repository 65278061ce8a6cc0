/* The operation table: every MCP tool and CLI command, sorted by name. */
#include <stddef.h>

#include "core/op.h"
#include "core/ops.h"

const struct op *const op_table[] = {
    &op_cancel,
    &op_delegate,
    &op_resume,
    &op_retry,
    &op_system,
    &op_logs,
    &op_status,
    &op_wait,
    NULL,
};
