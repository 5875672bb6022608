/* scaler docker: scales Docker swarm services, or compose services on a plain Docker Engine, through the Engine API
 * on its unix socket (libcurl).
 *
 * Swarm: reads the service, and when its replica count differs from the one asked for, sends its whole Spec back
 * with the new count and the version just read. A stale version answers 500 "update out of sequence": the service
 * is read again and the difference decided again, so a recommendation is never applied twice. Ready replicas are
 * the tasks whose state and desired state are both running.
 *
 * Compose (no swarm): the service is the set of containers labelled com.docker.compose.service (and .project when
 * compose_project is set). Scaling up starts stopped ones, then creates copies of the newest one (same image,
 * command, environment, labels, host config and networks, a new name); scaling down stops and removes the newest
 * first, but only stops the last one, so a later scale-up still has a container to copy.
 *
 * An Engine that cannot be reached, answers 5xx, or has a swarm still starting is tried again with backoff until
 * retry_deadline; the error then names the Engine's own message. status() tries once: the next tick asks again.
 *
 * Settings: socket ("/var/run/docker.sock"), api_version ("1.41"; "" for the Engine's own), mode ("auto": swarm
 * when this Engine is a swarm manager, compose otherwise; "swarm"; "compose"), service (the name a target maps to,
 * "{target}" replaced by the target's name; default "{target}"), services ("target=name, ..." for targets whose
 * name does not follow the template), compose_project (""), timeout (10 s per request), retry_deadline (30 s). */
#include <hydra/plugin.h>

#include "../common/body_buffer.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ANSWER_MAX (16u << 20)
#define MESSAGE_MAX 768
#define NAME_MAX_LENGTH 256
#define PAUSED_LABEL "hydra.io/paused"
#define COMPOSE_SERVICE "com.docker.compose.service"
#define COMPOSE_PROJECT "com.docker.compose.project"
#define COMPOSE_NUMBER "com.docker.compose.container-number"
#define COMPOSE_ONEOFF "com.docker.compose.oneoff"

typedef enum mode { MODE_AUTO, MODE_SWARM, MODE_COMPOSE } mode;

/* What one try of an action came to. */
typedef enum outcome {
    OUTCOME_DONE,      /* finished; the status is filled */
    OUTCOME_AGAIN,     /* progress made or a stale version seen: look again now */
    OUTCOME_TRANSIENT, /* the Engine could not answer now: wait, then try again until the deadline */
    OUTCOME_FAILED,    /* the Engine refused for good; the reason is in the action's message */
} outcome;

typedef struct name_pair {
    char *target;
    char *service;
} name_pair;

typedef struct docker {
    const hydra_host *host;
    char *socket;
    char *prefix; /* "/v1.41", or "" */
    char *service_template;
    char *compose_project;
    name_pair *names;
    size_t name_count;
    mode mode;
    long timeout_ms;
    double retry_deadline;
    pthread_mutex_t lock; /* one action at a time: compose scaling is client-side and has no version to guard it */
    CURL *curl;           /* kept between requests (and its connection with it); used under lock */
    int actions_metric, conflicts_metric, retries_metric;
} docker;

/* One request's answer: the HTTP status (0 when none came), the JSON body, and the Engine's message on an error. */
typedef struct engine_reply {
    long status;
    json_t *json;
    char message[MESSAGE_MAX];
} engine_reply;

/* One action (a status or a scale of one target) as its tries go on. */
typedef struct action {
    docker *self;
    const char *target;
    char service[NAME_MAX_LENGTH];
    const hydra_scale_request *request; /* NULL for a status */
    hydra_scale_status status;
    mode resolved;             /* auto mode decides per try, from the Engine's swarm state */
    char message[MESSAGE_MAX]; /* why the last try failed or must be tried again */
    int seen_replicas;         /* the swarm replica count the last update was decided on, -1 before one */
    long last_status;          /* of the last container call: 0 when the Engine did not answer */
    char refused[8][80];       /* stopped containers that would not start again during this action */
    size_t refused_count;
} action;

static void action_say(action *a, const char *fmt, ...) HYDRA_PRINTF(2, 3);

static void action_say(action *a, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(a->message, sizeof a->message, fmt, args);
    va_end(args);
}

/* ## Talking to the Engine ------------------------------------------------------------------------------------ */


/* Failures of the transport mean the Engine is down, restarting or too slow: worth another try. A socket that is
 * missing, or that this user may not open, is named as such: curl says only that it could not connect. */
static void describe_transport(docker *self, CURLcode code, engine_reply *reply)
{
    const char *why = "";
    if (code == CURLE_COULDNT_CONNECT && access(self->socket, R_OK | W_OK) != 0)
        why = errno == EACCES ? " (permission denied: the user hydra runs as needs the socket's group, docker)"
                              : errno == ENOENT ? " (no such socket: is the Engine running?)" : "";
    snprintf(reply->message, sizeof reply->message, "cannot reach the Docker Engine at %s: %s%s", self->socket,
             curl_easy_strerror(code), why);
}

