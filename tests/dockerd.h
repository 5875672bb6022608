/* A private Docker Engine for the tests (Debian's docker.io, 20.10): its own socket, data-root, exec-root and pidfile
 * in a new folder under /tmp, `--iptables=false --storage-driver=vfs --bridge=none`, the image hydra-test/busybox:1
 * imported from /bin/busybox (busybox-static), and a one-node swarm on 127.0.0.1. A system dockerd, or another
 * test's, is never touched: everything is addressed through this folder. Plain C without cmocka, like servers.h:
 * functions return 0 / -1 and say why on stderr. */
#ifndef HYDRA_TEST_DOCKERD_H
#define HYDRA_TEST_DOCKERD_H

#include <sys/types.h>

#define DOCKERD_IMAGE "hydra-test/busybox:1"

typedef struct dockerd {
    char dir[64];     /* /tmp/hydra-dockerd-XXXXXX: data/, exec/, docker.sock, docker.pid, dockerd.log */
    char socket[96];  /* the Engine API's unix socket */
    char bridge[16];  /* the host bridge this engine's swarm uses (docker_gwbridge renamed), removed at cleanup */
    pid_t pid;
    pid_t watcher;    /* stops the engine and removes the folder should the test process die first */
} dockerd;

/* A new engine in a new folder, answering, with the image imported and the swarm initialised. */
int dockerd_start(dockerd *d);
/* Stops the engine (SIGTERM, then SIGKILL after timeout_seconds) and waits for it; the folder stays. */
int dockerd_stop(dockerd *d, int timeout_seconds);
/* Starts the stopped engine again on the same folder and waits until it answers (the swarm comes back by itself). */
int dockerd_resume(dockerd *d);
/* Stops the engine, unmounts what it left mounted in its folder, removes its bridge and the folder. */
void dockerd_cleanup(dockerd *d);

/* Runs Debian's docker client (/usr/bin/docker) against this engine: `docker ARGUMENTS`; its exit status, and its
 * stdout+stderr (static) in *output when output is not NULL. */
int dockerd_client(const dockerd *d, const char *arguments, const char **output);

/* A swarm service of n replicas of the test image, created detached; its tasks stop at once on SIGTERM. */
int dockerd_service_create(const dockerd *d, const char *name, int replicas);
/* Tasks of the service whose state and desired state are both running (-1 when the engine cannot say). */
int dockerd_running_tasks(const dockerd *d, const char *service);
/* Waits up to timeout_seconds until the service runs exactly `running` tasks; 0 when it does. */
int dockerd_wait_running(const dockerd *d, const char *service, int running, int timeout_seconds);

#endif
