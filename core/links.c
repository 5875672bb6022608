#include "links.h"

#include "util.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_MIN_BYTES 16
#define SECRET_MAX_BYTES 4096

int link_signer_init(link_signer *signer, const char *secret_path, char *error, size_t error_size)
{
    memset(signer, 0, sizeof *signer);
    if (!secret_path) {
        if (RAND_bytes(signer->key, sizeof signer->key) != 1) {
            format_into(error, error_size, "link secret: no random bytes from OpenSSL");
            return -1;
        }
        return 0;
    }
    FILE *file = fopen(secret_path, "rb");
    if (!file) {
        format_into(error, error_size, "link secret file %s: %s", secret_path, strerror(errno));
        return -1;
    }
    unsigned char secret[SECRET_MAX_BYTES + 1];
    size_t length = fread(secret, 1, sizeof secret, file);
    fclose(file);
    if (length < SECRET_MIN_BYTES || length > SECRET_MAX_BYTES) {
        format_into(error, error_size, "link secret file %s: must hold %d to %d bytes, has %s%zu", secret_path,
                    SECRET_MIN_BYTES, SECRET_MAX_BYTES, length > SECRET_MAX_BYTES ? "more than " : "",
                    length > SECRET_MAX_BYTES ? (size_t)SECRET_MAX_BYTES : length);
        OPENSSL_cleanse(secret, sizeof secret);
        return -1;
    }
    unsigned int digest_length = 0;
    EVP_Digest(secret, length, signer->key, &digest_length, EVP_sha256(), NULL);
    OPENSSL_cleanse(secret, sizeof secret);
    signer->from_file = true;
    return 0;
}

static bool action_known(const char *action)
{
    return action && (strcmp(action, "approve") == 0 || strcmp(action, "reject") == 0);
}

/* Every part on its own line: no part can contain a newline (ids and tenants never do), so no two different sets
 * of parts sign the same text. */
static void sign_parts(const link_signer *signer, const char *action, const char *tenant, const char *id,
                       long long expires, unsigned char mac[32])
{
    char text[1024];
    format_into(text, sizeof text, "hydra-link-v1\n%s\n%s\n%s\n%lld", action, tenant, id, expires);
    unsigned int length = 0;
    HMAC(EVP_sha256(), signer->key, (int)sizeof signer->key, (const unsigned char *)text, strlen(text), mac, &length);
}

void link_sign(const link_signer *signer, const char *action, const char *tenant, const char *id, long long expires,
               char signature[LINK_SIGNATURE_HEX])
{
    unsigned char mac[32];
    sign_parts(signer, action, tenant, id, expires, mac);
    for (size_t i = 0; i < sizeof mac; i++)
        snprintf(signature + 2 * i, 3, "%02x", mac[i]);
}

/* Ids and tenants are made of [A-Za-z0-9._-]: nothing a query string must escape. */
static bool url_safe(const char *text)
{
    if (!text || !text[0])
        return false;
    return text[strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")] == '\0';
}

int link_url(const link_signer *signer, const char *public_url, const char *action, const char *tenant,
             const char *id, long long expires, char *out, size_t size)
{
    if (!action_known(action) || !url_safe(tenant) || !url_safe(id))
        return -1;
    char signature[LINK_SIGNATURE_HEX];
    link_sign(signer, action, tenant, id, expires, signature);
    int written = snprintf(out, size, "%s/api/v1/recommendations/%s/link?action=%s&tenant=%s&expires=%lld&signature=%s",
                           public_url, id, action, tenant, expires, signature);
    return written > 0 && (size_t)written < size ? 0 : -1;
}

static bool parse_hex(const char *hex, unsigned char out[32])
{
    if (!hex || strlen(hex) != 64)
        return false;
    for (size_t i = 0; i < 32; i++) {
        unsigned value = 0;
        for (size_t k = 0; k < 2; k++) {
            char c = hex[2 * i + k];
            unsigned digit = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                             : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                             : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                                    : 16;
            if (digit == 16)
                return false;
            value = value * 16 + digit;
        }
        out[i] = (unsigned char)value;
    }
    return true;
}

link_check link_verify(const link_signer *signer, const char *action, const char *tenant, const char *id,
                       const char *expires, const char *signature, double now)
{
    unsigned char given[32], expected[32];
    char *end = NULL;
    errno = 0;
    long long expires_at = expires ? strtoll(expires, &end, 10) : 0;
    if (!action_known(action) || !url_safe(tenant) || !url_safe(id) || !expires || end == expires || *end ||
        errno || !parse_hex(signature, given))
        return LINK_MALFORMED;
    sign_parts(signer, action, tenant, id, expires_at, expected);
    if (CRYPTO_memcmp(given, expected, sizeof expected) != 0)
        return LINK_BAD_SIGNATURE;
    return now > (double)expires_at ? LINK_EXPIRED : LINK_VALID;
}

const char *link_check_text(link_check check)
{
    switch (check) {
    case LINK_VALID: return "valid";
    case LINK_MALFORMED: return "this link is damaged: a part of it is missing or altered";
    case LINK_BAD_SIGNATURE: return "this link was not signed by this hydra (or it was altered)";
    case LINK_EXPIRED: return "this link has expired: the question it answers is no longer open";
    }
    return "unknown";
}
