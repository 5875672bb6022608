/* scaler kubernetes: scales Deployments and StatefulSets through their scale subresource (autoscaling/v1 Scale),
 * as `kubectl scale --current-replicas` does, and posts an Event on the workload for every action.
 *
 * Where the API is: `kubeconfig` (a kubeconfig file: its current-context, or `context`; a token, a token file or a
 * client certificate; the cluster's CA), else the cluster the process runs in (KUBERNETES_SERVICE_HOST and
 * KUBERNETES_SERVICE_PORT, the service account's token, CA and namespace files, each path a setting).
 *
 * Which workload a target is: `workloads`, a list "TARGET=KIND/NAME" or "TARGET=KIND/NAMESPACE/NAME" separated by
 * commas, KIND deployment or statefulset; a target not listed is the Deployment of its own name in `namespace`.
 *
 * A scale reads the Scale and acts only on the difference, sending the resourceVersion it read; a 409 means someone
 * changed it meanwhile: read again and decide again (a change that already went our way is left alone). 429, 5xx
 * and transport errors are retried with backoff (Retry-After when given) until `deadline`. A workload annotated
 * hydra.io/paused: "true" is reported paused and never scaled. */
#include <hydra/plugin.h>

#include "../common/body_buffer.h"
#include "../common/scale_request.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#define SERVICE_ACCOUNT_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define PAUSED_ANNOTATION "hydra.io/paused"
#define ANSWER_MAX (8u << 20)
#define BACKOFF_CAP_SECONDS 8.0
#define CONFLICT_LIMIT 10 /* re-reads after 409 before giving up: each means another writer won a race */
#define REASON_MAX 512

typedef enum workload_kind { WORKLOAD_DEPLOYMENT, WORKLOAD_STATEFULSET } workload_kind;

static const struct {
    const char *word;     /* in the workloads setting */
    const char *plural;   /* in the URL */
    const char *kind;     /* in an Event's involvedObject */
} KINDS[] = {
    [WORKLOAD_DEPLOYMENT] = {"deployment", "deployments", "Deployment"},
    [WORKLOAD_STATEFULSET] = {"statefulset", "statefulsets", "StatefulSet"},
};

typedef struct workload {
    char *target; /* NULL for one made up for an unlisted target */
    workload_kind kind;
    char *namespace;
    char *name;
} workload;

typedef struct blob {
    unsigned char *data;
    size_t length;
} blob;

/* How to reach and authenticate to the API server. */
typedef struct credentials {
    char *server; /* https://host:port, no trailing slash */
    char *ca_file;
    blob ca_data;
    bool insecure;
    char *token;
    char *token_file; /* read at every request: projected tokens rotate */
    char *cert_file, *key_file;
    blob cert_data, key_data;
} credentials;

typedef struct kubernetes {
    const hydra_host *host;
    credentials auth;
    char *namespace;
    workload *workloads;
    size_t workload_count;
    long timeout_ms;
    double deadline_seconds;
    double backoff_seconds;
    char reporting_instance[128];
    unsigned event_serial;
    int actions_metric, conflicts_metric, retries_metric;
} kubernetes;

/* ## Small helpers ------------------------------------------------------------------------------------------------ */

static void blob_free(blob *b)
{
    free(b->data);
    *b = (blob){0};
}

static void credentials_free(credentials *c)
{
    free(c->server);
    free(c->ca_file);
    free(c->token);
    free(c->token_file);
    free(c->cert_file);
    free(c->key_file);
    blob_free(&c->ca_data);
    blob_free(&c->cert_data);
    blob_free(&c->key_data);
    *c = (credentials){0};
}

static char *text_copy(const char *text) { return text ? strdup(text) : NULL; }

/* Seconds on a clock that only moves forward: deadlines of network calls are real time even in a simulation. */
static double monotonic_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void sleep_seconds(double seconds)
{
    struct timespec wait = {(time_t)seconds, (long)((seconds - floor(seconds)) * 1e9)};
    while (nanosleep(&wait, &wait) != 0 && errno == EINTR) {
    }
}

/* A whole file, NUL-terminated; NULL when it cannot be read. */
static char *file_read(const char *path, size_t *length)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return NULL;
    char *data = NULL;
    size_t used = 0, size = 0;
    for (;;) {
        if (used + 4096 + 1 > size) {
            size = size ? 2 * size : 8192;
            char *grown = realloc(data, size);
            if (!grown) {
                free(data);
                fclose(file);
                return NULL;
            }
            data = grown;
        }
        size_t got = fread(data + used, 1, size - used - 1, file);
        used += got;
        if (got == 0)
            break;
    }
    bool failed = ferror(file);
    fclose(file);
    if (failed) {
        free(data);
        return NULL;
    }
    data[used] = '\0';
    if (length)
        *length = used;
    return data;
}

static void trim_end(char *text)
{
    size_t length = strlen(text);
    while (length > 0 && isspace((unsigned char)text[length - 1]))
        text[--length] = '\0';
}

/* Base64 (a kubeconfig's *-data fields) into a blob; -1 when it is not base64. */
static int base64_decode(const char *text, blob *out)
{
    size_t length = strlen(text);
    char *clean = malloc(length + 1);
    if (!clean)
        return -1;
    size_t used = 0;
    for (size_t i = 0; i < length; i++)
        if (!isspace((unsigned char)text[i]))
            clean[used++] = text[i];
    clean[used] = '\0';
    out->data = malloc(used / 4 * 3 + 3);
    int decoded = used % 4 == 0 && out->data ? EVP_DecodeBlock(out->data, (unsigned char *)clean, (int)used) : -1;
    if (decoded >= 0) /* EVP_DecodeBlock counts the padding as zero bytes */
        decoded -= (used > 0 && clean[used - 1] == '=') + (used > 1 && clean[used - 2] == '=');
    free(clean);
    if (decoded < 0) {
        blob_free(out);
        return -1;
    }
    out->length = (size_t)decoded;
    return 0;
}