static void describe_answer(const body_buffer *a, engine_reply *reply)
{
    json_error_t ignored;
    reply->json = a->data ? json_loads(a->data, JSON_DECODE_ANY, &ignored) : NULL;
    if (reply->status < 300)
        return;
    const char *message = json_string_value(json_object_get(reply->json, "message"));
    if (message)
        snprintf(reply->message, sizeof reply->message, "%s", message);
    else
        snprintf(reply->message, sizeof reply->message, "%.200s", a->data && a->data[0] ? a->data : "no reason given");
}

/* One request; body (borrowed) is sent as JSON when not NULL. Returns 0 when the Engine answered (any status), -1
 * when it could not be reached; reply->message says why either way. The caller frees reply->json. */
static int engine_request(docker *self, const char *method, const char *path, json_t *body, engine_reply *reply)
{
    *reply = (engine_reply){0};
    char url[2048];
    snprintf(url, sizeof url, "http://localhost%s%s", self->prefix, path);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct curl_slist *headers = body ? curl_slist_append(NULL, "Content-Type: application/json") : NULL;
    body_buffer a = {.limit = ANSWER_MAX};
    CURL *curl = self->curl;
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, self->socket);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text ? text : "");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, self->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, body_buffer_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a);
    CURLcode code = curl_easy_perform(curl);
    int result = 0;
    if (code != CURLE_OK) {
        describe_transport(self, code, reply);
        result = -1;
    } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
        describe_answer(&a, reply);
    }
    curl_slist_free_all(headers);
    free(text);
    free(a.data);
    return result;
}

/* Passes an Engine answer on as an outcome: 5xx is the Engine's trouble and may pass, the rest is a refusal. */
static outcome refusal(action *a, const char *what, const engine_reply *reply)
{
    action_say(a, "%s: Docker Engine answered HTTP %ld: %s", what, reply->status, reply->message);
    return reply->status >= 500 ? OUTCOME_TRANSIENT : OUTCOME_FAILED;
}

/* GET path into *json (the caller's); any non-2xx becomes an outcome via refusal(). */
static outcome engine_get(action *a, const char *path, const char *what, json_t **json)
{
    engine_reply reply;
    if (engine_request(a->self, "GET", path, NULL, &reply) != 0) {
        action_say(a, "%s: %s", what, reply.message);
        return OUTCOME_TRANSIENT;
    }
    if (reply.status != 200) {
        json_decref(reply.json);
        return refusal(a, what, &reply);
    }
    *json = reply.json;
    return OUTCOME_DONE;
}

/* A query-string value: the filters JSON, URL-encoded. */
static char *filters_query(docker *self, json_t *filters)
{
    char *text = json_dumps(filters, JSON_COMPACT);
    char *escaped = text ? curl_easy_escape(self->curl, text, 0) : NULL;
    free(text);
    json_decref(filters);
    return escaped;
}

/* ## Swarm services ------------------------------------------------------------------------------------------- */

static bool labels_paused(json_t *labels)
{
    const char *paused = json_string_value(json_object_get(labels, PAUSED_LABEL));
    return paused && strcmp(paused, "true") == 0;
}

/* Tasks of the service desired running, and how many of them run now. */
static outcome swarm_count_tasks(action *a, const char *service_id, int *desired, int *running)
{
    char *filters = filters_query(a->self, json_pack("{s:[s], s:[s]}", "service", service_id, "desired-state",
                                                     "running"));
    char path[1024];
    snprintf(path, sizeof path, "/tasks?filters=%s", filters ? filters : "");
    curl_free(filters);
    json_t *tasks = NULL;
    outcome result = engine_get(a, path, "listing the tasks", &tasks);
    if (result != OUTCOME_DONE)
        return result;
    *desired = *running = 0;
    size_t index;
    json_t *task;
    json_array_foreach(tasks, index, task) {
        const char *state = json_string_value(json_object_get(json_object_get(task, "Status"), "State"));
        const char *wanted = json_string_value(json_object_get(task, "DesiredState"));
        if (!wanted || strcmp(wanted, "running") != 0)
            continue;
        (*desired)++;
        if (state && strcmp(state, "running") == 0)
            (*running)++;
    }
    json_decref(tasks);
    return OUTCOME_DONE;
}

/* Reads the service; *service is the caller's. 404 is a clear refusal naming the service. */
static outcome swarm_read(action *a, json_t **service)
{
    char *escaped = curl_easy_escape(a->self->curl, a->service, 0);
    char path[1024];
    snprintf(path, sizeof path, "/services/%s", escaped ? escaped : "");
    curl_free(escaped);
    engine_reply reply;
    if (engine_request(a->self, "GET", path, NULL, &reply) != 0) {
        action_say(a, "reading swarm service %s: %s", a->service, reply.message);
        return OUTCOME_TRANSIENT;
    }
    if (reply.status == 200) {
        *service = reply.json;
        return OUTCOME_DONE;
    }
    json_decref(reply.json);
    if (reply.status == 404) {
        action_say(a, "no swarm service %s on the Docker Engine at %s (target %s): %s", a->service, a->self->socket,
                   a->target, reply.message);
        return OUTCOME_FAILED;
    }
    char what[NAME_MAX_LENGTH + 32];
    snprintf(what, sizeof what, "reading swarm service %s", a->service);
    return refusal(a, what, &reply);
}

