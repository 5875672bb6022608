#include "keys.h"

#include "util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

int keys_generate(char secret[KEYS_SECRET_MAX])
{
    unsigned char random[32];
    if (RAND_bytes(random, sizeof random) != 1)
        return -1;
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    strcpy(secret, "hydra_");
    size_t at = strlen(secret);
    /* base64url without padding: 6 bits at a time */
    unsigned long bits = 0;
    int held = 0;
    for (size_t i = 0; i < sizeof random; i++) {
        bits = (bits << 8) | random[i];
        held += 8;
        while (held >= 6) {
            secret[at++] = alphabet[(bits >> (held - 6)) & 63];
            held -= 6;
        }
    }
    if (held > 0)
        secret[at++] = alphabet[(bits << (6 - held)) & 63];
    secret[at] = '\0';
    OPENSSL_cleanse(random, sizeof random);
    return 0;
}

void keys_hash(const char *secret, char hex[KEYS_HASH_HEX])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned length = 0;
    EVP_Digest(secret, strlen(secret), digest, &length, EVP_sha256(), NULL);
    for (unsigned i = 0; i < length && i < 32; i++)
        format_into(hex + 2 * i, 3, "%02x", digest[i]);
    hex[64] = '\0';
}

bool keys_hash_equal(const char *a, const char *b)
{
    return strlen(a) == KEYS_HASH_HEX - 1 && strlen(b) == KEYS_HASH_HEX - 1 &&
           CRYPTO_memcmp(a, b, KEYS_HASH_HEX - 1) == 0;
}

static const struct {
    const char *name;
    keys_scope scope;
} scope_names[] = {{"ingest", SCOPE_INGEST}, {"read", SCOPE_READ}, {"approve", SCOPE_APPROVE}, {"admin", SCOPE_ADMIN}};

bool keys_scopes_parse(const char *text, unsigned *scopes, const char **bad)
{
    *scopes = 0;
    char *copy = xstrdup(text);
    bool ok = true;
    for (char *save = NULL, *name = strtok_r(copy, ", ", &save); name && ok; name = strtok_r(NULL, ", ", &save)) {
        size_t i = 0;
        while (i < ARRAY_LEN(scope_names) && strcmp(scope_names[i].name, name) != 0)
            i++;
        if (i == ARRAY_LEN(scope_names)) {
            ok = false;
            if (bad)
                *bad = text + (name - copy);
        } else {
            *scopes |= scope_names[i].scope;
        }
    }
    free(copy);
    return ok && *scopes != 0;
}

void keys_scopes_format(unsigned scopes, char *buffer, size_t size)
{
    buffer[0] = '\0';
    for (size_t i = 0; i < ARRAY_LEN(scope_names); i++) {
        if (!(scopes & scope_names[i].scope))
            continue;
        size_t used = strlen(buffer);
        format_into(buffer + used, size - used, "%s%s", used ? "," : "", scope_names[i].name);
    }
}