/* DNS-1123: a label (namespaces) when dots are not allowed, else a subdomain (object names). */
static bool dns_name_valid(const char *name, bool dots)
{
    size_t length = strlen(name);
    if (length == 0 || length > (dots ? 253u : 63u) || !isalnum((unsigned char)name[0]) ||
        !isalnum((unsigned char)name[length - 1]))
        return false;
    for (size_t i = 0; i < length; i++) {
        char c = name[i];
        if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-' || (dots && c == '.')))
            return false;
    }
    return true;
}

/* ## The workloads setting --------------------------------------------------------------------------------------- */

static void workload_free(workload *w)
{
    free(w->target);
    free(w->namespace);
    free(w->name);
}

static char *trimmed(char *text)
{
    while (isspace((unsigned char)*text))
        text++;
    trim_end(text);
    return text;
}

/* One entry "TARGET=KIND/[NAMESPACE/]NAME" (already trimmed) into w; a reason in why when it is not one. */
static int workload_parse(char *entry, const char *namespace, workload *w, char *why, size_t why_size)
{
    char *equals = strchr(entry, '=');
    if (equals)
        *equals = '\0';
    if (!equals || !trimmed(entry)[0]) {
        snprintf(why, why_size, "expected TARGET=KIND/NAME or TARGET=KIND/NAMESPACE/NAME");
        return -1;
    }
    entry = trimmed(entry);
    char *kind = trimmed(equals + 1), *first = strchr(kind, '/');
    char *second = first ? strchr(first + 1, '/') : NULL;
    if (!first || (second && strchr(second + 1, '/'))) {
        snprintf(why, why_size, "expected KIND/NAME or KIND/NAMESPACE/NAME after '='");
        return -1;
    }
    *first = '\0';
    if (second)
        *second = '\0';
    int found = -1;
    for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++)
        if (strcmp(kind, KINDS[i].word) == 0)
            found = (int)i;
    if (found < 0) {
        snprintf(why, why_size, "kind must be deployment or statefulset, not '%s'", kind);
        return -1;
    }
    const char *space = second ? first + 1 : namespace, *name = second ? second + 1 : first + 1;
    if (!dns_name_valid(space, false)) {
        snprintf(why, why_size, "'%s' is not a namespace name (lowercase letters, digits and '-')", space);
        return -1;
    }
    if (!dns_name_valid(name, true)) {
        snprintf(why, why_size, "'%s' is not a workload name (lowercase letters, digits, '-' and '.')", name);
        return -1;
    }
    *w = (workload){strdup(entry), (workload_kind)found, strdup(space), strdup(name)};
    return 0;
}

static int workloads_parse(kubernetes *self, const char *setting)
{
    const hydra_host *host = self->host;
    char *copy = strdup(setting), *save = NULL;
    size_t count = 1;
    for (const char *c = setting; *c; c++)
        count += *c == ',';
    self->workloads = calloc(count, sizeof *self->workloads);
    if (!copy || !self->workloads) {
        free(copy);
        host->set_error(host, "out of memory");
        return -1;
    }
    int index = 0;
    for (char *entry = strtok_r(copy, ",", &save); entry; entry = strtok_r(NULL, ",", &save)) {
        index++;
        char original[256], why[256];
        entry = trimmed(entry);
        snprintf(original, sizeof original, "%s", entry);
        if (!entry[0])
            continue;
        if (workload_parse(entry, self->namespace, &self->workloads[self->workload_count], why, sizeof why) != 0) {
            host->set_error(host, "setting 'workloads', entry %d ('%s'): %s", index, original, why);
            free(copy);
            return -1;
        }
        for (size_t i = 0; i < self->workload_count; i++)
            if (strcmp(self->workloads[i].target, self->workloads[self->workload_count].target) == 0) {
                host->set_error(host, "setting 'workloads', entry %d ('%s'): target '%s' is listed twice", index,
                                original, self->workloads[i].target);
                workload_free(&self->workloads[self->workload_count]);
                free(copy);
                return -1;
            }
        self->workload_count++;
    }
    free(copy);
    return 0;
}

/* The workload of a target: from the setting, else the Deployment of the target's name in the namespace. */
static int workload_of(kubernetes *self, const char *target, workload *out)
{
    for (size_t i = 0; i < self->workload_count; i++)
        if (strcmp(self->workloads[i].target, target) == 0) {
            *out = self->workloads[i];
            return 0;
        }
    if (!dns_name_valid(target, true)) {
        self->host->set_error(self->host, "target '%s' is not a Kubernetes name: map it to its workload in the "
                                          "setting 'workloads'", target);
        return -1;
    }
    *out = (workload){NULL, WORKLOAD_DEPLOYMENT, self->namespace, (char *)target};
    return 0;
}

/* ## kubeconfig (YAML, read with libyaml) ------------------------------------------------------------------------ */

typedef struct kubeconfig {
    const char *path;
    yaml_document_t document;
    char error[REASON_MAX];
} kubeconfig;

