/* The command line: `hydra COMMAND [ARGS]`. Usage errors exit 2 with a one-line reason. */
#ifndef HYDRA_CLI_H
#define HYDRA_CLI_H

int cli_main(int argc, char **argv);

#endif
