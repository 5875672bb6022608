/* The per-key token bucket: bursts, refill, when to come back, keys apart, and threads sharing one limiter. */
#include "ratelimit.h"

#include "util.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

static void test_ratelimit_allows_a_burst_then_refuses(void **state)
{
    (void)state;
    ratelimit *limit = ratelimit_create(1, 3);
    int retry_after = 0;
    for (int i = 0; i < 3; i++)
        assert_true(ratelimit_take(limit, "default/alice", 100, &retry_after));
    assert_false(ratelimit_take(limit, "default/alice", 100, &retry_after));
    assert_int_equal(retry_after, 1);
    ratelimit_destroy(limit);
}

static void test_ratelimit_retry_after_is_rounded_up_seconds(void **state)
{
    (void)state;
    ratelimit *limit = ratelimit_create(0.5, 1);
    int retry_after = 0;
    assert_true(ratelimit_take(limit, "k", 0, &retry_after));
    assert_false(ratelimit_take(limit, "k", 0.1, &retry_after));
    assert_int_equal(retry_after, 2); /* 0.95 token short at 0.5 a second: 1.9 s */
    assert_false(ratelimit_take(limit, "k", 1.9, &retry_after));
    assert_int_equal(retry_after, 1); /* 0.05 short: 0.1 s, still a whole second */
    assert_true(ratelimit_take(limit, "k", 2.0, &retry_after));
    ratelimit_destroy(limit);
}

static void test_ratelimit_refills_at_the_rate_up_to_the_burst(void **state)
{
    (void)state;
    ratelimit *limit = ratelimit_create(2, 4);
    int retry_after = 0, taken = 0;
    while (ratelimit_take(limit, "k", 0, &retry_after))
        taken++;
    assert_int_equal(taken, 4);
    taken = 0;
    while (ratelimit_take(limit, "k", 1.5, &retry_after)) /* 1.5 s at 2 a second */
        taken++;
    assert_int_equal(taken, 3);
    taken = 0;
    while (ratelimit_take(limit, "k", 1000, &retry_after)) /* a long pause fills only up to the burst */
        taken++;
    assert_int_equal(taken, 4);
    ratelimit_destroy(limit);
}

static void test_ratelimit_keeps_each_key_apart(void **state)
{
    (void)state;
    ratelimit *limit = ratelimit_create(1, 2);
    int retry_after = 0;
    assert_true(ratelimit_take(limit, "default/alice", 0, &retry_after));
    assert_true(ratelimit_take(limit, "default/alice", 0, &retry_after));
    assert_false(ratelimit_take(limit, "default/alice", 0, &retry_after));
    assert_true(ratelimit_take(limit, "default/bob", 0, &retry_after));
    assert_true(ratelimit_take(limit, "other/alice", 0, &retry_after));
    /* many more keys: the table grows and every bucket keeps its state */
    char key[32];
    for (int i = 0; i < 500; i++) {
        format_into(key, sizeof key, "tenant/key-%d", i);
        assert_true(ratelimit_take(limit, key, 0, &retry_after));
    }
    assert_false(ratelimit_take(limit, "default/alice", 0, &retry_after));
    assert_true(ratelimit_take(limit, "default/bob", 0, &retry_after));
    assert_false(ratelimit_take(limit, "default/bob", 0, &retry_after));
    for (int i = 0; i < 500; i++) {
        format_into(key, sizeof key, "tenant/key-%d", i);
        assert_true(ratelimit_take(limit, key, 0, &retry_after));
        assert_false(ratelimit_take(limit, key, 0, &retry_after));
    }
    ratelimit_destroy(limit);
}

static void test_ratelimit_time_going_back_takes_no_tokens(void **state)
{
    (void)state;
    ratelimit *limit = ratelimit_create(1, 1);
    int retry_after = 0;
    assert_true(ratelimit_take(limit, "k", 10, &retry_after));
    assert_false(ratelimit_take(limit, "k", 9, &retry_after)); /* another thread read the clock earlier */
    assert_true(ratelimit_take(limit, "k", 11, &retry_after));
    ratelimit_destroy(limit);
}

typedef struct worker {
    ratelimit *limit;
    int allowed;
} worker;

static void *take_many(void *context)
{
    worker *w = context;
    int retry_after;
    for (int i = 0; i < 5000; i++)
        w->allowed += ratelimit_take(w->limit, i % 2 ? "default/alice" : "default/bob", 0, &retry_after);
    return NULL;
}

/* Four threads hammer two keys at one instant: exactly the burst of each gets through, no more, no less. */
static void test_ratelimit_is_exact_under_threads(void **state)
{
    (void)state;
    ratelimit *limit = ratelimit_create(1, 1000);
    worker workers[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        workers[i] = (worker){limit, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, take_many, &workers[i]), 0);
    }
    int allowed = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        allowed += workers[i].allowed;
    }
    assert_int_equal(allowed, 2000);
    ratelimit_destroy(limit);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratelimit_allows_a_burst_then_refuses),
        cmocka_unit_test(test_ratelimit_retry_after_is_rounded_up_seconds),
        cmocka_unit_test(test_ratelimit_refills_at_the_rate_up_to_the_burst),
        cmocka_unit_test(test_ratelimit_keeps_each_key_apart),
        cmocka_unit_test(test_ratelimit_time_going_back_takes_no_tokens),
        cmocka_unit_test(test_ratelimit_is_exact_under_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