static outcome swarm_fill_status(action *a, json_t *service, json_t *replicated)
{
    json_t *spec = json_object_get(service, "Spec");
    const char *id = json_string_value(json_object_get(service, "ID"));
    int desired = 0, running = 0;
    outcome result = swarm_count_tasks(a, id ? id : a->service, &desired, &running);
    if (result != OUTCOME_DONE)
        return result;
    if (replicated)
        desired = (int)json_integer_value(json_object_get(replicated, "Replicas"));
    a->status = (hydra_scale_status){desired, running, labels_paused(json_object_get(spec, "Labels"))};
    return OUTCOME_DONE;
}

/* Sends the read Spec back with the new count and the read version. A stale version is not a failure: the caller
 * reads again and decides again. */
static outcome swarm_update(action *a, json_t *service, json_t *replicated, int replicas)
{
    docker *self = a->self;
    json_t *version = json_object_get(json_object_get(service, "Version"), "Index");
    const char *id = json_string_value(json_object_get(service, "ID"));
    if (!json_is_integer(version) || !id) {
        action_say(a, "swarm service %s: the Engine's answer has no ID or Version.Index", a->service);
        return OUTCOME_FAILED;
    }
    json_object_set_new(replicated, "Replicas", json_integer(replicas));
    char path[512];
    snprintf(path, sizeof path, "/services/%s/update?version=%" JSON_INTEGER_FORMAT, id, json_integer_value(version));
    engine_reply reply;
    if (engine_request(self, "POST", path, json_object_get(service, "Spec"), &reply) != 0) {
        action_say(a, "updating swarm service %s: %s", a->service, reply.message);
        return OUTCOME_TRANSIENT; /* it may have been applied: the next try reads the count before acting */
    }
    json_t *warnings = json_object_get(reply.json, "Warnings");
    outcome result = OUTCOME_AGAIN; /* read once more: the status comes from what the Engine now holds */
    if (reply.status == 500 && strstr(reply.message, "update out of sequence")) {
        self->host->log(self->host, HYDRA_LOG_INFO, "swarm service %s changed while it was being scaled (version %"
                        JSON_INTEGER_FORMAT " is stale): reading it again", a->service, json_integer_value(version));
        if (self->conflicts_metric >= 0)
            self->host->metric_add(self->host, self->conflicts_metric, 1);
    } else if (reply.status != 200) {
        char what[NAME_MAX_LENGTH + 32];
        snprintf(what, sizeof what, "updating swarm service %s", a->service);
        result = refusal(a, what, &reply);
    } else {
        for (size_t i = 0; i < json_array_size(warnings); i++)
            self->host->log(self->host, HYDRA_LOG_WARN, "swarm service %s: %s", a->service,
                            json_string_value(json_array_get(warnings, i)));
        self->host->log(self->host, HYDRA_LOG_INFO, "scaled swarm service %s to %d replicas (recommendation %s, "
                        "approved by %s)", a->service, replicas, a->request->recommendation_id ?: "-",
                        a->request->decided_by ?: "-");
        if (self->actions_metric >= 0)
            self->host->metric_add(self->host, self->actions_metric, 1);
    }
    json_decref(reply.json);
    return result;
}

/* One try: read, compare, update when the count differs. Status only when a->request is NULL. */
static outcome swarm_try(action *a)
{
    json_t *service = NULL;
    outcome result = swarm_read(a, &service);
    if (result != OUTCOME_DONE)
        return result;
    json_t *spec = json_object_get(service, "Spec");
    json_t *replicated = json_object_get(json_object_get(spec, "Mode"), "Replicated");
    int replicas = (int)json_integer_value(json_object_get(replicated, "Replicas"));
    if (a->request && !replicated) {
        action_say(a, "swarm service %s is not replicated (global mode runs one task per node): it cannot be scaled",
                   a->service);
        result = OUTCOME_FAILED;
    } else if (a->request && labels_paused(json_object_get(spec, "Labels")) && replicas != a->request->replicas) {
        action_say(a, "swarm service %s is paused by its label " PAUSED_LABEL "=true: not scaled", a->service);
        result = OUTCOME_FAILED;
    } else if (a->request && replicas != a->request->replicas) {
        if (a->seen_replicas >= 0 && a->seen_replicas != replicas)
            a->self->host->log(a->self->host, HYDRA_LOG_WARN, "swarm service %s went from %d to %d replicas by "
                               "another hand while being scaled; setting %d as decided", a->service,
                               a->seen_replicas, replicas, a->request->replicas);
        a->seen_replicas = replicas;
        result = swarm_update(a, service, replicated, a->request->replicas);
    } else {
        result = swarm_fill_status(a, service, replicated);
    }
    json_decref(service);
    return result;
}

