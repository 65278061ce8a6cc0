/* `beat config`: show, set, reset, path and keys, run in the CLI process on config.json. */
#ifndef CLI_CMD_CONFIG_H
#define CLI_CMD_CONFIG_H

/* Runs `beat config ...` with argv[0] = "config" against home/config.json. Prints results on
 * stdout and errors on stderr as "beat config: <message>". Returns the exit status: 0 ok,
 * 2 bad input, 1 anything else. After a successful set or reset, a running daemon is told to
 * reload (cli_config_notify_daemon). */
int cli_config_main(const char *home, int argc, char **argv);
/* Sends SIGHUP to the daemon of home when one runs (it reloads config.json); does nothing
 * otherwise. */
void cli_config_notify_daemon(const char *home);

#endif
