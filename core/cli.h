/* The command line: `hydra COMMAND [ARGS]`. Usage errors exit 2 with a one-line reason. */
#ifndef HYDRA_CLI_H
#define HYDRA_CLI_H

int cli_main(int argc, char **argv);

#define CLI_EXIT_USAGE 2
/* Prints "hydra: REASON (see 'hydra --help')" and returns CLI_EXIT_USAGE, for commands in other files too. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