/* ## Compose services: containers labelled by docker compose ----------------------------------------------------- */

typedef struct member {
    const char *id;
    const char *state;
    long long created;
    long number;
    bool up;    /* running, restarting or paused: counted as desired */
    bool ready; /* running and not unhealthy */
} member;

typedef struct members {
    json_t *list; /* owns the strings below */
    member *items;
    size_t count;
    size_t up, ready;
    bool paused;
    long highest_number;
} members;

static void members_free(members *m)
{
    json_decref(m->list);
    free(m->items);
    *m = (members){0};
}

static void member_read(json_t *container, member *out)
{
    json_t *labels = json_object_get(container, "Labels");
    const char *number = json_string_value(json_object_get(labels, COMPOSE_NUMBER));
    const char *health = json_string_value(json_object_get(container, "Status"));
    out->id = json_string_value(json_object_get(container, "Id"));
    out->state = json_string_value(json_object_get(container, "State"));
    if (!out->state)
        out->state = "";
    out->created = json_integer_value(json_object_get(container, "Created"));
    out->number = number ? strtol(number, NULL, 10) : 0;
    out->up = strcmp(out->state, "running") == 0 || strcmp(out->state, "restarting") == 0 ||
              strcmp(out->state, "paused") == 0;
    out->ready = strcmp(out->state, "running") == 0 && !(health && (strstr(health, "(unhealthy)") ||
                                                                   strstr(health, "(health: starting)")));
}

/* Every container of the compose service, one-off runs (docker compose run) left out. */
static outcome compose_list(action *a, members *out)
{
    docker *self = a->self;
    char service_label[NAME_MAX_LENGTH + 40], project_label[NAME_MAX_LENGTH + 40];
    snprintf(service_label, sizeof service_label, COMPOSE_SERVICE "=%s", a->service);
    snprintf(project_label, sizeof project_label, COMPOSE_PROJECT "=%s", self->compose_project);
    json_t *labels = json_pack("[s]", service_label);
    if (self->compose_project[0])
        json_array_append_new(labels, json_string(project_label));
    char *filters = filters_query(self, json_pack("{s:o}", "label", labels));
    char path[2048];
    snprintf(path, sizeof path, "/containers/json?all=1&filters=%s", filters ? filters : "");
    curl_free(filters);
    *out = (members){0};
    outcome result = engine_get(a, path, "listing containers", &out->list);
    if (result != OUTCOME_DONE)
        return result;
    out->items = calloc(json_array_size(out->list) + 1, sizeof *out->items);
    size_t index;
    json_t *container;
    json_array_foreach(out->list, index, container) {
        json_t *container_labels = json_object_get(container, "Labels");
        const char *oneoff = json_string_value(json_object_get(container_labels, COMPOSE_ONEOFF));
        if (!out->items || (oneoff && strcmp(oneoff, "True") == 0))
            continue;
        member *m = &out->items[out->count++];
        member_read(container, m);
        out->up += m->up;
        out->ready += m->ready;
        out->paused = out->paused || labels_paused(container_labels);
        if (m->number > out->highest_number)
            out->highest_number = m->number;
    }
    return out->items ? OUTCOME_DONE : OUTCOME_FAILED;
}

/* Newest first: the one created last, the highest number among equals. */
static bool newer(const member *x, const member *y)
{
    return x->created != y->created ? x->created > y->created : x->number > y->number;
}

static bool refused_before(const action *a, const char *id)
{
    for (size_t i = 0; i < a->refused_count; i++)
        if (strcmp(a->refused[i], id) == 0)
            return true;
    return false;
}

/* The newest (or oldest) container that is up (or stopped and not refused during this action). */
static const member *compose_pick(const action *a, const members *m, bool up, bool newest)
{
    const member *picked = NULL;
    for (size_t i = 0; i < m->count; i++) {
        const member *candidate = &m->items[i];
        if (candidate->up != up || strcmp(candidate->state, "removing") == 0 || (!up && a &&
            refused_before(a, candidate->id)))
            continue;
        if (!picked || newer(candidate, picked) == newest)
            picked = candidate;
    }
    return picked;
}

/* POST or DELETE on a container; 204 and 304 (already so) are success. */
static outcome container_call(action *a, const char *method, const char *id, const char *verb, const char *query)
{
    char path[512];
    snprintf(path, sizeof path, "/containers/%s%s%s%s", id, verb[0] ? "/" : "", verb, query);
    engine_reply reply;
    char what[NAME_MAX_LENGTH + 64];
    snprintf(what, sizeof what, "%s container %.12s of compose service %s", verb[0] ? verb : "removing", id,
             a->service);
    int sent = engine_request(a->self, method, path, NULL, &reply);
    a->last_status = reply.status;
    if (sent != 0) {
        action_say(a, "%s: %s", what, reply.message);
        return OUTCOME_TRANSIENT;
    }
    json_decref(reply.json);
    if (reply.status == 204 || reply.status == 304 || reply.status == 200)
        return OUTCOME_AGAIN;
    return refusal(a, what, &reply);
}