static yaml_node_t *yaml_member(kubeconfig *k, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
        yaml_node_t *name = yaml_document_get_node(&k->document, pair->key);
        if (name && name->type == YAML_SCALAR_NODE && strcmp((const char *)name->data.scalar.value, key) == 0)
            return yaml_document_get_node(&k->document, pair->value);
    }
    return NULL;
}

static const char *yaml_text(kubeconfig *k, yaml_node_t *map, const char *key)
{
    yaml_node_t *node = yaml_member(k, map, key);
    return node && node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value : NULL;
}

static int yaml_line(const yaml_node_t *node) { return node ? (int)node->start_mark.line + 1 : 1; }

/* The inner mapping (`cluster`, `user` or `context`) of the entry of list `list` called name. */
static yaml_node_t *yaml_entry(kubeconfig *k, yaml_node_t *root, const char *list, const char *inner,
                               const char *name, yaml_node_t *referrer)
{
    yaml_node_t *items = yaml_member(k, root, list);
    if (items && items->type == YAML_SEQUENCE_NODE)
        for (yaml_node_item_t *item = items->data.sequence.items.start; item < items->data.sequence.items.top;
             item++) {
            yaml_node_t *entry = yaml_document_get_node(&k->document, *item);
            const char *entry_name = yaml_text(k, entry, "name");
            if (entry_name && strcmp(entry_name, name) == 0) {
                yaml_node_t *found = yaml_member(k, entry, inner);
                if (!found || found->type != YAML_MAPPING_NODE)
                    snprintf(k->error, sizeof k->error, "%s:%d: %s '%s' has no '%s' mapping", k->path,
                             yaml_line(entry), list, name, inner);
                return found && found->type == YAML_MAPPING_NODE ? found : NULL;
            }
        }
    snprintf(k->error, sizeof k->error, "%s:%d: '%s' is not in %s", k->path, yaml_line(referrer), name, list);
    return NULL;
}

/* A path in a kubeconfig is relative to the kubeconfig's folder, as kubectl reads it. */
static char *path_beside(const char *kubeconfig_path, const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    const char *slash = strrchr(kubeconfig_path, '/');
    int folder = slash ? (int)(slash - kubeconfig_path) : 1;
    char *joined = NULL;
    if (asprintf(&joined, "%.*s/%s", folder, slash ? kubeconfig_path : ".", path) < 0)
        return NULL;
    return joined;
}

/* The file field, or the base64 *-data field, of a TLS item; 0 when neither is set. */
static int tls_item(kubeconfig *k, yaml_node_t *map, const char *file_key, const char *data_key, char **file,
                    blob *data)
{
    const char *path = yaml_text(k, map, file_key), *encoded = yaml_text(k, map, data_key);
    if (encoded && base64_decode(encoded, data) != 0) {
        snprintf(k->error, sizeof k->error, "%s:%d: '%s' is not base64", k->path,
                 yaml_line(yaml_member(k, map, data_key)), data_key);
        return -1;
    }
    if (!encoded && path)
        *file = path_beside(k->path, path);
    return 0;
}

static int kubeconfig_cluster(kubeconfig *k, yaml_node_t *cluster, credentials *out)
{
    const char *server = yaml_text(k, cluster, "server");
    if (!server || (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)) {
        snprintf(k->error, sizeof k->error, "%s:%d: the cluster needs 'server', an https:// address", k->path,
                 yaml_line(cluster));
        return -1;
    }
    out->server = strdup(server);
    size_t length = strlen(out->server);
    while (length > 0 && out->server[length - 1] == '/')
        out->server[--length] = '\0';
    const char *insecure = yaml_text(k, cluster, "insecure-skip-tls-verify");
    out->insecure = insecure && strcmp(insecure, "true") == 0;
    return tls_item(k, cluster, "certificate-authority", "certificate-authority-data", &out->ca_file, &out->ca_data);
}

static int kubeconfig_user(kubeconfig *k, yaml_node_t *user, const char *user_name, credentials *out)
{
    if (yaml_member(k, user, "exec") || yaml_member(k, user, "auth-provider")) {
        yaml_node_t *program = yaml_member(k, user, "exec") ? yaml_member(k, user, "exec")
                                                            : yaml_member(k, user, "auth-provider");
        snprintf(k->error, sizeof k->error, "%s:%d: user '%s' gets its credentials from a program (exec or "
                 "auth-provider), which hydra does not run: give it a token, a tokenFile or a client certificate",
                 k->path, yaml_line(program), user_name);
        return -1;
    }
    out->token = text_copy(yaml_text(k, user, "token"));
    const char *token_file = yaml_text(k, user, "tokenFile");
    if (!out->token && token_file)
        out->token_file = path_beside(k->path, token_file);
    if (tls_item(k, user, "client-certificate", "client-certificate-data", &out->cert_file, &out->cert_data) != 0 ||
        tls_item(k, user, "client-key", "client-key-data", &out->key_file, &out->key_data) != 0)
        return -1;
    bool has_cert = out->cert_file || out->cert_data.data, has_key = out->key_file || out->key_data.data;
    if (has_cert != has_key) {
        snprintf(k->error, sizeof k->error, "%s:%d: user '%s' has a client %s without its %s", k->path,
                 yaml_line(user), user_name, has_cert ? "certificate" : "key", has_cert ? "key" : "certificate");
        return -1;
    }
    return 0;
}

