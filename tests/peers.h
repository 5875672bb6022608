/* Small real servers the plugin tests talk to, written in Python (Debian's /usr/bin/python3): each prints the port
 * it listens on as its first line and exits when its standard input closes, so a test that dies leaves none. */
#ifndef HYDRA_TEST_PEERS_H
#define HYDRA_TEST_PEERS_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct peer {
    pid_t pid;
    int stdin_fd;
    int port;
    char path[64]; /* a new temporary file, or folder, given to the script as its first argument */
    bool folder;
} peer;

/* Runs /usr/bin/python3 script PATH options (options may be NULL); 0 once it has said its port. */
int peer_start(peer *p, const char *script, bool folder, const char *options);
/* Closes its input, waits for it and removes its file or folder. */
void peer_stop(peer *p);
/* A TCP port of 127.0.0.1 nobody listened on a moment ago (for servers that cannot be told to pick one). */
int peer_free_port(void);

#endif
