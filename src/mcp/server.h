/* The daemon's MCP socket server: a Unix socket (mode 0600) whose connections each carry one
 * MCP session, newline-delimited. Runs on the loop thread only. */
#ifndef MCP_SERVER_H
#define MCP_SERVER_H

#include <jansson.h>
#include <uv.h>

#include "util/err.h"

#define MCP_SERVER_MAX_CONNECTIONS 1024
#define MCP_SERVER_MAX_QUEUED      (64u * 1024 * 1024) /* unsent bytes before a client is dropped */

struct engine;
struct mcp_server;

/* Listens on sock_path. A file already at sock_path is removed first: the caller holds the
 * state directory's lock, so it can only be a stale socket. engine may be NULL (tests):
 * tools/call then fails. */
struct mcp_server *mcp_server_start(uv_loop_t *loop, const char *sock_path, struct engine *engine,
                                    struct err *e);
/* Closes the listener and every connection (pending calls are cancelled). When every handle
 * is closed, srv is freed and then done(arg) runs (from a loop callback, never from inside this
 * call). NULL srv is a no-op and done is not called. */
void mcp_server_stop(struct mcp_server *srv, void (*done)(void *), void *arg);
/* Sends notifications/message to every connection whose log level admits level. data is
 * borrowed. */
void mcp_server_broadcast_log(struct mcp_server *srv, const char *level, const char *logger,
                              const json_t *data);
/* Number of open connections. */
int mcp_server_connections(const struct mcp_server *srv);

#endif
