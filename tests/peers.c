#include "peers.h"

#include "support.h"
#include "util.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int peer_start(peer *p, const char *script, bool folder, const char *options)
{
    format_into(p->path, sizeof p->path, "/tmp/hydra-peer-XXXXXX");
    p->folder = folder;
    if (folder ? !mkdtemp(p->path) : mkstemp(p->path) < 0)
        return -1;
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0)
        return -1;
    p->pid = fork();
    if (p->pid == 0) {
        dup2(to_child[0], STDIN_FILENO);
        dup2(from_child[1], STDOUT_FILENO);
        close(to_child[1]);
        close(from_child[0]);
        char *line = xasprintf("exec /usr/bin/python3 %s %s %s", script, p->path, options ? options : "");
        execl("/bin/sh", "sh", "-c", line, (char *)NULL);
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    p->stdin_fd = to_child[1];
    FILE *out = fdopen(from_child[0], "r");
    char line[32] = "";
    bool said = out && fgets(line, sizeof line, out);
    if (out)
        fclose(out);
    p->port = said ? atoi(line) : 0;
    return p->port > 0 ? 0 : -1;
}

void peer_stop(peer *p)
{
    close(p->stdin_fd);
    waitpid(p->pid, NULL, 0);
    char *line = xasprintf("rm -rf %s", p->path);
    support_run(line, NULL);
    free(line);
}

int peer_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&address, sizeof address) == 0 &&
        getsockname(fd, (struct sockaddr *)&address, &length) == 0)
        port = ntohs(address.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}