/* The create body from a container's inspection: its config, host config and first network, a fresh hostname. */
static json_t *create_body(json_t *inspected, long number, json_t **other_networks)
{
    json_t *body = json_deep_copy(json_object_get(inspected, "Config"));
    json_object_del(body, "Hostname");
    json_t *labels = json_object_get(body, "Labels");
    char text[32];
    snprintf(text, sizeof text, "%ld", number);
    if (json_is_object(labels))
        json_object_set_new(labels, COMPOSE_NUMBER, json_string(text));
    json_t *host_config = json_object_get(inspected, "HostConfig");
    json_object_set(body, "HostConfig", host_config);
    const char *network_mode = json_string_value(json_object_get(host_config, "NetworkMode"));
    json_t *networks = json_object_get(json_object_get(inspected, "NetworkSettings"), "Networks");
    json_t *endpoints = json_object();
    *other_networks = json_object();
    const char *name;
    json_t *network;
    json_object_foreach(networks, name, network) {
        json_t *endpoint = json_pack("{s:O*}", "Aliases", json_object_get(network, "Aliases"));
        bool primary = network_mode && strcmp(network_mode, name) == 0;
        json_object_set_new(primary ? endpoints : *other_networks, name, endpoint);
    }
    json_object_set_new(body, "NetworkingConfig", json_pack("{s:o}", "EndpointsConfig", endpoints));
    return body;
}

/* The Engine (API < 1.44) takes one network at creation; the others are joined before the start. */
static outcome join_networks(action *a, const char *id, json_t *networks)
{
    const char *name;
    json_t *endpoint;
    json_object_foreach(networks, name, endpoint) {
        char *escaped = curl_easy_escape(a->self->curl, name, 0);
        char path[512];
        snprintf(path, sizeof path, "/networks/%s/connect", escaped ? escaped : "");
        curl_free(escaped);
        json_t *body = json_pack("{s:s, s:O}", "Container", id, "EndpointConfig", endpoint);
        engine_reply reply;
        int sent = engine_request(a->self, "POST", path, body, &reply);
        json_decref(body);
        json_decref(reply.json);
        if (sent != 0 || reply.status != 200) {
            action_say(a, "joining network %s: %s", name, reply.message);
            return sent != 0 ? OUTCOME_TRANSIENT : OUTCOME_FAILED;
        }
    }
    return OUTCOME_DONE;
}

static outcome compose_create_named(action *a, json_t *body, const char *name, char *id, size_t id_size)
{
    char *escaped = curl_easy_escape(a->self->curl, name, 0);
    char path[512];
    snprintf(path, sizeof path, "/containers/create?name=%s", escaped ? escaped : "");
    curl_free(escaped);
    engine_reply reply;
    if (engine_request(a->self, "POST", path, body, &reply) != 0) {
        action_say(a, "creating container %s: %s", name, reply.message);
        return OUTCOME_TRANSIENT; /* if it was made, the next look finds it stopped and starts it */
    }
    outcome result = OUTCOME_DONE;
    if (reply.status == 201)
        snprintf(id, id_size, "%s", json_string_value(json_object_get(reply.json, "Id")) ?: "");
    else if (reply.status == 409)
        result = OUTCOME_AGAIN; /* the name is taken: the caller tries the next number */
    else
        result = refusal(a, "creating a container for compose service", &reply);
    json_decref(reply.json);
    return result;
}

/* A copy of template (the newest container when NULL), named as compose names them (project-service-N), joined
 * to its networks and started. A copy that cannot start is removed again, so no half-made replica stays behind. */
static outcome compose_create(action *a, const members *m, const member *template)
{
    if (!template)
        template = compose_pick(NULL, m, true, true);
    if (!template)
        template = compose_pick(NULL, m, false, true);
    if (!template) {
        action_say(a, "compose service %s has no container to copy (target %s): start it once with docker compose "
                   "up", a->service, a->target);
        return OUTCOME_FAILED;
    }
    char path[256];
    snprintf(path, sizeof path, "/containers/%s/json", template->id);
    json_t *inspected = NULL;
    outcome result = engine_get(a, path, "inspecting the container to copy", &inspected);
    if (result != OUTCOME_DONE)
        return result;
    char id[128] = "", name[NAME_MAX_LENGTH * 2 + 32];
    json_t *others = NULL;
    for (long number = m->highest_number + 1; number <= m->highest_number + 8; number++) {
        json_decref(others);
        json_t *body = create_body(inspected, number, &others);
        const char *project = a->self->compose_project;
        snprintf(name, sizeof name, "%s%s%s-%ld", project, project[0] ? "-" : "", a->service, number);
        result = compose_create_named(a, body, name, id, sizeof id);
        json_decref(body);
        if (result != OUTCOME_AGAIN)
            break;
    }
    json_decref(inspected);
    if (result == OUTCOME_DONE)
        result = join_networks(a, id, others);
    json_decref(others);
    if (result == OUTCOME_DONE) {
        result = container_call(a, "POST", id, "start", "");
        if (result == OUTCOME_FAILED)
            container_call(a, "DELETE", id, "", "?force=1");
    }
    if (result == OUTCOME_AGAIN)
        a->self->host->log(a->self->host, HYDRA_LOG_INFO, "compose service %s: started new container %s", a->service,
                           name);
    return result;
}

