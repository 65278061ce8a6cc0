/* `beat schedule ...` and `beat pipeline ...`: the schedule operations from the command line,
 * plus `beat schedule preview`, which runs here without a daemon. */
#ifndef CLI_CMD_SCHEDULE_H
#define CLI_CMD_SCHEDULE_H

/* Runs `beat schedule <sub> ...` (argv[0] = "schedule") or `beat pipeline ...` (argv[0] =
 * "pipeline") against the daemon of home. Results go to stdout (ids and tables) and stderr
 * (details), errors to stderr as "beat schedule <sub>: <message>". Returns the exit status:
 * 0 ok, else the error code's status (2 for bad input). */
int cli_schedule_main(const char *home, int argc, char **argv);

#endif
