/* Recommendations: the state machine and its events; approval policies: verdicts, and errors that mean "ask". */
#include "support.h"

#include "policy.h"
#include "recommendation.h"
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct event_log {
    char lines[16][128];
    size_t count;
} event_log;

static int record_event(void *context, const recommendation_event *event)
{
    event_log *log = context;
    if (log->count < 16)
        format_into(log->lines[log->count++], 128, "%s %s->%s by %s%s", event->rec->id,
                    recommendation_state_name(event->from), recommendation_state_name(event->to), event->by,
                    event->recorded ? " (recorded)" : "");
    return 0;
}

static int refuse_all(void *context, const recommendation_event *event)
{
    (void)context, (void)event;
    return -1;
}

/* A store that already holds a newer state than the one the change starts from, as another replica left it. */
static int refuse_from_approved(void *context, const recommendation_event *event)
{
    (void)context;
    return event->from == REC_PENDING && event->to == REC_EXPIRED ? 1 : 0;
}

static recommendation draft(int from, int to, recommendation_state state)
{
    recommendation d = {0};
    format_into(d.target, sizeof d.target, "web");
    d.from_replicas = from;
    d.to_replicas = to;
    d.state = state;
    d.created_at = 100;
    d.expires_at = 1900;
    return d;
}

/* ## State machine --------------------------------------------------------------------------------------------- */

static void test_recommendation_walks_the_happy_path_with_events(void **state)
{
    (void)state;
    recommendation_book book;
    recommendation_book_init(&book, "rec");
    event_log log = {0};
    recommendation_book_listen(&book, record_event, &log);
    recommendation d = draft(4, 12, REC_PENDING);
    recommendation *rec = recommendation_add(&book, &d, "policy default.lua", "large scale-up");
    assert_string_equal(rec->id, "rec-000001");
    assert_int_equal(recommendation_transition(&book, rec, REC_APPROVED, 200, "alice", "looks right"), 0);
    assert_string_equal(rec->decided_by, "alice");
    assert_true(rec->decided_at == 200);
    assert_int_equal(recommendation_transition(&book, rec, REC_EXECUTING, 201, "alice", "sent"), 0);
    assert_int_equal(recommendation_transition(&book, rec, REC_EXECUTED, 202, "scaler", "12 ready"), 0);
    assert_string_equal(rec->result, "12 ready");
    assert_int_equal(log.count, 4);
    assert_string_equal(log.lines[0], "rec-000001 pending->pending by policy default.lua");
    assert_string_equal(log.lines[3], "rec-000001 executing->executed by scaler");
    recommendation_book_free(&book);
}

static void test_recommendation_refuses_transitions_outside_the_machine(void **state)
{
    (void)state;
    recommendation_book book;
    recommendation_book_init(&book, "rec");
    recommendation d = draft(4, 12, REC_PENDING);
    recommendation *rec = recommendation_add(&book, &d, "p", "why");
    assert_int_equal(recommendation_transition(&book, rec, REC_EXECUTING, 1, "x", ""), -1); /* not approved */
    assert_int_equal(recommendation_transition(&book, rec, REC_EXECUTED, 1, "x", ""), -1);
    assert_int_equal(recommendation_transition(&book, rec, REC_EXPIRED, 1, "expiry", ""), 0);
    assert_int_equal(recommendation_transition(&book, rec, REC_APPROVED, 2, "late", ""), -1); /* expired is final */
    assert_int_equal(rec->state, REC_EXPIRED);
    d.state = REC_EXECUTED;
    assert_null(recommendation_add(&book, &d, "p", "")); /* only pending or approved can be created */
    recommendation_book_free(&book);
}

/* The listener (the store) refused the expiry: the book keeps the recommendation exactly as it was, and the change
 * another replica recorded is then adopted, heard of as recorded. */
static void test_recommendation_a_refused_change_is_undone_and_a_recorded_one_adopted(void **state)
{
    (void)state;
    recommendation_book book;
    recommendation_book_init(&book, "rec");
    recommendation d = draft(4, 12, REC_PENDING);
    recommendation *rec = recommendation_add(&book, &d, "p", "why");
    recommendation_book_listen(&book, refuse_from_approved, NULL);
    assert_int_equal(recommendation_transition(&book, rec, REC_EXPIRED, 1900, "expiry", "late"), -1);
    assert_int_equal(rec->state, REC_PENDING);
    assert_true(rec->decided_at == 0);
    assert_string_equal(rec->decided_by, "");
    event_log log = {0};
    recommendation_book_listen(&book, record_event, &log);
    assert_int_equal(recommendation_adopt(&book, rec, REC_APPROVED, 1800, "bob", "via replica 2"), 0);
    assert_int_equal(rec->state, REC_APPROVED);
    assert_true(rec->decided_at == 1800);
    assert_string_equal(rec->decided_by, "bob");
    assert_string_equal(log.lines[0], "rec-000001 pending->approved by bob (recorded)");
    recommendation_book_free(&book);
}

/* A creation the store did not take is not kept: the book holds only what the store holds. */
static void test_recommendation_a_refused_creation_is_not_kept(void **state)
{
    (void)state;
    recommendation_book book;
    recommendation_book_init(&book, "rec");
    recommendation_book_listen(&book, refuse_all, NULL);
    recommendation d = draft(4, 12, REC_PENDING);
    assert_null(recommendation_add(&book, &d, "p", "why"));
    assert_int_equal(book.count, 0);
    assert_null(recommendation_find(&book, "rec-000001"));
    recommendation_book_listen(&book, NULL, NULL);
    assert_string_equal(recommendation_add(&book, &d, "p", "why")->id, "rec-000002"); /* an id is never reused */
    recommendation_book_free(&book);
}

