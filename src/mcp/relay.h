/* `beat mcp start`: the stdio MCP server that MCP clients launch, relaying every line between
 * its stdin/stdout and the daemon's socket. */
#ifndef MCP_RELAY_H
#define MCP_RELAY_H

/* Relays until stdin ends, stdout closes, or SIGINT/SIGTERM arrives (all a normal end: returns
 * 0). stdout carries protocol lines only; warnings go to stderr. The daemon is started on
 * demand and reconnected to (with the client's initialize replayed) when it restarts. */
int mcp_relay_main(const char *home);

#endif