/* A stopped container comes back first. One the Engine refuses to start (after an Engine restart it can keep a
 * stale network endpoint or store entry) is not tried again in this action: a fresh copy of it takes its place. */
static outcome compose_restart(action *a, const members *m, const member *stopped)
{
    outcome result = container_call(a, "POST", stopped->id, "start", "");
    if (result != OUTCOME_FAILED && !(result == OUTCOME_TRANSIENT && a->last_status >= 500))
        return result;
    a->self->host->log(a->self->host, HYDRA_LOG_WARN, "compose service %s: replacing a container that does not "
                       "start: %s", a->service, a->message);
    if (a->refused_count < sizeof a->refused / sizeof a->refused[0])
        snprintf(a->refused[a->refused_count++], sizeof a->refused[0], "%s", stopped->id);
    return compose_create(a, m, stopped);
}

/* Once the count is reached, the containers that were replaced go, unless one would be the service's last. */
static void compose_remove_replaced(action *a, const members *m)
{
    size_t left = m->count;
    for (size_t i = 0; i < m->count && left > 1; i++) {
        const member *candidate = &m->items[i];
        if (candidate->up || !refused_before(a, candidate->id))
            continue;
        if (container_call(a, "DELETE", candidate->id, "", "?force=1") == OUTCOME_AGAIN)
            left--;
    }
}

/* One step towards the wanted count, then the caller looks again. */
static outcome compose_step(action *a, const members *m, int wanted)
{
    if ((int)m->up < wanted) {
        const member *stopped = compose_pick(a, m, false, false); /* the oldest stopped one comes back first */
        return stopped ? compose_restart(a, m, stopped) : compose_create(a, m, NULL);
    }
    const member *surplus = compose_pick(NULL, m, true, true);
    outcome result = container_call(a, "POST", surplus->id, "stop", "?t=10");
    if (result == OUTCOME_AGAIN && m->count > 1)
        result = container_call(a, "DELETE", surplus->id, "", "");
    return result;
}

static outcome compose_try(action *a)
{
    members m;
    outcome result = compose_list(a, &m);
    if (result == OUTCOME_DONE && m.count == 0) {
        action_say(a, "no container labelled " COMPOSE_SERVICE "=%s%s%s on the Docker Engine at %s (target %s)",
                   a->service, a->self->compose_project[0] ? " and " COMPOSE_PROJECT "=" : "",
                   a->self->compose_project, a->self->socket, a->target);
        result = OUTCOME_FAILED;
    } else if (result == OUTCOME_DONE && a->request && (int)m.up != a->request->replicas) {
        if (m.paused) {
            action_say(a, "compose service %s is paused by the label " PAUSED_LABEL "=true: not scaled", a->service);
            result = OUTCOME_FAILED;
        } else {
            result = compose_step(a, &m, a->request->replicas);
        }
    } else if (result == OUTCOME_DONE) {
        compose_remove_replaced(a, &m);
        a->status = (hydra_scale_status){(int)m.up, (int)m.ready, m.paused};
    }
    members_free(&m);
    return result;
}

/* ## Actions: which kind of service, tries and the deadline ---------------------------------------------------- */

/* Auto mode: swarm when this Engine manages a swarm, compose when it is in none; a swarm still starting (after a
 * restart of the Engine) is waited for. */
static outcome resolve_mode(action *a)
{
    if (a->self->mode != MODE_AUTO) {
        a->resolved = a->self->mode;
        return OUTCOME_DONE;
    }
    json_t *info = NULL;
    outcome result = engine_get(a, "/info", "reading the Engine's swarm state", &info);
    if (result != OUTCOME_DONE)
        return result;
    json_t *swarm = json_object_get(info, "Swarm");
    const char *state = json_string_value(json_object_get(swarm, "LocalNodeState"));
    if (!state || strcmp(state, "inactive") == 0) {
        a->resolved = MODE_COMPOSE;
    } else if (strcmp(state, "active") == 0 && json_is_true(json_object_get(swarm, "ControlAvailable"))) {
        a->resolved = MODE_SWARM;
    } else {
        action_say(a, "the Docker Engine at %s is in a swarm but not managing it now (state %s%s)", a->self->socket,
                   state, strcmp(state, "locked") == 0 ? ": unlock it with docker swarm unlock" : "");
        result = strcmp(state, "locked") == 0 ? OUTCOME_FAILED : OUTCOME_TRANSIENT;
    }
    json_decref(info);
    return result;
}

