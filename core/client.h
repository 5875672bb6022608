/* The command-line client of a running daemon: hydra recommendations list|show|approve|reject. It reads the key
 * from HYDRA_API_KEY (never from the command line, where ps would show it) and talks HTTP through libcurl. */
#ifndef HYDRA_CLIENT_H
#define HYDRA_CLIENT_H

int client_recommendations(int argc, char **argv);

#endif
