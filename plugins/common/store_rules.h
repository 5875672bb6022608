/* Shared by the store plugins (store/sqlite.c, store/postgres.c): the rules a record must follow whatever the
 * database, so both stores refuse the same bad input with the same words. */
#ifndef HYDRA_STORE_RULES_H
#define HYDRA_STORE_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define SHA256_HEX_LENGTH 64

static const char *const recommendation_states[] = {
    "pending", "approved", "rejected", "expired", "executing", "executed", "failed",
};

static inline bool text_present(const char *text) { return text && text[0]; }

static inline bool state_known(const char *state)
{
    for (size_t i = 0; state && i < sizeof recommendation_states / sizeof recommendation_states[0]; i++)
        if (strcmp(state, recommendation_states[i]) == 0)
            return true;
    return false;
}

/* A key is stored as the hex SHA-256 of its secret, never the secret: anything else is refused. */
static inline bool hash_is_sha256_hex(const char *hash)
{
    return hash && strlen(hash) == SHA256_HEX_LENGTH && strspn(hash, "0123456789abcdef") == SHA256_HEX_LENGTH;
}

#endif
