#include "servers.h"

#include "support.h"
#include "util.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ## PostgreSQL --------------------------------------------------------------------------------------------------- */

int pg_server_start(pg_server *server)
{
    format_into(server->dir, sizeof server->dir, "/tmp/hydra-pg-XXXXXX");
    if (!mkdtemp(server->dir)) {
        fprintf(stderr, "pg_server: cannot make a folder for the server\n");
        return -1;
    }
    /* With our pid, pg-server stops the server should this process die before it stops it. */
    const char *output;
    char *line = xasprintf("tests/pg-server start %s %d", server->dir, (int)getpid());
    int status = support_run(line, &output);
    free(line);
    const char *conninfo = strstr(output, "host=");
    if (status != 0 || !conninfo) {
        fprintf(stderr, "pg_server: PostgreSQL did not start (pg-server exit %d):\n%s\n", status, output);
        return -1;
    }
    format_into(server->conninfo, sizeof server->conninfo, "%.*s", (int)strcspn(conninfo, "\n"), conninfo);
    return 0;
}

int pg_server_run(const pg_server *server, const char *action, const char **output)
{
    char *line = xasprintf("tests/pg-server %s %s", action, server->dir);
    int status = support_run(line, output);
    free(line);
    return status;
}

int pg_server_psql(const pg_server *server, const char *database, const char *statement, const char **output)
{
    char *line = xasprintf("psql '%s dbname=%s' -v ON_ERROR_STOP=1 -qtAc \"%s\"", server->conninfo, database,
                           statement);
    int status = support_run(line, output);
    free(line);
    return status;
}

/* ## hydra serve: the config and the keys ------------------------------------------------------------------------ */

/* The name a config line sets: "  timeout = \"30m\";" -> "timeout"; "" for other lines. */
static void setting_name(const char *line, char *name, size_t size)
{
    line += strspn(line, " \t");
    size_t length = strcspn(line, " =\t\n");
    bool assignment = line[length + strspn(line + length, " \t")] == '=';
    format_into(name, size, "%.*s", assignment ? (int)length : 0, line);
}

static const char *override_for(const char *name, const char *store_setting, const char *const *overrides)
{
    if (strcmp(name, "store") == 0)
        return store_setting;
    char wanted[64];
    for (size_t i = 0; name[0] && overrides && overrides[i]; i++) {
        setting_name(overrides[i], wanted, sizeof wanted);
        if (strcmp(wanted, name) == 0)
            return overrides[i];
    }
    return NULL;
}

/* configs/hydra.cfg with its paths made absolute (they are relative to the config's folder) and lines replaced. */
static int daemon_config_write(daemon_run *d, const char *store_setting, const char *const *overrides)
{
    FILE *in = fopen("configs/hydra.cfg", "r");
    format_into(d->config, sizeof d->config, "%s/hydra.cfg", d->dir);
    FILE *out = in ? fopen(d->config, "w") : NULL;
    char cwd[1024], line[1024], name[64];
    if (!out || !getcwd(cwd, sizeof cwd)) {
        fprintf(stderr, "daemon_prepare: cannot copy configs/hydra.cfg to %s\n", d->config);
        if (in)
            fclose(in);
        return -1;
    }
    bool used[32] = {false};
    while (fgets(line, sizeof line, in)) {
        setting_name(line, name, sizeof name);
        const char *replacement = override_for(name, store_setting, overrides);
        for (size_t i = 0; replacement && overrides && overrides[i] && i < 32; i++)
            used[i] = used[i] || overrides[i] == replacement;
        char *parent = strstr(line, "\"../");
        if (replacement)
            fprintf(out, "%s\n", replacement);
        else if (parent)
            fprintf(out, "%.*s\"%s/%s", (int)(parent - line), line, cwd, parent + 4);
        else
            fputs(line, out);
    }
    for (size_t i = 0; overrides && overrides[i] && i < 32; i++) /* a setting the file does not have is added */
        if (!used[i])
            fprintf(out, "%s\n", overrides[i]);
    fclose(in);
    return fclose(out) == 0 ? 0 : -1;
}