static int kubeconfig_load(kubeconfig *k, const char *context_name, credentials *out, char **namespace)
{
    yaml_parser_t parser;
    FILE *file = fopen(k->path, "rb");
    if (!file) {
        snprintf(k->error, sizeof k->error, "%s: %s", k->path, strerror(errno));
        return -1;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, file);
    int loaded = yaml_parser_load(&parser, &k->document);
    if (!loaded)
        snprintf(k->error, sizeof k->error, "%s:%zu: not YAML: %s", k->path, parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "unreadable");
    yaml_parser_delete(&parser);
    fclose(file);
    if (!loaded)
        return -1;
    yaml_node_t *root = yaml_document_get_root_node(&k->document);
    int status = -1;
    const char *current = context_name ? context_name : yaml_text(k, root, "current-context");
    if (!root || root->type != YAML_MAPPING_NODE)
        snprintf(k->error, sizeof k->error, "%s:1: not a kubeconfig (a mapping with clusters, users, contexts)",
                 k->path);
    else if (!current || !current[0])
        snprintf(k->error, sizeof k->error, "%s:%d: no current-context: set one, or the setting 'context'", k->path,
                 yaml_line(root));
    else {
        yaml_node_t *where = yaml_member(k, root, "current-context");
        yaml_node_t *context = yaml_entry(k, root, "contexts", "context", current, where ? where : root);
        const char *cluster_name = context ? yaml_text(k, context, "cluster") : NULL;
        const char *user_name = context ? yaml_text(k, context, "user") : NULL;
        if (context && (!cluster_name || !user_name))
            snprintf(k->error, sizeof k->error, "%s:%d: context '%s' needs a cluster and a user", k->path,
                     yaml_line(context), current);
        yaml_node_t *cluster = cluster_name && user_name
                                   ? yaml_entry(k, root, "clusters", "cluster", cluster_name, context) : NULL;
        yaml_node_t *user = cluster ? yaml_entry(k, root, "users", "user", user_name, context) : NULL;
        if (user && kubeconfig_cluster(k, cluster, out) == 0 && kubeconfig_user(k, user, user_name, out) == 0) {
            const char *space = yaml_text(k, context, "namespace");
            *namespace = strdup(space && space[0] ? space : "default");
            status = 0;
        }
    }
    yaml_document_delete(&k->document);
    return status;
}

/* ## In-cluster configuration ------------------------------------------------------------------------------------ */

static int in_cluster_load(kubernetes *self, credentials *out, char **namespace)
{
    const hydra_host *host = self->host;
    const char *service_host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    const char *token_file = SERVICE_ACCOUNT_DIR "/token", *ca_file = SERVICE_ACCOUNT_DIR "/ca.crt";
    const char *namespace_file = SERVICE_ACCOUNT_DIR "/namespace";
    if (host->setting_path(host, "token_file", &token_file) < 0 || host->setting_path(host, "ca_file", &ca_file) < 0 ||
        host->setting_path(host, "namespace_file", &namespace_file) < 0)
        return -1;
    if (!service_host || !service_host[0] || !port || !port[0]) {
        host->set_error(host, "no Kubernetes API to talk to: set 'kubeconfig', or run inside a cluster "
                              "(KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set)");
        return -1;
    }
    bool ipv6 = strchr(service_host, ':') != NULL;
    if (asprintf(&out->server, "https://%s%s%s:%s", ipv6 ? "[" : "", service_host, ipv6 ? "]" : "", port) < 0) {
        out->server = NULL;
        return -1;
    }
    const char *unreadable = access(token_file, R_OK) != 0 ? token_file : access(ca_file, R_OK) != 0 ? ca_file : NULL;
    if (unreadable) {
        host->set_error(host, "in a cluster (KUBERNETES_SERVICE_HOST is set), but the service account's %s cannot be "
                              "read: %s (is automountServiceAccountToken off?)", unreadable, strerror(errno));
        return -1;
    }
    out->token_file = strdup(token_file);
    out->ca_file = strdup(ca_file);
    char *space = file_read(namespace_file, NULL);
    if (space)
        trim_end(space);
    *namespace = space && space[0] ? space : strdup("default");
    if (*namespace != space)
        free(space);
    return 0;
}

/* ## HTTP --------------------------------------------------------------------------------------------------------- */

typedef struct answer {
    long status;
    body_buffer body;
    double retry_after; /* seconds; -1 when not given */
} answer;

static size_t answer_header(char *data, size_t size, size_t count, void *context)
{
    answer *a = context;
    size_t length = size * count;
    if (length > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
        char value[32];
        snprintf(value, sizeof value, "%.*s", (int)(length - 12), data + 12);
        char *end = NULL;
        double seconds = strtod(value, &end);
        if (end != value && seconds >= 0)
            a->retry_after = seconds;
    }
    return length;
}

static void answer_free(answer *a)
{
    free(a->body.data);
    *a = (answer){0};
}

static void set_blob(CURL *curl, CURLoption option, const blob *b)
{
    struct curl_blob value = {b->data, b->length, CURL_BLOB_COPY};
    curl_easy_setopt(curl, option, &value);
}

