/* The command line: parses argv, runs local commands, talks to the daemon for the rest. */
#ifndef CLI_CLI_H
#define CLI_CLI_H

#include <stdbool.h>

#include "util/err.h"

/* Runs the beat command line; returns the process exit status. */
int cli_main(int argc, char **argv);
/* True when argv asks for help (--help or -h before any "--"). */
bool cli_wants_help(int argc, char **argv);
/* Prints "beat CMD: <message>" on stderr; returns the exit status for e's code. */
int cli_fail(const char *cmd, const struct err *e);

#endif