int daemon_create_key(const daemon_run *d, const char *tenant, const char *name, const char *scopes, char *secret,
                      size_t size)
{
    char *data = d->data[0] ? xasprintf("--data %s", d->data) : xstrdup("");
    /* its words go beside the daemon's log, not into it: that log holds what the daemon wrote, nothing else */
    char *line = xasprintf("(%s/hydra keys create --config %s %s --tenant %s --name %s --scopes %s "
                           "2>>%s/keys.log)",
                           support_build_dir(), d->config, data, tenant, name, scopes, d->dir);
    const char *output;
    int status = support_run(line, &output);
    free(line);
    free(data);
    format_into(secret, size, "%.*s", (int)strcspn(output, "\n"), output);
    if (status != 0 || strncmp(secret, "hydra_", 6) != 0) {
        fprintf(stderr, "daemon_prepare: keys create %s failed (%s/keys.log says why): %s\n", name, d->dir, output);
        return -1;
    }
    return 0;
}

/* A new folder with its log; the config and the store are the caller's to set. */
static int daemon_folder(daemon_run *d)
{
    memset(d, 0, sizeof *d);
    format_into(d->dir, sizeof d->dir, "/tmp/hydra-daemon-XXXXXX");
    if (!mkdtemp(d->dir)) {
        fprintf(stderr, "daemon_prepare: cannot make a folder for the daemon\n");
        return -1;
    }
    format_into(d->log, sizeof d->log, "%s/daemon.log", d->dir);
    return 0;
}

static int daemon_keys(daemon_run *d)
{
    if (daemon_create_key(d, "default", "alice", "ingest,read,approve", d->admin_key, sizeof d->admin_key) != 0 ||
        daemon_create_key(d, "default", "viewer", "read", d->reader_key, sizeof d->reader_key) != 0)
        return -1;
    return 0;
}

int daemon_prepare(daemon_run *d, const char *store_setting, const char *const *overrides)
{
    if (daemon_folder(d) != 0)
        return -1;
    if (store_setting) {
        if (daemon_config_write(d, store_setting, overrides) != 0)
            return -1;
    } else {
        format_into(d->config, sizeof d->config, "configs/hydra.cfg");
        format_into(d->data, sizeof d->data, "%s/hydra.db", d->dir);
    }
    return daemon_keys(d);
}

int daemon_prepare_replica(daemon_run *d, const daemon_run *first)
{
    if (daemon_folder(d) != 0)
        return -1;
    format_into(d->config, sizeof d->config, "%s", first->config);
    format_into(d->data, sizeof d->data, "%s", first->data);
    format_into(d->admin_key, sizeof d->admin_key, "%s", first->admin_key);
    format_into(d->reader_key, sizeof d->reader_key, "%s", first->reader_key);
    return 0;
}

int daemon_prepare_config(daemon_run *d, const char *config_text)
{
    if (daemon_folder(d) != 0)
        return -1;
    format_into(d->config, sizeof d->config, "%s/hydra.cfg", d->dir);
    FILE *out = fopen(d->config, "w");
    bool written = out && fputs(config_text, out) >= 0;
    if (out && fclose(out) != 0)
        written = false;
    if (!written) {
        fprintf(stderr, "daemon_prepare_config: cannot write %s\n", d->config);
        return -1;
    }
    return daemon_keys(d);
}

/* ## hydra serve: the process -------------------------------------------------------------------------------------- */

static void daemon_exec(const daemon_run *d, int stdout_fd)
{
    char *binary = xasprintf("%s/hydra", support_build_dir());
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a test that crashes leaves no daemon behind */
    dup2(stdout_fd, STDOUT_FILENO);
    FILE *log = fopen(d->log, "a");
    if (log)
        dup2(fileno(log), STDERR_FILENO);
    const char *args[24] = {binary, "serve", "--config", d->config, "--listen", "127.0.0.1:0"};
    size_t count = 6;
    if (d->data[0]) {
        args[count++] = "--data";
        args[count++] = d->data;
    }
    for (size_t i = 0; i < ARRAY_LEN(d->serve_args) && d->serve_args[i]; i++)
        args[count++] = d->serve_args[i];
    execv(binary, (char *const *)args);
    _exit(127);
}

