/* The command line: parses argv, runs local commands, talks to the daemon for the rest. */
#ifndef CLI_CLI_H
#define CLI_CLI_H

/* Runs the beat command line; returns the process exit status. */
int cli_main(int argc, char **argv);

#endif
