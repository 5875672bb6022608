#include "kube_harness.h"

#include "support.h"
#include "util.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An elliptic-curve CA, then a server certificate for 127.0.0.1 and a client certificate, both signed by it. */
static int make_certificates(const char *dir)
{
    static const char script[] =
        "(set -e; cd %s; ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';"
        "openssl req -x509 $ec -keyout ca.key -out ca.pem -days 2 -subj /CN=hydra-test-ca;"
        "openssl req $ec -keyout server.key -out server.csr -subj /CN=127.0.0.1;"
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > server.ext;"
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
        "-extfile server.ext;"
        "openssl req $ec -keyout client.key -out client.csr -subj /CN=" KUBE_CLIENT_USER ";"
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2)";
    char *line = xasprintf(script, dir);
    const char *output = NULL;
    int status = support_run(line, &output);
    free(line);
    if (status != 0)
        fprintf(stderr, "kube_fake: openssl could not make the certificates: %s\n", output);
    return status == 0 ? 0 : -1;
}

int kube_fake_start(kube_fake *fake)
{
    memset(fake, 0, sizeof *fake);
    format_into(fake->dir, sizeof fake->dir, "/tmp/hydra-kube-XXXXXX");
    if (!mkdtemp(fake->dir) || make_certificates(fake->dir) != 0)
        return -1;
    format_into(fake->ca, sizeof fake->ca, "%s/ca.pem", fake->dir);
    format_into(fake->client_cert, sizeof fake->client_cert, "%s/client.pem", fake->dir);
    format_into(fake->client_key, sizeof fake->client_key, "%s/client.key", fake->dir);
    char *options = xasprintf("--cert %s/server.pem --key %s/server.key --client-ca %s --token " KUBE_ADMIN_TOKEN
                              "=alice --token " KUBE_VIEWER_TOKEN "=bob --viewer bob",
                              fake->dir, fake->dir, fake->ca);
    int status = peer_start(&fake->server, "tests/kube_fake.py", true, options);
    free(options);
    if (status != 0) {
        fprintf(stderr, "kube_fake: tests/kube_fake.py did not start\n");
        return -1;
    }
    format_into(fake->url, sizeof fake->url, "https://127.0.0.1:%d", fake->server.port);
    return 0;
}

void kube_fake_stop(kube_fake *fake)
{
    peer_stop(&fake->server);
    char *line = xasprintf("rm -rf %s", fake->dir);
    support_run(line, NULL);
    free(line);
}

static size_t keep(char *data, size_t size, size_t count, void *context)
{
    char **body = context;
    size_t had = *body ? strlen(*body) : 0;
    *body = xrealloc(*body, had + size * count + 1);
    memcpy(*body + had, data, size * count);
    (*body)[had + size * count] = '\0';
    return size * count;
}

