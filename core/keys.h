/* API keys: random secrets shown once, stored only as a SHA-256 hash, compared in constant time; scopes. */
#ifndef HYDRA_KEYS_H
#define HYDRA_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#define KEYS_SECRET_MAX 64 /* "hydra_" + 43 base64url characters + NUL fits */
#define KEYS_HASH_HEX 65   /* 64 hex digits + NUL */

typedef enum keys_scope {
    SCOPE_INGEST = 1 << 0,
    SCOPE_READ = 1 << 1,
    SCOPE_APPROVE = 1 << 2,
    SCOPE_ADMIN = 1 << 3,
} keys_scope;

/* A new random secret ("hydra_" + 256 random bits, base64url). -1 when the system has no randomness to give. */
int keys_generate(char secret[KEYS_SECRET_MAX]);
void keys_hash(const char *secret, char hex[KEYS_HASH_HEX]);
/* Equal hashes, in time that does not depend on where they differ. */
bool keys_hash_equal(const char *a, const char *b);

/* "ingest,read" -> bits; false (and *bad set) on an unknown name. */
bool keys_scopes_parse(const char *text, unsigned *scopes, const char **bad);
/* bits -> "ingest,read,approve,admin" (canonical order) */
void keys_scopes_format(unsigned scopes, char *buffer, size_t size);

#endif
