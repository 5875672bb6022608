/* Signed approve and reject links for notifications: a person who gets a question by mail or chat answers it from
 * the link, with no API key. A link names one decision (approve or reject) on one recommendation of one tenant and
 * carries an expiry, all covered by an HMAC-SHA256 under the daemon's link secret; it is worth nothing after the
 * recommendation expires, and the decision itself is still the store's compare-and-set, so a link used twice
 * decides once. */
#ifndef HYDRA_LINKS_H
#define HYDRA_LINKS_H

#include <stdbool.h>
#include <stddef.h>

#define LINK_SIGNATURE_HEX 65 /* 64 hex digits and the NUL */

typedef struct link_signer {
    unsigned char key[32];
    bool from_file; /* false: a random key for this run only (links die with the process) */
} link_signer;

typedef enum link_check {
    LINK_VALID,
    LINK_MALFORMED,     /* an unknown action, or an expiry or signature that is not a number / 64 hex digits */
    LINK_BAD_SIGNATURE, /* not signed by this daemon's secret, or altered */
    LINK_EXPIRED,
} link_check;

/* The key is the SHA-256 of the secret file's bytes (at least 16 of them), or random when secret_path is NULL.
 * Returns 0, or -1 with the reason in error. */
int link_signer_init(link_signer *signer, const char *secret_path, char *error, size_t error_size);

/* action is "approve" or "reject"; expires is Unix seconds. */
void link_sign(const link_signer *signer, const char *action, const char *tenant, const char *id, long long expires,
               char signature[LINK_SIGNATURE_HEX]);
/* "{public_url}/api/v1/recommendations/{id}/link?action=A&tenant=T&expires=E&signature=S"; returns 0, or -1 when
 * it does not fit or a part needs escaping that ids and tenants never do. */
int link_url(const link_signer *signer, const char *public_url, const char *action, const char *tenant,
             const char *id, long long expires, char *out, size_t size);
/* Checks a link's parts as they came in the query string. */
link_check link_verify(const link_signer *signer, const char *action, const char *tenant, const char *id,
                       const char *expires, const char *signature, double now);
const char *link_check_text(link_check check);

#endif
