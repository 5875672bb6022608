#include "client.h"

#include "clock.h"
#include "util.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2

typedef struct client_reply {
    long status;
    char *body;
    size_t length;
} client_reply;

static size_t collect(char *data, size_t size, size_t count, void *context)
{
    client_reply *reply = context;
    size_t bytes = size * count;
    reply->body = xrealloc(reply->body, reply->length + bytes + 1);
    memcpy(reply->body + reply->length, data, bytes);
    reply->length += bytes;
    reply->body[reply->length] = '\0';
    return bytes;
}

/* One request to the daemon; -1 (said on stderr) when it cannot be reached. */
static int request(const char *url, const char *method, const char *path, const char *key, const char *body,
                   client_reply *reply)
{
    CURL *curl = curl_easy_init();
    char *full = xasprintf("%s%s", url, path);
    char *auth = xasprintf("Authorization: Bearer %s", key);
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, full);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    if (body)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    CURLcode code = curl_easy_perform(curl);
    if (code == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    else
        fprintf(stderr, "hydra: cannot reach the daemon at %s: %s (is `hydra serve` running there?)\n", url,
                curl_easy_strerror(code));
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    free(auth);
    free(full);
    return code == CURLE_OK ? 0 : -1;
}

/* The daemon's answer as JSON, or NULL after saying why on stderr (a refused key, a 4xx, a 5xx). */
static json_t *answer(const client_reply *reply)
{
    json_error_t ignored;
    json_t *json = reply->body ? json_loads(reply->body, 0, &ignored) : NULL;
    if (reply->status >= 200 && reply->status < 300 && json)
        return json;
    const char *why = json_string_value(json_object_get(json, "error"));
    if (reply->status == 401 || reply->status == 403)
        fprintf(stderr, "hydra: the daemon refused the key (%ld): %s\n", reply->status, why ? why : "");
    else
        fprintf(stderr, "hydra: the daemon answered %ld: %s\n", reply->status, why ? why : "(no reason given)");
    json_decref(json);
    return NULL;
}

static void print_row(json_t *rec)
{
    char created[32];
    clock_format_time(json_number_value(json_object_get(rec, "created_at")), created, sizeof created);
    printf("%-24s %-16s %-9s %4lld -> %-4lld %s  %s\n", json_string_value(json_object_get(rec, "id")),
           json_string_value(json_object_get(rec, "target")), json_string_value(json_object_get(rec, "state")),
           json_integer_value(json_object_get(rec, "from_replicas")),
           json_integer_value(json_object_get(rec, "to_replicas")), created,
           json_string_value(json_object_get(rec, "reason")));
}

static void print_details(json_t *rec)
{
    print_row(rec);
    const char *decided_by = json_string_value(json_object_get(rec, "decided_by"));
    if (decided_by && decided_by[0])
        printf("  decided by %s: %s\n", decided_by, json_string_value(json_object_get(rec, "decision_reason")));
    size_t i;
    json_t *event;
    json_array_foreach(json_object_get(rec, "events"), i, event) {
        char at[32];
        clock_format_time(json_number_value(json_object_get(event, "at")), at, sizeof at);
        printf("  %s  %-9s -> %-9s by %s: %s\n", at, json_string_value(json_object_get(event, "from")),
               json_string_value(json_object_get(event, "to")), json_string_value(json_object_get(event, "by")),
               json_string_value(json_object_get(event, "why")));
    }
}

typedef struct client_args {
    const char *action, *id, *url, *status, *reason;
} client_args;

static int parse_args(int argc, char **argv, client_args *a)
{
    memset(a, 0, sizeof *a);
    a->url = "http://127.0.0.1:8080";
    for (int i = 1; i < argc; i++) {
        const char **slot = strcmp(argv[i], "--url") == 0      ? &a->url
                            : strcmp(argv[i], "--status") == 0 ? &a->status
                            : strcmp(argv[i], "--reason") == 0 ? &a->reason
                                                               : NULL;
        if (slot && i + 1 >= argc) {
            fprintf(stderr, "hydra: recommendations: %s needs a value (see 'hydra --help')\n", argv[i]);
            return EXIT_USAGE;
        }
        if (slot)
            *slot = argv[++i];
        else if (!a->action)
            a->action = argv[i];
        else if (!a->id)
            a->id = argv[i];
        else {
            fprintf(stderr, "hydra: recommendations: unexpected argument '%s' (see 'hydra --help')\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    bool known = a->action && (strcmp(a->action, "list") == 0 || strcmp(a->action, "show") == 0 ||
                               strcmp(a->action, "approve") == 0 || strcmp(a->action, "reject") == 0);
    if (!known || (strcmp(a->action, "list") != 0 && !a->id)) {
        fprintf(stderr, "hydra: recommendations: list, or show|approve|reject ID (see 'hydra --help')\n");
        return EXIT_USAGE;
    }
    return 0;
}

static int run_action(const client_args *a, const char *key)
{
    char *path = strcmp(a->action, "list") == 0
                     ? xasprintf("/api/v1/recommendations%s%s", a->status ? "?status=" : "", a->status ? a->status : "")
                 : strcmp(a->action, "show") == 0 ? xasprintf("/api/v1/recommendations/%s", a->id)
                                                  : xasprintf("/api/v1/recommendations/%s/%s", a->id, a->action);
    bool decide = a->action[0] == 'a' || a->action[0] == 'r';
    json_t *reason = decide && a->reason ? json_pack("{s:s}", "reason", a->reason) : NULL;
    char *body = reason ? json_dumps(reason, JSON_COMPACT) : NULL;
    client_reply reply = {0, NULL, 0};
    int status = request(a->url, decide ? "POST" : "GET", path, key, body ? body : (decide ? "" : NULL), &reply);
    json_t *json = status == 0 ? answer(&reply) : NULL;
    if (json && strcmp(a->action, "list") == 0) {
        size_t i;
        json_t *rec;
        json_array_foreach(json_object_get(json, "recommendations"), i, rec) print_row(rec);
    } else if (json && strcmp(a->action, "show") == 0) {
        print_details(json);
    } else if (json) {
        printf("%s: %s\n", a->id, json_string_value(json_object_get(json, "state")));
    }
    int exit_status = json ? 0 : 1;
    json_decref(json);
    json_decref(reason);
    free(body);
    free(reply.body);
    free(path);
    return exit_status;
}

int client_recommendations(int argc, char **argv)
{
    client_args a;
    int status = parse_args(argc, argv, &a);
    if (status != 0)
        return status;
    const char *key = getenv("HYDRA_API_KEY");
    if (!key || !key[0]) {
        fprintf(stderr, "hydra: recommendations: set HYDRA_API_KEY to a key (hydra keys create)\n");
        return EXIT_USAGE;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    status = run_action(&a, key);
    curl_global_cleanup();
    return status;
}