static void set_tls(CURL *curl, const credentials *auth)
{
    if (auth->ca_data.data)
        set_blob(curl, CURLOPT_CAINFO_BLOB, &auth->ca_data);
    else if (auth->ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, auth->ca_file);
    if (auth->insecure) {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
    if (auth->cert_data.data)
        set_blob(curl, CURLOPT_SSLCERT_BLOB, &auth->cert_data);
    else if (auth->cert_file)
        curl_easy_setopt(curl, CURLOPT_SSLCERT, auth->cert_file);
    if (auth->key_data.data)
        set_blob(curl, CURLOPT_SSLKEY_BLOB, &auth->key_data);
    else if (auth->key_file)
        curl_easy_setopt(curl, CURLOPT_SSLKEY, auth->key_file);
}

/* The bearer header, the token read now when it comes from a file. Never over plain HTTP, as kubectl. */
static struct curl_slist *auth_header(const credentials *auth, struct curl_slist *headers, char *why, size_t size)
{
    if (strncmp(auth->server, "http://", 7) == 0)
        return headers;
    char *token = auth->token ? strdup(auth->token) : NULL;
    if (!auth->token && auth->token_file && !(token = file_read(auth->token_file, NULL))) {
        snprintf(why, size, "cannot read the token file %s: %s", auth->token_file, strerror(errno));
        return NULL;
    }
    if (!token)
        return headers;
    trim_end(token);
    char *line = NULL;
    if (asprintf(&line, "Authorization: Bearer %s", token) >= 0)
        headers = curl_slist_append(headers, line);
    free(line);
    free(token);
    return headers;
}

/* One request. 0 when the server answered (any status), -1 with why when it could not be asked or did not answer. */
static int http_once(kubernetes *self, const char *method, const char *path, const char *body, answer *out,
                     char *why, size_t why_size)
{
    *out = (answer){.body = {.limit = ANSWER_MAX}, .retry_after = -1};
    why[0] = '\0';
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
    headers = auth_header(&self->auth, headers, why, why_size);
    if (why[0]) {
        curl_slist_free_all(headers);
        return -1;
    }
    if (body)
        headers = curl_slist_append(headers, strcmp(method, "PATCH") == 0
                                                 ? "Content-Type: application/merge-patch+json"
                                                 : "Content-Type: application/json");
    CURL *curl = curl_easy_init();
    char *url = NULL;
    if (!curl || asprintf(&url, "%s%s", self->auth.server, path) < 0) {
        curl_easy_cleanup(curl);
        curl_slist_free_all(headers);
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    char curl_error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "hydra-scaler-kubernetes/1.0");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, self->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, body_buffer_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, answer_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, out);
    set_tls(curl, &self->auth);
    CURLcode code = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    free(url);
    if (out->body.too_large)
        snprintf(why, why_size, "%s %s: the answer is over %u MiB", method, path, ANSWER_MAX >> 20);
    else if (code != CURLE_OK)
        snprintf(why, why_size, "%s %s%s: %s", method, self->auth.server, path,
                 curl_error[0] ? curl_error : curl_easy_strerror(code));
    return code == CURLE_OK && !out->body.too_large ? 0 : -1;
}

/* What the API said: a Status' message (with its reason), else the start of a text body. */
static void answer_reason(const answer *a, char *out, size_t size)
{
    json_error_t error;
    json_t *status = a->body.data ? json_loads(a->body.data, 0, &error) : NULL;
    const char *message = json_string_value(json_object_get(status, "message"));
    const char *reason = json_string_value(json_object_get(status, "reason"));
    if (message)
        snprintf(out, size, "HTTP %ld %s: %s", a->status, reason ? reason : "", message);
    else if (a->body.data && a->body.data[0])
        snprintf(out, size, "HTTP %ld: %.200s", a->status, a->body.data);
    else
        snprintf(out, size, "HTTP %ld with no body", a->status);
    trim_end(out);
    json_decref(status);
}

static bool retryable(long status) { return status == 429 || status >= 500; }

/* A request retried on 429, 5xx and transport errors, with backoff (Retry-After when the server gives one), until
 * deadline_at (monotonic). 0 with an answer that is not worth retrying (2xx, 4xx); -1 with why otherwise. */
static int http_call(kubernetes *self, const char *method, const char *path, const char *body, double deadline_at,
                     answer *out, char *why, size_t why_size)
{
    double wait = self->backoff_seconds;
    for (int attempt = 1;; attempt++) {
        char last[REASON_MAX];
        int sent = http_once(self, method, path, body, out, last, sizeof last);
        if (sent == 0 && !retryable(out->status))
            return 0;
        if (sent == 0)
            answer_reason(out, last, sizeof last);
        double pause = out->retry_after >= 0 ? fmin(out->retry_after, BACKOFF_CAP_SECONDS) : wait;
        answer_free(out);
        if (monotonic_seconds() + pause >= deadline_at) {
            snprintf(why, why_size, "gave up after %d attempt%s within the deadline of %g s; the last answer: %s",
                     attempt, attempt == 1 ? "" : "s", self->deadline_seconds, last);
            return -1;
        }
        self->host->log(self->host, HYDRA_LOG_WARN, "%s %s: %s; retrying in %.2g s", method, path, last, pause);
        if (self->retries_metric >= 0)
            self->host->metric_add(self->host, self->retries_metric, 1);
        sleep_seconds(pause);
        wait = fmin(wait * 2, BACKOFF_CAP_SECONDS);
    }
}

/* ## Reading a workload ------------------------------------------------------------------------------------------ */

typedef struct workload_state {
    int desired;      /* the Scale's spec.replicas (absent means 0: the field is omitempty) */
    int ready;        /* the workload's status.readyReplicas */
    bool paused;
    char resource_version[64];
    char uid[64];
} workload_state;

static void workload_label(const workload *w, char *out, size_t size)
{
    snprintf(out, size, "%s %s/%s", KINDS[w->kind].word, w->namespace, w->name);
}

static char *workload_path(const workload *w, const char *subresource)
{
    char *path = NULL;
    if (asprintf(&path, "/apis/apps/v1/namespaces/%s/%s/%s%s", w->namespace, KINDS[w->kind].plural, w->name,
                 subresource) < 0)
        return NULL;
    return path;
}

