/* The daemon client used by the CLI and the relay: connect (starting the daemon on demand) and
 * speak MCP over the socket with blocking calls bounded by deadlines. No event loop. */
#ifndef MCP_CLIENT_H
#define MCP_CLIENT_H

#include <stdbool.h>

#include <jansson.h>

#include "util/err.h"

#define DAEMON_START_TIMEOUT_MS 10000

/* Connects to HOME/daemon.sock. When nothing answers and autostart is set, starts this binary
 * as `beat daemon` (BACKBEAT_HOME=home, detached in its own session) and waits up to
 * DAEMON_START_TIMEOUT_MS for it to accept. On success *fd_out is a blocking, close-on-exec
 * socket. Fails with ERR_UNAVAILABLE (the message names HOME/daemon.log when a start failed). */
int daemon_connect(const char *home, bool autostart, int *fd_out, struct err *e);

/* The client context sent in initialize's _meta["backbeat/client"]: {cwd, env (the whole
 * environment), version}. New reference. */
json_t *rpc_client_meta(void);

/* One initialized MCP connection to the daemon. */
struct rpc_client;

/* Connects (see daemon_connect), initializes with the client context and checks that the
 * daemon runs this very version (else ERR_VERSION, naming `beat daemon restart`). */
struct rpc_client *rpc_client_open(const char *home, bool autostart, struct err *e);
/* Closes the connection. NULL-safe. */
void rpc_client_close(struct rpc_client *c);
/* The daemon's version from its initialize answer. Borrowed, lives as long as c. */
const char *rpc_client_server_version(const struct rpc_client *c);

/* Calls a tool. Returns its structuredContent (new reference). A tool error (isError) fills e
 * with its code (from "code") and message; a JSON-RPC error gives ERR_INVALID (-32600..-32602,
 * -32700) or ERR_INTERNAL; a lost connection ERR_UNAVAILABLE. timeout_ms bounds the whole call
 * (-1 = no bound); when it expires the call is cancelled on the daemon and e is ERR_UNAVAILABLE.
 * on_progress, when set, receives the message of each progress notification of this call. */
json_t *rpc_call_tool(struct rpc_client *c, const char *tool, const json_t *args, int timeout_ms,
                      void (*on_progress)(void *arg, const char *msg), void *arg, struct err *e);
/* Sends any request and returns its result (new reference); errors as for rpc_call_tool. */
json_t *rpc_request(struct rpc_client *c, const char *method, const json_t *params, int timeout_ms,
                    struct err *e);

#endif