int daemon_start(daemon_run *d)
{
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0)
        return -1;
    d->pid = fork();
    if (d->pid == 0) {
        close(pipe_fds[0]);
        daemon_exec(d, pipe_fds[1]);
    }
    close(pipe_fds[1]);
    FILE *output = fdopen(pipe_fds[0], "r");
    char line[256] = "";
    bool answered = output && fgets(line, sizeof line, output);
    if (output)
        fclose(output);
    if (!answered || sscanf(line, "hydra: listening on http://127.0.0.1:%d/api/v1", &d->port) != 1) {
        fprintf(stderr, "daemon_start: the daemon did not start; its log is %s\n", d->log);
        daemon_stop(d, SIGKILL);
        return -1;
    }
    return 0;
}

int daemon_stop(daemon_run *d, int signal_number)
{
    if (d->pid <= 0)
        return -1;
    kill(d->pid, signal_number);
    int status = -1;
    waitpid(d->pid, &status, 0);
    d->pid = 0;
    return status;
}

void daemon_cleanup(daemon_run *d)
{
    daemon_stop(d, SIGTERM);
    if (d->dir[0]) {
        char *line = xasprintf("rm -rf %s", d->dir);
        support_run(line, NULL);
        free(line);
    }
}

reply daemon_call(const daemon_run *d, const char *method, const char *path, const char *key, const char *body,
                  const char *extra)
{
    char *body_file = body ? xstrdup(support_write_temp(body)) : NULL;
    char headers_file[96];
    format_into(headers_file, sizeof headers_file, "%s/headers", d->dir);
    char *auth = key ? xasprintf("-H 'Authorization: Bearer %s'", key) : xstrdup("");
    char *data = body_file ? xasprintf("-H 'Content-Type: application/json' --data-binary @%s", body_file)
                           : xstrdup("");
    char *line = xasprintf("curl -s -D %s -X %s %s %s %s -w '\\n%%{http_code}' 'http://127.0.0.1:%d%s'", headers_file,
                           method, auth, data, extra ? extra : "", d->port, path);
    const char *output;
    reply r = {-1, NULL, ""};
    const char *last = support_run(line, &output) == 0 ? strrchr(output, '\n') : NULL;
    if (last) {
        r.status = atoi(last + 1);
        json_error_t ignored;
        r.json = json_loadb(output, (size_t)(last - output), 0, &ignored);
    }
    FILE *file = fopen(headers_file, "r");
    if (file) {
        r.headers[fread(r.headers, 1, sizeof r.headers - 1, file)] = '\0';
        fclose(file);
    }
    if (body_file)
        unlink(body_file);
    free(body_file);
    free(auth);
    free(data);
    free(line);
    return r;
}

json_t *daemon_recommendation(const daemon_run *d, const char *id)
{
    char *path = xasprintf("/api/v1/recommendations/%s", id);
    reply r = daemon_call(d, "GET", path, d->reader_key, NULL, NULL);
    free(path);
    if (r.status == 200)
        return r.json;
    json_decref(r.json);
    return NULL;
}

char *daemon_text(const daemon_run *d, const char *path, const char *key)
{
    char *line = xasprintf("curl -sf -H 'Authorization: Bearer %s' 'http://127.0.0.1:%d%s'", key, d->port, path);
    const char *output;
    int status = support_run(line, &output);
    free(line);
    return status == 0 ? xstrdup(output) : NULL;
}

int daemon_surge_to_pending(const daemon_run *d, double load, double seconds_ahead, char *id, size_t size)
{
    char *body = xasprintf("[{\"service\":\"donations-api\",\"ts\":%.0f,\"value\":%.0f}]",
                           (double)time(NULL) + seconds_ahead, load);
    reply r = daemon_call(d, "POST", "/api/v1/ingest/metrics", d->admin_key, body, NULL);
    free(body);
    json_decref(r.json);
    if (r.status != 200) {
        fprintf(stderr, "daemon_surge_to_pending: ingest answered %d\n", r.status);
        return -1;
    }
    r = daemon_call(d, "GET", "/api/v1/recommendations?status=pending", d->reader_key, NULL, NULL);
    const char *found = json_string_value(
        json_object_get(json_array_get(json_object_get(r.json, "recommendations"), 0), "id"));
    format_into(id, size, "%s", found ? found : "");
    json_decref(r.json);
    return found ? 0 : -1;
}

/* ## A fast client -------------------------------------------------------------------------------------------------- */

