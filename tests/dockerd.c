#include "dockerd.h"

#include "peers.h"
#include "support.h"
#include "util.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DOCKER_CLIENT "/usr/bin/docker" /* Debian's, the engine's own version; /usr/local may hold another */
#define MARKER ".hydra-dockerd"

/* ## The engine process ---------------------------------------------------------------------------------------- */

static void close_inherited(void)
{
    int null = open("/dev/null", O_RDWR);
    dup2(null, STDIN_FILENO);
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
}

static pid_t engine_spawn(const dockerd *d)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    char *log = xasprintf("%s/dockerd.log", d->dir);
    int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
    close_inherited();
    setsid();
    char *host = xasprintf("unix://%s", d->socket);
    char *data = xasprintf("%s/data", d->dir), *exec = xasprintf("%s/exec", d->dir);
    char *pidfile = xasprintf("%s/docker.pid", d->dir);
    execl("/usr/sbin/dockerd", "dockerd", "--iptables=false", "--ip-forward=false", "--ip-masq=false",
          "--storage-driver=vfs", "--bridge=none", "--shutdown-timeout=2", "--host", host, "--data-root", data,
          "--exec-root", exec, "--pidfile", pidfile, (char *)NULL);
    _exit(127);
}

static size_t ignore_body(char *data, size_t size, size_t count, void *context)
{
    (void)data;
    (void)context;
    return size * count;
}

/* True once GET /_ping answers 200 on the engine's socket. */
static bool engine_answers(const dockerd *d)
{
    CURL *curl = curl_easy_init();
    if (!curl)
        return false;
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, d->socket);
    curl_easy_setopt(curl, CURLOPT_URL, "http://localhost/_ping");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 2L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ignore_body);
    long status = 0;
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    return status == 200;
}

static int engine_wait(dockerd *d, int timeout_seconds)
{
    for (int tries = 0; tries < timeout_seconds * 5; tries++) {
        if (engine_answers(d))
            return 0;
        if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
            d->pid = 0;
            break;
        }
        usleep(200000);
    }
    fprintf(stderr, "dockerd: the engine in %s did not answer; see %s/dockerd.log\n", d->dir, d->dir);
    return -1;
}

/* ## Teardown, shared by the cleanup and the watcher ------------------------------------------------------------ */

static bool pid_alive(pid_t pid) { return pid > 0 && kill(pid, 0) == 0; }

static pid_t pid_from_file(const char *path)
{
    FILE *file = fopen(path, "r");
    int pid = 0;
    if (file) {
        if (fscanf(file, "%d", &pid) != 1)
            pid = 0;
        fclose(file);
    }
    return (pid_t)pid;
}

/* dockerd stops its containerd itself on SIGTERM; after a SIGKILL that one would stay, so it goes by its pidfile. */
static void engine_kill(const char *dir, pid_t pid, int timeout_seconds)
{
    char *containerd_pidfile = xasprintf("%s/exec/containerd/containerd.pid", dir);
    pid_t containerd = pid_from_file(containerd_pidfile);
    free(containerd_pidfile);
    if (pid > 0)
        kill(pid, SIGTERM);
    for (int tries = 0; tries < timeout_seconds * 10 && pid_alive(pid); tries++) {
        waitpid(pid, NULL, WNOHANG);
        usleep(100000);
    }
    if (pid_alive(pid)) {
        fprintf(stderr, "dockerd: the engine in %s did not stop within %d s: killing it\n", dir, timeout_seconds);
        kill(pid, SIGKILL);
        if (pid_alive(containerd))
            kill(containerd, SIGKILL);
    }
    waitpid(pid, NULL, 0);
}

/* /proc/PID/NAME, NUL bytes (between arguments) read as spaces; "" once the process is gone. */
static void proc_read(pid_t pid, const char *name, char *text, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
    FILE *file = fopen(path, "r");
    size_t length = file ? fread(text, 1, size - 1, file) : 0;
    if (file)
        fclose(file);
    for (size_t i = 0; i < length; i++)
        if (text[i] == '\0')
            text[i] = ' ';
    text[length] = '\0';
}

static bool cmdline_mentions(pid_t pid, const char *text)
{
    char cmdline[4096];
    proc_read(pid, "cmdline", cmdline, sizeof cmdline);
    return strstr(cmdline, text) != NULL;
}

static pid_t parent_of(pid_t pid)
{
    char stat[1024];
    proc_read(pid, "stat", stat, sizeof stat);
    const char *after_name = strrchr(stat, ')');
    int parent = 0;
    if (!after_name || sscanf(after_name + 1, " %*c %d", &parent) != 1)
        return 0;
    return (pid_t)parent;
}

