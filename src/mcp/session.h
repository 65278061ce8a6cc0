/* The MCP server side of one connection, independent of the transport: lifecycle
 * (initialize, ping, logging/setLevel), tools/list and tools/call dispatched to the operation
 * table, progress and cancellation of pending calls. Runs on the loop thread only. */
#ifndef MCP_SESSION_H
#define MCP_SESSION_H

#include <stddef.h>

#include <jansson.h>

#define MCP_PROTOCOL_LATEST  "2025-11-25"
#define MCP_CLIENT_META_KEY  "backbeat/client"
#define MCP_CLIENT_ENV_MAX   1000         /* variables */
#define MCP_CLIENT_ENV_BYTES (256 * 1024) /* sum of key and value lengths */
#define MCP_CLIENT_CWD_MAX   4096         /* bytes */

struct engine;
struct mcp_session;

/* Sends one line (no '\n', never containing one). line is borrowed for the call. */
typedef void (*mcp_send_fn)(void *arg, const char *line, size_t len);

/* engine may be NULL (tests, fuzzing): tools/call then answers with a tool error. */
struct mcp_session *mcp_session_new(struct engine *engine, mcp_send_fn send, void *arg);
/* Cancels pending calls through their cancel_cb, sends nothing more. NULL-safe. */
void mcp_session_free(struct mcp_session *s);
/* Handles one line from the client (no '\n'); every answer goes through send. */
void mcp_session_handle_line(struct mcp_session *s, const char *line, size_t len);
/* Answers a line the framer refused as too long (-32600, id null). */
void mcp_session_handle_too_long(struct mcp_session *s);
/* Sends notifications/message if the session is initialized and its log level (default
 * "warning") admits level; unknown levels are dropped. data is borrowed. */
void mcp_session_notify_log(struct mcp_session *s, const char *level, const char *logger,
                            const json_t *data);

#endif
