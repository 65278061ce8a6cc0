/* `beat agents list|check` (through the daemon: ListAgents, ConfigureAgent check) and `beat init`
 * (in this process: picks the default agent and writes config.json). */
#ifndef CLI_CMD_AGENTS_H
#define CLI_CMD_AGENTS_H

/* Runs `beat agents ...` with argv[0] = "agents". Exit status: 0 ok (check: the agent is
 * ready), 1 check found the agent not ready or the daemon failed, 2 bad input. */
int cli_agents_main(const char *home, int argc, char **argv);

/* Runs `beat init ...` with argv[0] = "init": with --agent NAME sets defaultAgent without a
 * question; without it asks on the terminal (stdin must be one). Exit status: 0 ok (also when
 * the user keeps the configuration), 1 failure, 2 bad input or no terminal to ask on. */
int cli_init_main(const char *home, int argc, char **argv);

#endif