static void kill_children(pid_t parent)
{
    DIR *proc = opendir("/proc");
    struct dirent *entry;
    while (proc && (entry = readdir(proc))) {
        pid_t pid = (pid_t)atoi(entry->d_name);
        if (pid > 0 && parent_of(pid) == parent)
            kill(pid, SIGKILL);
    }
    if (proc)
        closedir(proc);
}

/* A container whose start the engine's stop cut short keeps its shim (and a `runc init`) after containerd is gone.
 * Such a shim names this engine's folder in its -address: it is stopped with what it runs, by pid. */
static void kill_leftover_shims(const char *dir)
{
    char *address = xasprintf("-address %s/exec/containerd/", dir);
    DIR *proc = opendir("/proc");
    struct dirent *entry;
    while (proc && (entry = readdir(proc))) {
        pid_t pid = (pid_t)atoi(entry->d_name);
        if (pid <= 0 || !cmdline_mentions(pid, "containerd-shim") || !cmdline_mentions(pid, address))
            continue;
        kill_children(pid);
        kill(pid, SIGKILL);
    }
    if (proc)
        closedir(proc);
    free(address);
}

/* The engine bind-mounts network namespaces under exec/netns; they must go before the folder can. */
static void unmount_under(const char *dir)
{
    FILE *mounts = fopen("/proc/self/mounts", "r");
    char line[4096];
    size_t length = strlen(dir);
    while (mounts && fgets(line, sizeof line, mounts)) {
        char *point = strchr(line, ' ');
        if (!point)
            continue;
        point++;
        point[strcspn(point, " ")] = '\0';
        if (strncmp(point, dir, length) == 0 && point[length] == '/')
            umount2(point, MNT_DETACH);
    }
    if (mounts)
        fclose(mounts);
}

static void teardown(const char *dir, const char *bridge, pid_t pid)
{
    engine_kill(dir, pid, 15);
    kill_leftover_shims(dir);
    unmount_under(dir);
    if (bridge[0]) {
        char *line = xasprintf("ip link delete %s 2>/dev/null", bridge);
        if (system(line) != 0) { /* already gone */
        }
        free(line);
    }
    char *line = xasprintf("rm -rf %s", dir);
    if (system(line) != 0)
        fprintf(stderr, "dockerd: could not remove %s\n", dir);
    free(line);
}

/* A child that outlives nothing but its parent: once the test process is gone it stops the engine and cleans up. */
static pid_t watcher_spawn(const dockerd *d)
{
    pid_t owner = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    close_inherited();
    int null = open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    setsid();
    char *marker = xasprintf("%s/" MARKER, d->dir);
    while (getppid() == owner && access(marker, F_OK) == 0)
        sleep(1);
    if (access(marker, F_OK) == 0) {
        char *pidfile = xasprintf("%s/docker.pid", d->dir);
        teardown(d->dir, d->bridge, pid_from_file(pidfile));
    }
    _exit(0);
}

/* ## Setting up: image and swarm ---------------------------------------------------------------------------------- */

int dockerd_client(const dockerd *d, const char *arguments, const char **output)
{
    char *line = xasprintf(DOCKER_CLIENT " -H unix://%s %s", d->socket, arguments);
    int status = support_run(line, output);
    free(line);
    return status;
}

static int write_file(const char *path, const char *text, mode_t mode)
{
    FILE *file = fopen(path, "w");
    bool written = file && fputs(text, file) >= 0;
    if (file && fclose(file) != 0)
        written = false;
    return written && chmod(path, mode) == 0 ? 0 : -1;
}

/* A rootfs of busybox-static whose command ends at once on SIGTERM (a shell as PID 1 that traps it; plain sleep
 * would ignore it and make every scale-down and restart wait out the stop timeout). */
static int image_import(const dockerd *d)
{
    char *rootfs = xasprintf("%s/rootfs", d->dir);
    char *script = xasprintf("%s/bin/serve", rootfs);
    char *line = xasprintf("mkdir -p %s/bin %s/tmp && cp /bin/busybox %s/bin/busybox && "
                           "for tool in sh sleep httpd cat; do ln -s busybox %s/bin/$tool; done",
                           rootfs, rootfs, rootfs, rootfs);
    const char *output;
    int status = support_run(line, &output);
    free(line);
    if (status == 0)
        status = write_file(script, "#!/bin/sh\ntrap 'exit 0' TERM INT\nwhile true; do sleep 1 & wait $!; done\n",
                            0755);
    char *arguments = xasprintf("import -c 'CMD [\"/bin/serve\"]' %s/rootfs.tar " DOCKERD_IMAGE, d->dir);
    line = xasprintf("tar -C %s -cf %s/rootfs.tar .", rootfs, d->dir);
    if (status == 0)
        status = support_run(line, &output);
    if (status == 0)
        status = dockerd_client(d, arguments, &output);
    if (status != 0)
        fprintf(stderr, "dockerd: importing the busybox image failed: %s\n", output);
    free(line);
    free(arguments);
    free(script);
    free(rootfs);
    return status == 0 ? 0 : -1;
}

