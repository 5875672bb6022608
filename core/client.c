#include "client.h"

#include "clock.h"
#include "keys.h"
#include "record_json.h"
#include "samples_csv.h"
#include "util.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define INGEST_BATCH_DEFAULT 5000
#define INGEST_BATCH_MAX 100000 /* the daemon's own limit per batch */
#define INGEST_RETRIES_DEFAULT 5
#define INGEST_RETRIES_MAX 20
#define INGEST_WAIT_MAX 30 /* seconds: longer Retry-After answers are cut to this */

typedef struct client_reply {
    long status;
    char *body;
    size_t length;
    long retry_after; /* seconds the daemon asked to wait (429, 503); 0 when it did not */
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

/* One request to the daemon (extra_header: one more header line, or NULL); -1 when it cannot be reached, said on
 * stderr unless quiet. */
static int request_with(const char *url, const char *method, const char *path, const char *key, const char *body,
                        const char *extra_header, bool quiet, client_reply *reply)
{
    CURL *curl = curl_easy_init();
    char *full = xasprintf("%s%s", url, path);
    char *auth = xasprintf("Authorization: Bearer %s", key);
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    if (extra_header)
        headers = curl_slist_append(headers, extra_header);
    curl_easy_setopt(curl, CURLOPT_URL, full);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    if (body)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    CURLcode code = curl_easy_perform(curl);
    curl_off_t retry_after = 0;
    if (code == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
        curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &retry_after);
        reply->retry_after = (long)retry_after;
    } else if (!quiet)
        fprintf(stderr, "hydra: cannot reach the daemon at %s: %s (is `hydra serve` running there?)\n", url,
                curl_easy_strerror(code));
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    free(auth);
    free(full);
    return code == CURLE_OK ? 0 : -1;
}

