/* The daemon process (`beat daemon`): lock, log, loop, engine, socket server, signals. */
#ifndef MCP_DAEMON_H
#define MCP_DAEMON_H

#include <stdbool.h>

/* Runs the daemon for state directory home until SIGTERM/SIGINT. Returns the exit status:
 * 0 after a clean stop, 3 when another daemon already owns home, 1 on other failures. */
int daemon_main(const char *home, bool log_to_stderr);

#endif