static int json_int(json_t *object, const char *a, const char *b)
{
    json_t *value = json_object_get(json_object_get(object, a), b);
    return json_is_integer(value) ? (int)json_integer_value(value) : 0;
}

/* GET path into a parsed JSON document; -1 with the reason (naming the workload) when it fails. */
static json_t *get_json(kubernetes *self, const workload *w, const char *subresource, double deadline_at, char *why,
                        size_t why_size)
{
    char label[300], reason[REASON_MAX];
    workload_label(w, label, sizeof label);
    char *path = workload_path(w, subresource);
    answer a;
    json_t *document = NULL;
    if (!path) {
        snprintf(why, why_size, "out of memory");
    } else if (http_call(self, "GET", path, NULL, deadline_at, &a, reason, sizeof reason) != 0) {
        snprintf(why, why_size, "reading %s: %s", label, reason);
    } else if (a.status != 200) {
        answer_reason(&a, reason, sizeof reason);
        snprintf(why, why_size, "reading %s: %s", label, reason);
        answer_free(&a);
    } else {
        json_error_t error;
        document = json_loads(a.body.data ? a.body.data : "", 0, &error);
        if (!json_is_object(document)) {
            snprintf(why, why_size, "reading %s: the answer is not a JSON object", label);
            json_decref(document);
            document = NULL;
        }
        answer_free(&a);
    }
    free(path);
    return document;
}

static int workload_read(kubernetes *self, const workload *w, double deadline_at, workload_state *out, char *why,
                         size_t why_size)
{
    json_t *object = get_json(self, w, "", deadline_at, why, why_size);
    json_t *scale = object ? get_json(self, w, "/scale", deadline_at, why, why_size) : NULL;
    if (!scale) {
        json_decref(object);
        return -1;
    }
    json_t *meta = json_object_get(object, "metadata");
    const char *paused = json_string_value(json_object_get(json_object_get(meta, "annotations"), PAUSED_ANNOTATION));
    const char *version = json_string_value(json_object_get(json_object_get(scale, "metadata"), "resourceVersion"));
    const char *uid = json_string_value(json_object_get(meta, "uid"));
    *out = (workload_state){json_int(scale, "spec", "replicas"), json_int(object, "status", "readyReplicas"),
                            paused && strcmp(paused, "true") == 0, "", ""};
    snprintf(out->resource_version, sizeof out->resource_version, "%s", version ? version : "");
    snprintf(out->uid, sizeof out->uid, "%s", uid ? uid : "");
    json_decref(object);
    json_decref(scale);
    return 0;
}

/* ## Events -------------------------------------------------------------------------------------------------------- */

static void time_text(double seconds, char *out, size_t size)
{
    time_t whole = (time_t)seconds;
    struct tm utc;
    gmtime_r(&whole, &utc);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &utc);
}

/* A core/v1 Event on the workload, as the HPA posts them (`kubectl describe` and `kubectl get events` show it). A
 * failure to post is logged, never the action's failure: the scale itself did or did not happen. */
static void event_post(kubernetes *self, const workload *w, const char *uid, bool warning, const char *reason,
                       const char *message)
{
    const hydra_host *host = self->host;
    double now = host->now(host);
    char stamp[32], name[320];
    time_text(now, stamp, sizeof stamp);
    snprintf(name, sizeof name, "%s.%llx%04x", w->name, (unsigned long long)(now * 1e6), self->event_serial++ & 0xffff);
    json_t *event = json_pack(
        "{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s}, s:s, s:s, s:s, s:{s:s}, s:s, s:s, s:s, s:s, s:i, s:s}",
        "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace", w->namespace, "involvedObject",
        "apiVersion", "apps/v1", "kind", KINDS[w->kind].kind, "namespace", w->namespace, "name", w->name, "uid", uid,
        "reason", reason, "message", message, "type", warning ? "Warning" : "Normal", "source", "component", "hydra",
        "reportingComponent", "hydra", "reportingInstance", self->reporting_instance, "firstTimestamp", stamp,
        "lastTimestamp", stamp, "count", 1, "action", "Scale");
    char *body = event ? json_dumps(event, JSON_COMPACT) : NULL;
    json_decref(event);
    char *path = NULL, why[REASON_MAX] = "";
    if (asprintf(&path, "/api/v1/namespaces/%s/events", w->namespace) < 0)
        path = NULL;
    answer a = {0};
    double deadline_at = monotonic_seconds() + fmin(self->deadline_seconds, 10);
    if (!body || !path)
        snprintf(why, sizeof why, "out of memory");
    else if (http_call(self, "POST", path, body, deadline_at, &a, why, sizeof why) == 0 && a.status != 201 &&
             a.status != 200)
        answer_reason(&a, why, sizeof why);
    if (why[0])
        host->log(host, HYDRA_LOG_WARN, "could not post the event %s on %s/%s: %s", reason, w->namespace, w->name,
                  why);
    answer_free(&a);
    free(path);
    free(body);
}

/* ## Operations ---------------------------------------------------------------------------------------------------- */

static int kubernetes_status(void *state, const char *target, hydra_scale_status *out)
{
    kubernetes *self = state;
    workload w;
    if (!target || !out || workload_of(self, target, &w) != 0) {
        if (!target || !out)
            self->host->set_error(self->host, "status: needs a target and somewhere to put the answer");
        return -1;
    }
    workload_state now;
    char why[REASON_MAX];
    if (workload_read(self, &w, monotonic_seconds() + self->deadline_seconds, &now, why, sizeof why) != 0) {
        self->host->set_error(self->host, "%s", why);
        return -1;
    }
    *out = (hydra_scale_status){now.desired, now.ready, now.paused};
    return 0;
}

