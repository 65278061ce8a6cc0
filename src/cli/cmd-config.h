/* `beat config`: show, set, reset, path and keys, run in the CLI process on config.json. */
#ifndef CLI_CMD_CONFIG_H
#define CLI_CMD_CONFIG_H

/* Runs `beat config ...` with argv[0] = "config" against home/config.json. Prints results on
 * stdout and errors on stderr as "beat config: <message>". Returns the exit status: 0 ok,
 * 2 bad input, 1 anything else. Does not tell the daemon to reload (the caller does that after
 * a successful set or reset). */
int cli_config_main(const char *home, int argc, char **argv);

#endif