static int request(const char *url, const char *method, const char *path, const char *key, const char *body,
                   client_reply *reply)
{
    return request_with(url, method, path, key, body, NULL, false, reply);
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
    client_reply reply = {0, NULL, 0, 0};
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

/* The key from HYDRA_API_KEY; NULL after saying how to set it. */
static const char *api_key(const char *command)
{
    const char *key = getenv("HYDRA_API_KEY");
    if (key && key[0])
        return key;
    fprintf(stderr, "hydra: %s: set HYDRA_API_KEY to a key (hydra keys create)\n", command);
    return NULL;
}

int client_recommendations(int argc, char **argv)
{
    client_args a;
    int status = parse_args(argc, argv, &a);
    if (status != 0)
        return status;
    const char *key = api_key("recommendations");
    if (!key)
        return EXIT_USAGE;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    status = run_action(&a, key);
    curl_global_cleanup();
    return status;
}

/* ## hydra ingest FILE.csv --------------------------------------------------------------------------------------- */

typedef struct ingest_run {
    const char *path, *url, *key;
    size_t batch_size;
    int retries;           /* further tries of a batch the daemon could not take now */
    json_t *batch;         /* the samples of the batch being filled */
    unsigned long *lines;  /* the file line of each of them */
    size_t sent, batches;
} ingest_run;

static int count_row(void *context, const hydra_sample *sample, unsigned long line)
{
    (void)sample, (void)line;
    (*(size_t *)context)++;
    return 0;
}

/* Says which line of the file a refused sample came from, when the daemon names it ("samples[3].value"). */
static void say_refused_line(const ingest_run *run, const client_reply *reply)
{
    json_error_t ignored;
    json_t *json = reply->body ? json_loads(reply->body, 0, &ignored) : NULL;
    const char *field = json_string_value(json_object_get(json, "field"));
    size_t index;
    if (field && sscanf(field, "samples[%zu]", &index) == 1 && index < json_array_size(run->batch))
        fprintf(stderr, "hydra: ingest: %s:%lu: the daemon refused this sample\n", run->path, run->lines[index]);
    json_decref(json);
}

/* The batch's Idempotency-Key is a hash of its body: sending the same rows again, after a lost answer in this run or
 * in a later one, is a replay the daemon answers without storing them twice. */
static int send_batch(ingest_run *run)
{
    json_t *document = json_pack("{s:O}", "samples", run->batch);
    char *body = json_dumps(document, JSON_COMPACT), hash[KEYS_HASH_HEX], header[96];
    keys_hash(body, hash);
    format_into(header, sizeof header, "Idempotency-Key: csv-%.40s", hash);
    client_reply reply = {0, NULL, 0, 0};
    int status = -1;
    for (int attempt = 1; attempt <= run->retries + 1; attempt++) {
        free(reply.body);
        reply = (client_reply){0, NULL, 0, 0};
        bool last = attempt == run->retries + 1;
        status = request_with(run->url, "POST", "/api/v1/ingest/metrics", run->key, body, header, !last, &reply);
        if (last || (status == 0 && reply.status != 429 && reply.status != 503))
            break;
        long wait = reply.retry_after > 0 ? reply.retry_after : 1L << (attempt - 1);
        wait = wait < INGEST_WAIT_MAX ? wait : INGEST_WAIT_MAX;
        fprintf(stderr, "hydra: ingest: %s lines %lu-%lu: %s; trying again in %ld s\n", run->path, run->lines[0],
                run->lines[json_array_size(run->batch) - 1],
                status < 0 ? "the daemon cannot be reached" : reply.status == 429 ? "rate limited" : "store unavailable",
                wait);
        sleep((unsigned)wait);
    }
    json_t *answered = status == 0 ? answer(&reply) : NULL;
    if (status == 0 && !answered)
        say_refused_line(run, &reply);
    if (answered) {
        run->sent += json_array_size(run->batch);
        run->batches++;
    }
    json_decref(answered);
    free(reply.body);
    free(body);
    json_decref(document);
    json_array_clear(run->batch);
    return answered ? 0 : -1;
}

static int add_row(void *context, const hydra_sample *sample, unsigned long line)
{
    ingest_run *run = context;
    run->lines[json_array_size(run->batch)] = line;
    json_array_append_new(run->batch, record_json_sample(sample));
    return json_array_size(run->batch) < run->batch_size ? 0 : send_batch(run);
}

static int parse_ingest_args(int argc, char **argv, ingest_run *run)
{
    *run = (ingest_run){.url = "http://127.0.0.1:8080", .batch_size = INGEST_BATCH_DEFAULT,
                        .retries = INGEST_RETRIES_DEFAULT};
    for (int i = 1; i < argc; i++) {
        bool takes_value = strcmp(argv[i], "--url") == 0 || strcmp(argv[i], "--batch") == 0 ||
                           strcmp(argv[i], "--retries") == 0;
        if (takes_value && i + 1 >= argc) {
            fprintf(stderr, "hydra: ingest: %s needs a value (see 'hydra --help')\n", argv[i]);
            return EXIT_USAGE;
        }
        char *end = NULL;
        if (strcmp(argv[i], "--url") == 0) {
            run->url = argv[++i];
        } else if (strcmp(argv[i], "--batch") == 0) {
            unsigned long size = strtoul(argv[++i], &end, 10);
            if (!*argv[i] || *end || size < 1 || size > INGEST_BATCH_MAX) {
                fprintf(stderr, "hydra: ingest: --batch takes 1 to %d samples, found '%s'\n", INGEST_BATCH_MAX,
                        argv[i]);
                return EXIT_USAGE;
            }
            run->batch_size = size;
        } else if (strcmp(argv[i], "--retries") == 0) {
            long retries = strtol(argv[++i], &end, 10);
            if (!*argv[i] || *end || retries < 0 || retries > INGEST_RETRIES_MAX) {
                fprintf(stderr, "hydra: ingest: --retries takes 0 to %d, found '%s'\n", INGEST_RETRIES_MAX, argv[i]);
                return EXIT_USAGE;
            }
            run->retries = (int)retries;
        } else if (!run->path && argv[i][0] != '-') {
            run->path = argv[i];
        } else {
            fprintf(stderr, "hydra: ingest: unexpected argument '%s' (see 'hydra --help')\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!run->path) {
        fprintf(stderr, "hydra: ingest: which file? (hydra ingest FILE.csv)\n");
        return EXIT_USAGE;
    }
    return 0;
}

/* The whole file is checked before anything is sent: a mistake on its last line costs nothing half-ingested. */
int client_ingest(int argc, char **argv)
{
    ingest_run run;
    int status = parse_ingest_args(argc, argv, &run);
    if (status != 0)
        return status;
    if (!(run.key = api_key("ingest")))
        return EXIT_USAGE;
    char error[1024];
    size_t rows = 0;
    if (samples_csv_read(run.path, count_row, &rows, error, sizeof error) != 0) {
        fprintf(stderr, "hydra: ingest: %s\n", error);
        return 1;
    }
    run.batch = json_array();
    run.lines = xcalloc(run.batch_size, sizeof *run.lines);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    status = samples_csv_read(run.path, add_row, &run, error, sizeof error);
    if (status == 0 && json_array_size(run.batch) > 0)
        status = send_batch(&run);
    curl_global_cleanup();
    if (status == 0)
        printf("%s: %zu samples sent in %zu batches\n", run.path, run.sent, run.batches);
    else
        fprintf(stderr, "hydra: ingest: stopped; %zu of %zu samples were taken (run it again: the batches taken "
                        "already are not stored twice)\n", run.sent, rows);
    json_decref(run.batch);
    free(run.lines);
    return status == 0 ? 0 : 1;
}
