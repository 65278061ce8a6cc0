/* Entry point: hands everything to the CLI, which picks the mode. */
#include "cli/cli.h"

int
main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
