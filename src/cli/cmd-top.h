/* `beat top`: a live view of the worker pool, refreshed each second. */
#ifndef CLI_CMD_TOP_H
#define CLI_CMD_TOP_H

/* Runs `beat top [--once]` with argv[0] = "top" against the daemon of home (started on demand).
 * Redraws every second until q or Ctrl-C; --once prints one frame and returns (for scripts).
 * Returns the exit status: 0 ok, 2 bad usage, else the daemon error's status. */
int cli_top_main(const char *home, int argc, char **argv);

#endif