static void test_recommendation_auto_approved_enters_at_approved(void **state)
{
    (void)state;
    recommendation_book book;
    recommendation_book_init(&book, "sim");
    recommendation d = draft(4, 5, REC_APPROVED);
    recommendation *rec = recommendation_add(&book, &d, "policy auto.lua", "small");
    assert_int_equal(rec->state, REC_APPROVED);
    assert_string_equal(rec->decided_by, "policy auto.lua");
    assert_ptr_equal(recommendation_find(&book, "sim-000001"), rec);
    assert_null(recommendation_find(&book, "sim-000002"));
    recommendation_state parsed;
    assert_true(recommendation_state_parse("executing", &parsed) && parsed == REC_EXECUTING);
    assert_false(recommendation_state_parse("done", &parsed));
    recommendation_book_free(&book);
}

/* ## Policies -------------------------------------------------------------------------------------------------- */

static policy *open_policy(const char *path, char *error, size_t size)
{
    script_options options = {.memory_limit = 8u << 20, .instruction_limit = 1000000};
    return policy_open(path, &options, error, size);
}

static policy_verdict decide(policy *p, int from, int to, char *reason, size_t size)
{
    recommendation rec = draft(from, to, REC_PENDING);
    policy_context context = {0, 2, 60, from, 100, 100, false};
    return policy_decide(p, &rec, &context, reason, size);
}

static void test_policy_default_approves_small_asks_large_rejects_over_budget(void **state)
{
    (void)state;
    char error[1024], reason[512];
    policy *p = open_policy("scripts/policies/default.lua", error, sizeof error);
    assert_non_null(p);
    assert_string_equal(policy_name(p), "policy default.lua");
    assert_int_equal(decide(p, 10, 4, reason, sizeof reason), VERDICT_APPROVE);
    assert_int_equal(decide(p, 10, 12, reason, sizeof reason), VERDICT_APPROVE);
    assert_int_equal(decide(p, 10, 30, reason, sizeof reason), VERDICT_ASK);
    assert_contains(reason, "large scale-up (+20");
    assert_int_equal(decide(p, 10, 500, reason, sizeof reason), VERDICT_REJECT);
    assert_contains(reason, "over the budget");
    assert_int_equal(policy_error_count(p), 0);
    policy_close(p);
}

static void test_policy_always_ask_and_auto(void **state)
{
    (void)state;
    char error[1024], reason[512];
    policy *ask = open_policy("scripts/policies/always_ask.lua", error, sizeof error);
    policy *automatic = open_policy("scripts/policies/auto.lua", error, sizeof error);
    assert_non_null(ask);
    assert_non_null(automatic);
    assert_int_equal(decide(ask, 10, 11, reason, sizeof reason), VERDICT_ASK);
    assert_int_equal(decide(automatic, 10, 50, reason, sizeof reason), VERDICT_APPROVE);
    assert_int_equal(decide(automatic, 10, 61, reason, sizeof reason), VERDICT_REJECT);
    policy_close(ask);
    policy_close(automatic);
    policy *none = open_policy(NULL, error, sizeof error);
    assert_int_equal(decide(none, 1, 2, reason, sizeof reason), VERDICT_ASK);
    policy_close(none);
}

static void test_policy_errors_mean_ask_and_are_counted(void **state)
{
    (void)state;
    const char *path = support_write_temp("function decide(rec, ctx)\n"
                                    "  if rec.to == 11 then error('no idea') end\n"
                                    "  if rec.to == 12 then while true do end end\n"
                                    "  if rec.to == 13 then return 'maybe', 'hmm' end\n"
                                    "  return 'approve', 'fine'\nend\n");
    char error[1024], reason[1024];
    policy *p = open_policy(path, error, sizeof error);
    assert_non_null(p);
    support_log_start();
    assert_int_equal(decide(p, 10, 11, reason, sizeof reason), VERDICT_ASK);
    assert_contains(reason, ":2: no idea");
    assert_int_equal(decide(p, 10, 12, reason, sizeof reason), VERDICT_ASK);
    assert_contains(reason, ":3: instruction budget");
    assert_int_equal(decide(p, 10, 13, reason, sizeof reason), VERDICT_ASK);
    assert_contains(reason, "decide() returned \"maybe\"");
    assert_int_equal(decide(p, 10, 14, reason, sizeof reason), VERDICT_APPROVE);
    assert_contains(support_log_text(), "no idea");
    support_log_stop();
    assert_int_equal(policy_error_count(p), 3);
    policy_close(p);
    unlink(path);
}

static void test_policy_without_decide_is_refused(void **state)
{
    (void)state;
    const char *path = support_write_temp("function approve(rec) return true end\n");
    char error[1024];
    assert_null(open_policy(path, error, sizeof error));
    assert_contains(error, "must define a global function decide(rec, ctx)");
    unlink(path);
    path = support_write_temp("function decide(rec, ctx)\n  return 'ask'\n");
    assert_null(open_policy(path, error, sizeof error));
    assert_contains(error, path);
    assert_contains(error, ":3:");
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recommendation_walks_the_happy_path_with_events),
        cmocka_unit_test(test_recommendation_refuses_transitions_outside_the_machine),
        cmocka_unit_test(test_recommendation_auto_approved_enters_at_approved),
        cmocka_unit_test(test_recommendation_a_refused_change_is_undone_and_a_recorded_one_adopted),
        cmocka_unit_test(test_recommendation_a_refused_creation_is_not_kept),
        cmocka_unit_test(test_policy_default_approves_small_asks_large_rejects_over_budget),
        cmocka_unit_test(test_policy_always_ask_and_auto),
        cmocka_unit_test(test_policy_errors_mean_ask_and_are_counted),
        cmocka_unit_test(test_policy_without_decide_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
