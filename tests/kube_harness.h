/* The fake Kubernetes API server (tests/kube_fake.py) as the tests start it: a CA, a server certificate for
 * 127.0.0.1 and a client certificate made with `openssl`, the fake on TLS, and kubeconfig files for the real kubectl
 * and for hydra's scaler. Plain C without cmocka: functions return 0 / -1 (or NULL) and say why on stderr. */
#ifndef HYDRA_TEST_KUBE_HARNESS_H
#define HYDRA_TEST_KUBE_HARNESS_H

#include "peers.h"

#include <jansson.h>

/* Bearer tokens the fake knows: alice may do anything, bob (a viewer) may only read. */
#define KUBE_ADMIN_TOKEN "alice-token-7f3a"
#define KUBE_VIEWER_TOKEN "bob-token-19c2"
/* The CN of the client certificate, a user who may do anything. */
#define KUBE_CLIENT_USER "hydra-client"

typedef struct kube_fake {
    peer server;
    char dir[64];          /* the certificates and the kubeconfig files */
    char ca[128];          /* dir/ca.pem: signed the server's and the client's certificates */
    char client_cert[128]; /* dir/client.pem, dir/client.key */
    char client_key[128];
    char url[64];          /* https://127.0.0.1:PORT */
} kube_fake;

int kube_fake_start(kube_fake *fake);
void kube_fake_stop(kube_fake *fake);

/* One call to the fake (its API or its /fake/ controls) as alice, body JSON or NULL; the answer's JSON (the caller's)
 * and its status. */
json_t *kube_fake_call(const kube_fake *fake, const char *method, const char *path, const char *body, long *status);
/* A Deployment or StatefulSet (kind as in its JSON) with replicas, all ready; annotations JSON ("{...}") or NULL. */
int kube_fake_add_workload(const kube_fake *fake, const char *kind, const char *namespace, const char *name,
                           int replicas, const char *annotations);
/* The stored workload (the caller's), NULL when there is none. */
json_t *kube_fake_workload(const kube_fake *fake, const char *kind, const char *namespace, const char *name);
/* spec.replicas of a stored workload, -1 when there is none. */
int kube_fake_replicas(const kube_fake *fake, const char *kind, const char *namespace, const char *name);
/* A fault rule (see tests/kube_fake.py) as JSON text; kube_fake_clear_faults forgets them all. */
int kube_fake_fault(const kube_fake *fake, const char *rule);
void kube_fake_clear_faults(const kube_fake *fake);
/* The Events stored in namespace (the caller's array). */
json_t *kube_fake_events(const kube_fake *fake, const char *namespace);
/* How many requests the fake served with method and a path ending in suffix. */
int kube_fake_count_requests(const kube_fake *fake, const char *method, const char *suffix);

typedef enum kube_auth { KUBE_AUTH_TOKEN, KUBE_AUTH_VIEWER_TOKEN, KUBE_AUTH_CLIENT_CERT } kube_auth;

/* Writes a kubeconfig to dir/name with one context "fake" (current) for the fake, credentials auth, namespace (NULL:
 * none), the CA inline as certificate-authority-data; returns its path (static buffer). */
const char *kube_fake_kubeconfig(const kube_fake *fake, const char *name, kube_auth auth, const char *namespace);

#endif