json_t *kube_fake_call(const kube_fake *fake, const char *method, const char *path, const char *body, long *status)
{
    CURL *curl = curl_easy_init();
    char *url = xasprintf("%s%s", fake->url, path), *answer = NULL;
    struct curl_slist *headers = curl_slist_append(NULL, "Authorization: Bearer " KUBE_ADMIN_TOKEN);
    if (body)
        headers = curl_slist_append(headers, strcmp(method, "PATCH") == 0 ? "Content-Type: application/merge-patch+json"
                                                                          : "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_CAINFO, fake->ca);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
    if (body)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    long code = 0;
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    free(url);
    json_error_t error;
    json_t *document = answer ? json_loads(answer, 0, &error) : NULL;
    free(answer);
    if (status)
        *status = code;
    return document;
}

static const char *api_version_of(const char *kind)
{
    return strcmp(kind, "Deployment") == 0 || strcmp(kind, "StatefulSet") == 0 ? "apps/v1" : "v1";
}

int kube_fake_add_workload(const kube_fake *fake, const char *kind, const char *namespace, const char *name,
                           int replicas, const char *annotations)
{
    char *body = xasprintf("{\"apiVersion\":\"apps/v1\",\"kind\":\"%s\",\"metadata\":{\"name\":\"%s\",\"namespace\":"
                           "\"%s\",\"labels\":{\"app\":\"%s\"},\"annotations\":%s},\"spec\":{\"replicas\":%d,"
                           "\"selector\":{\"matchLabels\":{\"app\":\"%s\"}},\"template\":{\"metadata\":{\"labels\":"
                           "{\"app\":\"%s\"}},\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"busybox\"}]}}}}",
                           kind, name, namespace, name, annotations ? annotations : "{}", replicas, name, name);
    long status = 0;
    json_decref(kube_fake_call(fake, "POST", "/fake/objects", body, &status));
    free(body);
    if (status != 201)
        fprintf(stderr, "kube_fake: adding %s %s/%s answered %ld\n", kind, namespace, name, status);
    return status == 201 ? 0 : -1;
}

json_t *kube_fake_workload(const kube_fake *fake, const char *kind, const char *namespace, const char *name)
{
    char *path = xasprintf("/fake/objects?apiVersion=%s&kind=%s&namespace=%s&name=%s", api_version_of(kind), kind,
                           namespace, name);
    long status = 0;
    json_t *object = kube_fake_call(fake, "GET", path, NULL, &status);
    free(path);
    if (status != 200) {
        json_decref(object);
        return NULL;
    }
    return object;
}

int kube_fake_replicas(const kube_fake *fake, const char *kind, const char *namespace, const char *name)
{
    json_t *object = kube_fake_workload(fake, kind, namespace, name);
    json_t *replicas = json_object_get(json_object_get(object, "spec"), "replicas");
    int count = json_is_integer(replicas) ? (int)json_integer_value(replicas) : -1;
    json_decref(object);
    return count;
}

int kube_fake_fault(const kube_fake *fake, const char *rule)
{
    long status = 0;
    json_decref(kube_fake_call(fake, "POST", "/fake/faults", rule, &status));
    return status == 201 ? 0 : -1;
}

void kube_fake_clear_faults(const kube_fake *fake)
{
    json_decref(kube_fake_call(fake, "DELETE", "/fake/faults", NULL, NULL));
}

json_t *kube_fake_events(const kube_fake *fake, const char *namespace)
{
    char *path = xasprintf("/api/v1/namespaces/%s/events", namespace);
    json_t *list = kube_fake_call(fake, "GET", path, NULL, NULL);
    free(path);
    json_t *items = json_incref(json_object_get(list, "items"));
    json_decref(list);
    return items ? items : json_array();
}

int kube_fake_count_requests(const kube_fake *fake, const char *method, const char *suffix)
{
    json_t *all = kube_fake_call(fake, "GET", "/fake/requests", NULL, NULL);
    size_t index, suffix_length = strlen(suffix);
    json_t *request;
    int count = 0;
    json_array_foreach(all, index, request) {
        const char *path = json_string_value(json_object_get(request, "path"));
        const char *verb = json_string_value(json_object_get(request, "method"));
        size_t length = path ? strlen(path) : 0;
        count += verb && strcmp(verb, method) == 0 && length >= suffix_length &&
                 strcmp(path + length - suffix_length, suffix) == 0;
    }
    json_decref(all);
    return count;
}

const char *kube_fake_kubeconfig(const kube_fake *fake, const char *name, kube_auth auth, const char *namespace)
{
    static char path[192];
    format_into(path, sizeof path, "%s/%s", fake->dir, name);
    char *user = auth == KUBE_AUTH_CLIENT_CERT
                     ? xasprintf("    client-certificate: %s\n    client-key: %s\n", fake->client_cert,
                                 fake->client_key)
                     : xasprintf("    token: %s\n", auth == KUBE_AUTH_TOKEN ? KUBE_ADMIN_TOKEN : KUBE_VIEWER_TOKEN);
    char *space = namespace ? xasprintf("    namespace: %s\n", namespace) : xasprintf("%s", "");
    char *line = xasprintf("base64 -w0 %s", fake->ca);
    const char *ca_data = NULL;
    support_run(line, &ca_data);
    free(line);
    FILE *file = fopen(path, "w");
    if (file) {
        fprintf(file,
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: %s\n"
                "    certificate-authority-data: %s\nusers:\n- name: someone\n  user:\n%s"
                "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: someone\n%s"
                "current-context: fake\n",
                fake->url, ca_data, user, space);
        fclose(file);
    }
    free(user);
    free(space);
    return path;
}