static outcome action_try(action *a)
{
    outcome result = resolve_mode(a);
    if (result != OUTCOME_DONE)
        return result;
    return a->resolved == MODE_SWARM ? swarm_try(a) : compose_try(a);
}

/* Deadlines are real time: this scaler acts on a real Engine, never under the simulator's virtual clock. */
static double seconds_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* Tries until done, refused, or the deadline passes; a scale's steps (one container at a time) each look again. */
static int action_run(action *a, double deadline_seconds)
{
    docker *self = a->self;
    double deadline = seconds_now() + deadline_seconds;
    useconds_t pause = 200000;
    for (int steps = 0;; steps++) {
        outcome result = action_try(a);
        if (result == OUTCOME_DONE)
            return 0;
        if (result == OUTCOME_FAILED) {
            self->host->set_error(self->host, "%s", a->message);
            return -1;
        }
        double left = deadline - seconds_now();
        if (left <= 0 || steps > 10000) {
            if (deadline_seconds > 0)
                self->host->set_error(self->host, "%s (gave up after %g s of retries)", a->message, deadline_seconds);
            else
                self->host->set_error(self->host, "%s", a->message);
            return -1;
        }
        if (result == OUTCOME_TRANSIENT) {
            if (self->retries_metric >= 0)
                self->host->metric_add(self->host, self->retries_metric, 1);
            usleep(left * 1e6 < pause ? (useconds_t)(left * 1e6) : pause);
            pause = pause * 2 > 2000000 ? 2000000 : pause * 2;
        }
    }
}

static const char *service_for(const docker *self, const char *target, char *out, size_t size)
{
    for (size_t i = 0; i < self->name_count; i++)
        if (strcmp(self->names[i].target, target) == 0) {
            snprintf(out, size, "%s", self->names[i].service);
            return out;
        }
    size_t used = 0;
    for (const char *at = self->service_template; *at && used + 1 < size;) {
        if (strncmp(at, "{target}", 8) == 0) {
            used += (size_t)snprintf(out + used, size - used, "%s", target);
            at += 8;
        } else {
            out[used++] = *at++;
        }
    }
    out[used < size ? used : size - 1] = '\0';
    return out;
}

static int docker_act(docker *self, const char *target, const hydra_scale_request *request, hydra_scale_status *out,
                      double deadline_seconds)
{
    if (!target || !target[0]) {
        self->host->set_error(self->host, "target must be a non-empty name");
        return -1;
    }
    action a = {.self = self, .target = target, .request = request, .seen_replicas = -1};
    service_for(self, target, a.service, sizeof a.service);
    pthread_mutex_lock(&self->lock);
    int result = action_run(&a, deadline_seconds);
    pthread_mutex_unlock(&self->lock);
    if (result == 0 && out)
        *out = a.status;
    return result;
}

static int docker_status(void *state, const char *target, hydra_scale_status *out)
{
    return docker_act(state, target, NULL, out, 0);
}

static int docker_scale(void *state, const hydra_scale_request *request, hydra_scale_status *out)
{
    docker *self = state;
    if (!request || request->replicas < 0) {
        self->host->set_error(self->host, "scale: replicas must be >= 0, not %d", request ? request->replicas : -1);
        return -1;
    }
    return docker_act(self, request->target, request, out, self->retry_deadline);
}

/* ## Settings and life cycle ------------------------------------------------------------------------------------ */

static char *trimmed_copy(const char *start, size_t length)
{
    while (length > 0 && (*start == ' ' || *start == '\t'))
        start++, length--;
    while (length > 0 && (start[length - 1] == ' ' || start[length - 1] == '\t'))
        length--;
    return strndup(start, length);
}

/* "target=service, target=service" */
static int names_parse(docker *self, const char *text)
{
    for (const char *at = text; *at;) {
        size_t length = strcspn(at, ",");
        const char *equals = memchr(at, '=', length);
        name_pair pair = {0};
        if (equals) {
            pair.target = trimmed_copy(at, (size_t)(equals - at));
            pair.service = trimmed_copy(equals + 1, length - (size_t)(equals - at) - 1);
        }
        if (!pair.target || !pair.target[0] || !pair.service || !pair.service[0]) {
            char *shown = trimmed_copy(at, length);
            self->host->set_error(self->host, "setting 'services': \"%s\" is not target=service", shown ? shown : "");
            free(shown);
            free(pair.target);
            free(pair.service);
            return -1;
        }
        name_pair *grown = realloc(self->names, (self->name_count + 1) * sizeof *grown);
        if (!grown) {
            self->host->set_error(self->host, "out of memory");
            free(pair.target);
            free(pair.service);
            return -1;
        }
        self->names = grown;
        self->names[self->name_count++] = pair;
        at += length + (at[length] == ',');
    }
    return 0;
}