struct api_client {
    CURL *curl;
    int port;
    struct curl_slist *auth;
    char *body;
    size_t length;
};

static size_t keep_body(char *data, size_t size, size_t count, void *context)
{
    api_client *client = context;
    client->body = xrealloc(client->body, client->length + size * count + 1);
    memcpy(client->body + client->length, data, size * count);
    client->length += size * count;
    client->body[client->length] = '\0';
    return size * count;
}

api_client *api_client_open(int port, const char *key)
{
    api_client *client = xcalloc(1, sizeof *client);
    client->curl = curl_easy_init();
    client->port = port;
    char *auth = xasprintf("Authorization: Bearer %s", key);
    client->auth = curl_slist_append(NULL, auth);
    free(auth);
    curl_easy_setopt(client->curl, CURLOPT_WRITEFUNCTION, keep_body);
    curl_easy_setopt(client->curl, CURLOPT_WRITEDATA, client);
    curl_easy_setopt(client->curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(client->curl, CURLOPT_NOSIGNAL, 1L);
    return client;
}

void api_client_close(api_client *client)
{
    if (!client)
        return;
    curl_easy_cleanup(client->curl);
    curl_slist_free_all(client->auth);
    free(client->body);
    free(client);
}

static int perform(api_client *client, const char *path, struct curl_slist *headers)
{
    char *url = xasprintf("http://127.0.0.1:%d%s", client->port, path);
    curl_easy_setopt(client->curl, CURLOPT_URL, url);
    curl_easy_setopt(client->curl, CURLOPT_HTTPHEADER, headers ? headers : client->auth);
    client->length = 0;
    if (client->body)
        client->body[0] = '\0';
    long status = 0;
    if (curl_easy_perform(client->curl) == CURLE_OK)
        curl_easy_getinfo(client->curl, CURLINFO_RESPONSE_CODE, &status);
    free(url);
    return (int)status;
}

int api_client_post(api_client *client, const char *path, const char *body, const char *idempotency_key)
{
    struct curl_slist *headers = curl_slist_append(NULL, client->auth->data);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    char *key = idempotency_key ? xasprintf("Idempotency-Key: %s", idempotency_key) : NULL;
    if (key)
        headers = curl_slist_append(headers, key);
    curl_easy_setopt(client->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(client->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    int status = perform(client, path, headers);
    curl_slist_free_all(headers);
    free(key);
    return status;
}

int api_client_get(api_client *client, const char *path)
{
    curl_easy_setopt(client->curl, CURLOPT_HTTPGET, 1L);
    return perform(client, path, NULL);
}

const char *api_client_body(const api_client *client) { return client->body ? client->body : ""; }

/* ## Reading samples back ---------------------------------------------------------------------------------------- */

typedef struct sample_tally {
    long count;
    long distinct;
    double last;
} sample_tally;

static int tally_sample(void *context, double ts, double value)
{
    (void)value;
    sample_tally *tally = context;
    tally->distinct += tally->count == 0 || ts != tally->last; /* the store hands them out in time order */
    tally->count++;
    tally->last = ts;
    return 0;
}

long store_count_samples(const char *store_name, const char *settings, const char *service, double from, double to,
                         long *distinct)
{
    support_plugin plugin;
    sample_tally tally = {0, 0, 0};
    int status = -1;
    if (support_plugin_open(&plugin, "store", store_name, settings)) {
        const hydra_store_ops *ops = instance_module(plugin.instance)->descriptor->ops;
        status = ops->query_samples(instance_state(plugin.instance), "default", service, "requests_per_second", from,
                                    to, tally_sample, &tally);
    }
    if (status != 0)
        fprintf(stderr, "store_count_samples: store %s: %s\n", store_name,
                plugin.instance ? instance_error(plugin.instance) : plugin.error);
    support_plugin_close(&plugin);
    *distinct = tally.distinct;
    return status == 0 ? tally.count : -1;
}

/* ## Faults ------------------------------------------------------------------------------------------------------ */

#define STREAM_BATCH 100
#define STREAM_BATCHES_MAX 2000

typedef struct stream {
    pid_t daemon;
    int kill_after; /* acknowledged batches */
    _Atomic int acknowledged;
} stream;

/* Kills the daemon once the stream has some acknowledged batches, while the next request is under way. */
static void *kill_midstream(void *context)
{
    stream *s = context;
    while (s->acknowledged < s->kill_after)
        usleep(200);
    usleep((useconds_t)(random() % 3000));
    kill(s->daemon, SIGKILL);
    return NULL;
}

static char *stream_batch(double base, int index)
{
    char *body = xstrdup("[");
    for (int i = 0; i < STREAM_BATCH; i++) {
        char *more = xasprintf("%s%s{\"service\":\"kill-stream\",\"ts\":%.0f,\"value\":%d}", body, i ? "," : "",
                               base + index * STREAM_BATCH + i, i);
        free(body);
        body = more;
    }
    char *closed = xasprintf("%s]", body);
    free(body);
    return closed;
}

/* The same batch with the same key, to the daemon running now. */
static int stream_resend(const daemon_run *d, double base, int index, char *answer, size_t size)
{
    api_client *client = api_client_open(d->port, d->admin_key);
    char *body = stream_batch(base, index), key[32];
    format_into(key, sizeof key, "kill-%d", index);
    int status = api_client_post(client, "/api/v1/ingest/metrics", body, key);
    format_into(answer, size, "%s", api_client_body(client));
    free(body);
    api_client_close(client);
    return status;
}

static long stream_count(const char *store_name, const char *settings, double base, long *distinct)
{
    return store_count_samples(store_name, settings, "kill-stream", base, base + STREAM_BATCH * STREAM_BATCHES_MAX,
                               distinct);
}

int fault_kill_during_ingest(daemon_run *d, const char *store_name, const char *store_settings, kill_outcome *out)
{
    memset(out, 0, sizeof *out);
    out->batch = STREAM_BATCH;
    double base = (double)time(NULL) - 3 * 3600;
    srandom((unsigned)getpid() ^ (unsigned)time(NULL)); /* the kill lands somewhere else each run */
    stream s = {d->pid, 20 + (int)(random() % 20), 0};
    pthread_t killer;
    pthread_create(&killer, NULL, kill_midstream, &s);
    api_client *client = api_client_open(d->port, d->admin_key);
    char first_answer[256] = "", key[32];
    for (int i = 0; i < STREAM_BATCHES_MAX; i++) {
        char *body = stream_batch(base, i);
        format_into(key, sizeof key, "kill-%d", i);
        int status = api_client_post(client, "/api/v1/ingest/metrics", body, key);
        free(body);
        if (status != 200)
            break;
        format_into(first_answer, sizeof first_answer, "%s", api_client_body(client));
        s.acknowledged++;
    }
    api_client_close(client);
    pthread_join(killer, NULL);
    daemon_stop(d, SIGKILL);
    out->acknowledged = s.acknowledged;
    long ignored;
    if (daemon_start(d) != 0 || (out->before_retry = stream_count(store_name, store_settings, base, &ignored)) < 0)
        return -1;
    char answer[256];
    out->retry_status = stream_resend(d, base, out->acknowledged, answer, sizeof answer);
    out->replay_status = stream_resend(d, base, out->acknowledged - 1, answer, sizeof answer);
    out->replay_same = strcmp(answer, first_answer) == 0;
    out->stored = stream_count(store_name, store_settings, base, &out->distinct);
    return out->stored < 0 ? -1 : 0;
}

bool kill_outcome_holds(const kill_outcome *out, char *report, size_t size)
{
    long acknowledged = out->acknowledged * out->batch, expected = acknowledged + out->batch;
    /* the batch in flight at the kill is all there or not at all; after its retry it is there once */
    bool holds = out->acknowledged >= 20 && (out->before_retry == acknowledged || out->before_retry == expected) &&
                 out->retry_status == 200 && out->replay_status == 200 && out->replay_same &&
                 out->stored == expected && out->distinct == expected;
    format_into(report, size,
                "killed after %d acknowledged batches of %ld; %ld samples stored after the restart, %ld (%ld "
                "different) after the retry (%d) and the replay (%d, %s answer); expected %ld",
                out->acknowledged, out->batch, out->before_retry, out->stored, out->distinct, out->retry_status,
                out->replay_status, out->replay_same ? "same" : "another", expected);
    return holds;
}