/* The swarm's gateway bridge would be the host's docker_gwbridge, shared by every engine on the machine: this
 * engine gets one of its own name first. Its gossip port (7946) may be another engine's; the swarm runs without. */
static int swarm_init(const dockerd *d)
{
    const char *output;
    char *network = xasprintf("network create --driver bridge --subnet 10.%d.%d.0/24 "
                              "--opt com.docker.network.bridge.name=%s "
                              "--opt com.docker.network.bridge.enable_ip_masquerade=false docker_gwbridge",
                              200 + (int)(getpid() % 50), (int)(getpid() / 50 % 250), d->bridge);
    int status = dockerd_client(d, network, &output);
    free(network);
    char *init = xasprintf("swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:%d", peer_free_port());
    if (status == 0)
        status = dockerd_client(d, init, &output);
    free(init);
    if (status != 0)
        fprintf(stderr, "dockerd: swarm init failed: %s\n", output);
    return status == 0 ? 0 : -1;
}

/* ## The life cycle ------------------------------------------------------------------------------------------------ */

int dockerd_start(dockerd *d)
{
    memset(d, 0, sizeof *d);
    format_into(d->dir, sizeof d->dir, "/tmp/hydra-dockerd-XXXXXX");
    if (!mkdtemp(d->dir)) {
        fprintf(stderr, "dockerd: cannot make a folder: %s\n", strerror(errno));
        return -1;
    }
    format_into(d->socket, sizeof d->socket, "%s/docker.sock", d->dir);
    format_into(d->bridge, sizeof d->bridge, "hydgw%d", (int)(getpid() % 1000000));
    char *marker = xasprintf("%s/" MARKER, d->dir);
    int written = write_file(marker, "", 0600);
    free(marker);
    if (written != 0)
        return -1;
    d->watcher = watcher_spawn(d);
    d->pid = engine_spawn(d);
    if (d->pid < 0 || engine_wait(d, 60) != 0 || image_import(d) != 0 || swarm_init(d) != 0)
        return -1;
    return 0;
}

int dockerd_stop(dockerd *d, int timeout_seconds)
{
    if (d->pid <= 0)
        return -1;
    engine_kill(d->dir, d->pid, timeout_seconds);
    d->pid = 0;
    return 0;
}

int dockerd_resume(dockerd *d)
{
    if (d->pid > 0)
        return 0;
    d->pid = engine_spawn(d);
    return d->pid > 0 ? engine_wait(d, 60) : -1;
}

void dockerd_cleanup(dockerd *d)
{
    if (!d->dir[0])
        return;
    if (d->watcher > 0) {
        kill(d->watcher, SIGKILL);
        waitpid(d->watcher, NULL, 0);
    }
    teardown(d->dir, d->bridge, d->pid);
    memset(d, 0, sizeof *d);
}

/* ## Swarm services, seen through the docker client ---------------------------------------------------------------- */

int dockerd_service_create(const dockerd *d, const char *name, int replicas)
{
    char *arguments = xasprintf("service create --detach --name %s --replicas %d --stop-grace-period 2s "
                                DOCKERD_IMAGE, name, replicas);
    const char *output;
    int status = dockerd_client(d, arguments, &output);
    free(arguments);
    if (status != 0)
        fprintf(stderr, "dockerd: service create %s failed: %s\n", name, output);
    return status == 0 ? 0 : -1;
}

int dockerd_running_tasks(const dockerd *d, const char *service)
{
    char *arguments = xasprintf("service ps %s --filter desired-state=running --format '{{.CurrentState}}'", service);
    const char *output;
    int status = dockerd_client(d, arguments, &output);
    free(arguments);
    if (status != 0)
        return -1;
    int running = 0;
    for (const char *line = output; *line; line += strcspn(line, "\n") + (line[strcspn(line, "\n")] != '\0'))
        if (strncmp(line, "Running", 7) == 0)
            running++;
    return running;
}

int dockerd_wait_running(const dockerd *d, const char *service, int running, int timeout_seconds)
{
    for (int tries = 0; tries < timeout_seconds * 4; tries++) {
        if (dockerd_running_tasks(d, service) == running)
            return 0;
        usleep(250000);
    }
    fprintf(stderr, "dockerd: %s runs %d tasks, not %d, after %d s\n", service, dockerd_running_tasks(d, service),
            running, timeout_seconds);
    return -1;
}