static void docker_destroy(void *state)
{
    docker *self = state;
    if (!self)
        return;
    for (size_t i = 0; i < self->name_count; i++) {
        free(self->names[i].target);
        free(self->names[i].service);
    }
    free(self->names);
    if (self->curl)
        curl_easy_cleanup(self->curl);
    pthread_mutex_destroy(&self->lock);
    free(self->socket);
    free(self->prefix);
    free(self->service_template);
    free(self->compose_project);
    free(self);
}

static int mode_parse(const hydra_host *host, const char *text, mode *out)
{
    const char *names[] = {"auto", "swarm", "compose"};
    for (int i = 0; i < 3; i++)
        if (strcmp(text, names[i]) == 0) {
            *out = (mode)i;
            return 0;
        }
    host->set_error(host, "setting 'mode' must be \"auto\", \"swarm\" or \"compose\", not \"%s\"", text);
    return -1;
}

typedef struct docker_settings {
    const char *socket, *api_version, *mode, *service, *services, *compose_project;
    double timeout, retry_deadline;
} docker_settings;

static int settings_read(const hydra_host *host, docker_settings *s)
{
    *s = (docker_settings){"/var/run/docker.sock", "1.41", "auto", "{target}", "", "", 10, 30};
    if (host->setting_path(host, "socket", &s->socket) < 0 || host->setting_string(host, "api_version",
        &s->api_version) < 0 || host->setting_string(host, "mode", &s->mode) < 0 ||
        host->setting_string(host, "service", &s->service) < 0 || host->setting_string(host, "services",
        &s->services) < 0 || host->setting_string(host, "compose_project", &s->compose_project) < 0 ||
        host->setting_double(host, "timeout", &s->timeout) < 0 ||
        host->setting_double(host, "retry_deadline", &s->retry_deadline) < 0)
        return -1;
    if (!s->socket[0] || strlen(s->socket) > 107) {
        host->set_error(host, "setting 'socket' must be the path of the Engine's unix socket (at most 107 bytes)");
        return -1;
    }
    if (!s->service[0]) {
        host->set_error(host, "setting 'service' must not be empty (\"{target}\" names services as their targets)");
        return -1;
    }
    if (s->api_version[0] && strspn(s->api_version, "0123456789.") != strlen(s->api_version)) {
        host->set_error(host, "setting 'api_version' must look like \"1.41\" (or be \"\"), not \"%s\"",
                        s->api_version);
        return -1;
    }
    if (!(s->timeout > 0 && s->timeout <= 300) || !(s->retry_deadline >= 0 && s->retry_deadline <= 3600)) {
        host->set_error(host, "setting 'timeout' must be in (0, 300] and 'retry_deadline' in [0, 3600] seconds");
        return -1;
    }
    return 0;
}

static void *docker_create(const hydra_host *host)
{
    docker_settings s;
    mode chosen;
    if (settings_read(host, &s) != 0 || mode_parse(host, s.mode, &chosen) != 0)
        return NULL;
    docker *self = calloc(1, sizeof *self);
    if (!self) {
        host->set_error(host, "out of memory");
        return NULL;
    }
    self->host = host;
    pthread_mutex_init(&self->lock, NULL);
    self->mode = chosen;
    self->timeout_ms = (long)(s.timeout * 1000);
    self->retry_deadline = s.retry_deadline;
    self->socket = strdup(s.socket);
    self->service_template = strdup(s.service);
    self->compose_project = strdup(s.compose_project);
    if (asprintf(&self->prefix, "%s%s", s.api_version[0] ? "/v" : "", s.api_version) < 0)
        self->prefix = NULL;
    self->curl = curl_easy_init();
    if (!self->socket || !self->service_template || !self->compose_project || !self->prefix || !self->curl) {
        host->set_error(host, "out of memory, or libcurl could not start");
        docker_destroy(self);
        return NULL;
    }
    if (names_parse(self, s.services) != 0) {
        docker_destroy(self);
        return NULL;
    }
    self->actions_metric = host->metric_register(host, "scale_actions_total", "Replica counts changed on the Engine",
                                                 HYDRA_METRIC_COUNTER);
    self->conflicts_metric = host->metric_register(host, "docker_version_conflicts_total",
                                                   "Swarm updates refused as out of sequence, then read again",
                                                   HYDRA_METRIC_COUNTER);
    self->retries_metric = host->metric_register(host, "docker_engine_retries_total",
                                                 "Tries again after the Engine could not answer", HYDRA_METRIC_COUNTER);
    return self;
}

static const hydra_scaler_ops ops = {
    .size = sizeof(hydra_scaler_ops),
    .status = docker_status,
    .scale = docker_scale,
};

static const hydra_plugin_descriptor descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_SCALER,
    .name = "docker",
    .version = "1.0.0",
    .description = "Scales Docker swarm services, or compose services' containers, through the Engine API",
    .create = docker_create,
    .destroy = docker_destroy,
    .ops = &ops,
};

HYDRA_PLUGIN(descriptor)