static const char *or_dash(const char *text) { return text && text[0] ? text : "-"; }

/* The PUT of a Scale carrying the resourceVersion read: a concurrent writer makes it 409. */
static int scale_put(kubernetes *self, const workload *w, const workload_state *read, int replicas,
                     double deadline_at, answer *out, char *why, size_t why_size)
{
    json_t *scale = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:{s:i}}", "apiVersion", "autoscaling/v1", "kind",
                              "Scale", "metadata", "name", w->name, "namespace", w->namespace, "resourceVersion",
                              read->resource_version, "spec", "replicas", replicas);
    char *body = scale ? json_dumps(scale, JSON_COMPACT) : NULL;
    char *path = workload_path(w, "/scale");
    json_decref(scale);
    int status = -1;
    if (body && path)
        status = http_call(self, "PUT", path, body, deadline_at, out, why, why_size);
    else
        snprintf(why, why_size, "out of memory");
    free(body);
    free(path);
    return status;
}

typedef struct scale_outcome {
    bool done;          /* the workload ends where it should be */
    bool changed;       /* this call changed it */
    int conflicts;
    char why[2 * REASON_MAX]; /* when not done */
} scale_outcome;

/* Reconciles until the workload is at the request, a concurrent change already took it further the same way, or
 * something fails. `state` comes in as read before acting (the direction of the change is taken from it) and
 * leaves as last read or written. A PUT whose answer was lost but which did apply comes back as a 409, then as
 * "already there": nothing is ever applied twice. */
static void scale_reconcile(kubernetes *self, const workload *w, int replicas, double deadline_at,
                            workload_state *state, scale_outcome *outcome)
{
    int from = state->desired;
    char label[300];
    workload_label(w, label, sizeof label);
    for (;;) {
        bool up = replicas > from;
        if (state->desired == replicas)
            return (void)(outcome->done = true);
        if (outcome->conflicts > 0 && (up ? state->desired > replicas : state->desired < replicas)) {
            self->host->log(self->host, HYDRA_LOG_INFO, "%s was changed meanwhile to %d, past the %d asked for: "
                            "left as is", label, state->desired, replicas);
            return (void)(outcome->done = true);
        }
        if (state->paused) {
            snprintf(outcome->why, sizeof outcome->why, "refused: %s is paused (annotation %s: \"true\"); remove "
                     "the annotation to let hydra scale it", label, PAUSED_ANNOTATION);
            return;
        }
        answer a;
        char reason[REASON_MAX];
        if (scale_put(self, w, state, replicas, deadline_at, &a, reason, sizeof reason) != 0) {
            snprintf(outcome->why, sizeof outcome->why, "scaling %s to %d: %s", label, replicas, reason);
            return;
        }
        long status = a.status;
        answer_reason(&a, reason, sizeof reason);
        answer_free(&a);
        if (status == 200) {
            state->desired = replicas;
            outcome->changed = true;
            return (void)(outcome->done = true);
        }
        if (status != 409 || ++outcome->conflicts > CONFLICT_LIMIT) {
            snprintf(outcome->why, sizeof outcome->why, "scaling %s to %d: %s", label, replicas, reason);
            return;
        }
        if (self->conflicts_metric >= 0)
            self->host->metric_add(self->host, self->conflicts_metric, 1);
        self->host->log(self->host, HYDRA_LOG_INFO, "%s changed while being scaled (%s); reading it again", label,
                        reason);
        if (workload_read(self, w, deadline_at, state, reason, sizeof reason) != 0) {
            snprintf(outcome->why, sizeof outcome->why, "%s", reason);
            return;
        }
    }
}

static void report_action(kubernetes *self, const workload *w, const workload_state *state, int before,
                          const hydra_scale_request *request, const scale_outcome *outcome)
{
    char message[4 * REASON_MAX];
    if (outcome->changed)
        snprintf(message, sizeof message, "New size: %d (was %d); recommendation %s approved by %s: %s",
                 request->replicas, before, or_dash(request->recommendation_id), or_dash(request->decided_by),
                 or_dash(request->reason));
    else if (outcome->done)
        snprintf(message, sizeof message, "Left at %d: changed by someone else while hydra scaled it to %d "
                 "(recommendation %s approved by %s)", state->desired, request->replicas,
                 or_dash(request->recommendation_id), or_dash(request->decided_by));
    else
        snprintf(message, sizeof message, "Could not scale to %d for recommendation %s approved by %s: %s",
                 request->replicas, or_dash(request->recommendation_id), or_dash(request->decided_by), outcome->why);
    const char *reason = outcome->changed ? "SuccessfulRescale"
                         : outcome->done  ? "RescaleSuperseded"
                         : state->paused  ? "RescalePaused"
                                          : "FailedRescale";
    event_post(self, w, state->uid, !outcome->done, reason, message);
}

