/* Signed approve and reject links: a link verifies under the secret that signed it and under no other; any altered
 * part, a late use, or a damaged signature is refused with the reason in words; secrets too short are refused. */
#include "support.h"

#include "links.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define EXPIRES 1900000000LL

static void signer_from_text(link_signer *signer, const char *secret)
{
    char error[256];
    const char *path = support_write_temp(secret);
    if (link_signer_init(signer, path, error, sizeof error) != 0)
        fail_msg("%s", error);
    assert_true(signer->from_file);
    remove(path);
}

static void test_links_verify_only_what_was_signed(void **state)
{
    (void)state;
    link_signer signer, other;
    signer_from_text(&signer, "a secret of more than sixteen bytes");
    signer_from_text(&other, "another secret, just as long");
    char signature[LINK_SIGNATURE_HEX], expires[32];
    link_sign(&signer, "approve", "shop", "rec-1", EXPIRES, signature);
    format_into(expires, sizeof expires, "%lld", EXPIRES);
    assert_int_equal(link_verify(&signer, "approve", "shop", "rec-1", expires, signature, EXPIRES - 1), LINK_VALID);
    assert_int_equal(link_verify(&other, "approve", "shop", "rec-1", expires, signature, EXPIRES - 1),
                     LINK_BAD_SIGNATURE);
    /* each part is covered */
    assert_int_equal(link_verify(&signer, "reject", "shop", "rec-1", expires, signature, 0), LINK_BAD_SIGNATURE);
    assert_int_equal(link_verify(&signer, "approve", "bank", "rec-1", expires, signature, 0), LINK_BAD_SIGNATURE);
    assert_int_equal(link_verify(&signer, "approve", "shop", "rec-2", expires, signature, 0), LINK_BAD_SIGNATURE);
    assert_int_equal(link_verify(&signer, "approve", "shop", "rec-1", "1900000001", signature, 0), LINK_BAD_SIGNATURE);
    /* too late */
    assert_int_equal(link_verify(&signer, "approve", "shop", "rec-1", expires, signature, EXPIRES + 1), LINK_EXPIRED);
    /* damaged */
    char flipped[LINK_SIGNATURE_HEX];
    memcpy(flipped, signature, sizeof flipped);
    flipped[10] = flipped[10] == 'a' ? 'b' : 'a';
    assert_int_equal(link_verify(&signer, "approve", "shop", "rec-1", expires, flipped, 0), LINK_BAD_SIGNATURE);
    assert_int_equal(link_verify(&signer, "approve", "shop", "rec-1", expires, "abc", 0), LINK_MALFORMED);
    assert_int_equal(link_verify(&signer, "approve", "shop", "rec-1", "soon", signature, 0), LINK_MALFORMED);
    assert_int_equal(link_verify(&signer, "delete", "shop", "rec-1", expires, signature, 0), LINK_MALFORMED);
    assert_int_equal(link_verify(&signer, "approve", "shop", "rec 1", expires, signature, 0), LINK_MALFORMED);
    assert_int_equal(link_verify(&signer, "approve", "shop", "rec-1", NULL, signature, 0), LINK_MALFORMED);
    assert_contains(link_check_text(LINK_EXPIRED), "expired");
}

static void test_links_url_carries_every_part(void **state)
{
    (void)state;
    link_signer signer;
    signer_from_text(&signer, "0123456789abcdef");
    char url[512], signature[LINK_SIGNATURE_HEX];
    assert_int_equal(link_url(&signer, "https://hydra.example", "reject", "shop", "rec-7", EXPIRES, url, sizeof url), 0);
    link_sign(&signer, "reject", "shop", "rec-7", EXPIRES, signature);
    char *expected = xasprintf("https://hydra.example/api/v1/recommendations/rec-7/link?action=reject&tenant=shop"
                               "&expires=1900000000&signature=%s",
                               signature);
    assert_string_equal(url, expected);
    free(expected);
    assert_int_equal(link_url(&signer, "https://h", "approve", "shop", "id with space", EXPIRES, url, sizeof url), -1);
    assert_int_equal(link_url(&signer, "https://h", "approve", "shop", "rec-7", EXPIRES, url, 40), -1);
}

static void test_links_secret_must_be_long_enough(void **state)
{
    (void)state;
    link_signer signer, random_a, random_b;
    char error[256];
    const char *path = support_write_temp("short");
    assert_int_equal(link_signer_init(&signer, path, error, sizeof error), -1);
    assert_contains(error, "must hold 16 to 4096 bytes, has 5");
    remove(path);
    assert_int_equal(link_signer_init(&signer, "/nonexistent/hydra-secret", error, sizeof error), -1);
    assert_contains(error, "/nonexistent/hydra-secret: No such file or directory");
    /* Without a file, each run has a key of its own. */
    assert_int_equal(link_signer_init(&random_a, NULL, error, sizeof error), 0);
    assert_int_equal(link_signer_init(&random_b, NULL, error, sizeof error), 0);
    assert_false(random_a.from_file);
    assert_memory_not_equal(random_a.key, random_b.key, sizeof random_a.key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_links_verify_only_what_was_signed),
        cmocka_unit_test(test_links_url_carries_every_part),
        cmocka_unit_test(test_links_secret_must_be_long_enough),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