static int kubernetes_scale(void *state, const hydra_scale_request *request, hydra_scale_status *out)
{
    kubernetes *self = state;
    const hydra_host *host = self->host;
    workload w;
    if (!scale_request_valid(host, request) || workload_of(self, request->target, &w) != 0)
        return -1;
    double deadline_at = monotonic_seconds() + self->deadline_seconds;
    workload_state now;
    scale_outcome outcome = {0};
    if (workload_read(self, &w, deadline_at, &now, outcome.why, sizeof outcome.why) != 0) {
        host->set_error(host, "%s", outcome.why);
        return -1;
    }
    int before = now.desired;
    if (before == request->replicas) { /* reconciled already: no action, so no event */
        if (out)
            *out = (hydra_scale_status){now.desired, now.ready, now.paused};
        return 0;
    }
    scale_reconcile(self, &w, request->replicas, deadline_at, &now, &outcome);
    report_action(self, &w, &now, before, request, &outcome);
    if (!outcome.done) {
        host->set_error(host, "%s", outcome.why);
        return -1;
    }
    if (self->actions_metric >= 0 && outcome.changed)
        host->metric_add(host, self->actions_metric, 1);
    /* Readiness as the workload reports it after the change; the scale stands even when this read fails. */
    workload_state after = now;
    char ignored[REASON_MAX];
    if (workload_read(self, &w, monotonic_seconds() + fmin(self->deadline_seconds, 5), &after, ignored,
                      sizeof ignored) != 0)
        after = now;
    if (out)
        *out = (hydra_scale_status){after.desired, after.ready, after.paused};
    return 0;
}

/* ## Life cycle --------------------------------------------------------------------------------------------------- */

static int read_numbers(kubernetes *self)
{
    const hydra_host *host = self->host;
    double timeout = 10, deadline = 30, backoff = 0.5;
    if (host->setting_double(host, "timeout", &timeout) < 0 || host->setting_double(host, "deadline", &deadline) < 0 ||
        host->setting_double(host, "backoff", &backoff) < 0)
        return -1;
    if (!(timeout > 0 && timeout <= 300)) {
        host->set_error(host, "setting 'timeout' must be in (0, 300] seconds, not %g", timeout);
        return -1;
    }
    if (!(deadline > 0 && deadline <= 3600)) {
        host->set_error(host, "setting 'deadline' must be in (0, 3600] seconds, not %g", deadline);
        return -1;
    }
    if (!(backoff > 0 && backoff <= BACKOFF_CAP_SECONDS)) {
        host->set_error(host, "setting 'backoff' must be in (0, %g] seconds, not %g", BACKOFF_CAP_SECONDS, backoff);
        return -1;
    }
    self->timeout_ms = (long)(timeout * 1000);
    self->deadline_seconds = deadline;
    self->backoff_seconds = backoff;
    return 0;
}

static int read_connection(kubernetes *self, char **found_namespace)
{
    const hydra_host *host = self->host;
    const char *path = NULL, *context = NULL;
    int has_kubeconfig = host->setting_path(host, "kubeconfig", &path);
    if (has_kubeconfig < 0 || host->setting_string(host, "context", &context) < 0)
        return -1;
    if (has_kubeconfig > 0)
        return in_cluster_load(self, &self->auth, found_namespace);
    kubeconfig k = {.path = path};
    if (kubeconfig_load(&k, context, &self->auth, found_namespace) != 0) {
        host->set_error(host, "kubeconfig %s", k.error);
        return -1;
    }
    return 0;
}

static void kubernetes_destroy(void *state)
{
    kubernetes *self = state;
    if (!self)
        return;
    credentials_free(&self->auth);
    for (size_t i = 0; i < self->workload_count; i++)
        workload_free(&self->workloads[i]);
    free(self->workloads);
    free(self->namespace);
    free(self);
}

static void *kubernetes_create(const hydra_host *host)
{
    kubernetes *self = calloc(1, sizeof *self);
    if (!self) {
        host->set_error(host, "out of memory");
        return NULL;
    }
    self->host = host;
    const char *namespace = NULL, *workloads = "";
    char *found_namespace = NULL;
    if (read_numbers(self) != 0 || host->setting_string(host, "namespace", &namespace) < 0 ||
        host->setting_string(host, "workloads", &workloads) < 0 || read_connection(self, &found_namespace) != 0)
        goto fail;
    self->namespace = namespace ? strdup(namespace) : found_namespace;
    if (namespace)
        free(found_namespace);
    found_namespace = NULL;
    if (!self->namespace || !dns_name_valid(self->namespace, false)) {
        host->set_error(host, "setting 'namespace': '%s' is not a namespace name (lowercase letters, digits and '-')",
                        self->namespace ? self->namespace : "");
        goto fail;
    }
    if (workloads_parse(self, workloads) != 0)
        goto fail;
    if (gethostname(self->reporting_instance, sizeof self->reporting_instance - 1) != 0)
        snprintf(self->reporting_instance, sizeof self->reporting_instance, "hydra");
    self->actions_metric = host->metric_register(host, "scale_actions_total", "Workloads scaled", HYDRA_METRIC_COUNTER);
    self->conflicts_metric = host->metric_register(
        host, "kubernetes_api_conflicts_total", "Scale updates answered 409 Conflict (read again)", HYDRA_METRIC_COUNTER);
    self->retries_metric = host->metric_register(host, "kubernetes_api_retries_total",
                                                 "API requests retried after 429, 5xx or no answer",
                                                 HYDRA_METRIC_COUNTER);
    return self;
fail:
    free(found_namespace);
    kubernetes_destroy(self);
    return NULL;
}

static const hydra_scaler_ops ops = {
    .size = sizeof(hydra_scaler_ops),
    .status = kubernetes_status,
    .scale = kubernetes_scale,
};

static const hydra_plugin_descriptor descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_SCALER,
    .name = "kubernetes",
    .version = "1.0.0",
    .description = "Scales Deployments and StatefulSets through the Kubernetes scale subresource, posting Events",
    .create = kubernetes_create,
    .destroy = kubernetes_destroy,
    .ops = &ops,
};

HYDRA_PLUGIN(descriptor)
