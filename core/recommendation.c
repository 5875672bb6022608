#include "recommendation.h"

#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[] = {
    [REC_PENDING] = "pending",     [REC_APPROVED] = "approved",   [REC_REJECTED] = "rejected",
    [REC_EXPIRED] = "expired",     [REC_EXECUTING] = "executing", [REC_EXECUTED] = "executed",
    [REC_FAILED] = "failed",
};

const char *recommendation_state_name(recommendation_state state)
{
    return (unsigned)state < ARRAY_LEN(state_names) ? state_names[state] : "unknown";
}

bool recommendation_state_parse(const char *name, recommendation_state *out)
{
    for (size_t i = 0; i < ARRAY_LEN(state_names); i++) {
        if (strcmp(name, state_names[i]) == 0) {
            *out = (recommendation_state)i;
            return true;
        }
    }
    return false;
}

bool recommendation_is_open(const recommendation *rec)
{
    return rec->state == REC_PENDING || rec->state == REC_APPROVED || rec->state == REC_EXECUTING;
}

static bool transition_allowed(recommendation_state from, recommendation_state to)
{
    switch (from) {
    case REC_PENDING: return to == REC_APPROVED || to == REC_REJECTED || to == REC_EXPIRED;
    case REC_APPROVED: return to == REC_EXECUTING;
    case REC_EXECUTING: return to == REC_EXECUTED || to == REC_FAILED;
    default: return false;
    }
}

void recommendation_book_init(recommendation_book *book, const char *id_prefix)
{
    memset(book, 0, sizeof *book);
    book->next_number = 1;
    format_into(book->id_prefix, sizeof book->id_prefix, "%s", id_prefix ? id_prefix : "rec");
}

void recommendation_book_free(recommendation_book *book)
{
    for (size_t i = 0; i < book->count; i++)
        free(book->items[i]);
    free(book->items);
    memset(book, 0, sizeof *book);
}

bool recommendation_is_final(recommendation_state state)
{
    return state == REC_EXECUTED || state == REC_FAILED || state == REC_REJECTED || state == REC_EXPIRED;
}

size_t recommendation_book_forget_final(recommendation_book *book, size_t keep,
                                        bool (*in_use)(void *context, const recommendation *rec), void *context)
{
    if (book->count <= 2 * keep)
        return 0; /* a cheap test for every tick: the count of final ones is at most the count */
    size_t final = 0;
    for (size_t i = 0; i < book->count; i++)
        final += recommendation_is_final(book->items[i]->state) && !in_use(context, book->items[i]);
    if (final <= 2 * keep)
        return 0;
    size_t to_forget = final - keep, kept = 0, forgotten = 0;
    for (size_t i = 0; i < book->count; i++) {
        recommendation *rec = book->items[i];
        if (forgotten < to_forget && recommendation_is_final(rec->state) && !in_use(context, rec)) {
            free(rec);
            forgotten++;
        } else {
            book->items[kept++] = rec;
        }
    }
    book->count = kept;
    return forgotten;
}

void recommendation_book_listen(recommendation_book *book, recommendation_listener listener, void *context)
{
    book->listener = listener;
    book->listener_context = context;
}

static int announce(recommendation_book *book, const recommendation *rec, recommendation_state from, double at,
                    const char *by, const char *why, bool recorded)
{
    if (!book->listener)
        return 0;
    recommendation_event event = {rec, from, rec->state, at, by, why, recorded};
    return book->listener(book->listener_context, &event);
}

static recommendation *book_append(recommendation_book *book, const recommendation *rec)
{
    if (book->count == book->capacity) {
        book->capacity = book->capacity ? book->capacity * 2 : 64;
        book->items = xrealloc(book->items, book->capacity * sizeof *book->items);
    }
    recommendation *copy = xmalloc(sizeof *copy);
    *copy = *rec;
    book->items[book->count++] = copy;
    return copy;
}

recommendation *recommendation_restore(recommendation_book *book, const recommendation *saved)
{
    return book_append(book, saved);
}

recommendation *recommendation_add(recommendation_book *book, const recommendation *draft, const char *by,
                                   const char *why)
{
    if (draft->state != REC_PENDING && draft->state != REC_APPROVED)
        return NULL;
    recommendation *rec = book_append(book, draft);
    format_into(rec->id, sizeof rec->id, "%s-%06llu", book->id_prefix, book->next_number++);
    if (rec->state == REC_APPROVED) {
        rec->decided_at = rec->created_at;
        format_into(rec->decided_by, sizeof rec->decided_by, "%s", by ? by : "");
        format_into(rec->decision_reason, sizeof rec->decision_reason, "%s", why ? why : "");
    }
    if (announce(book, rec, rec->state, rec->created_at, by, why, false) != 0) {
        free(book->items[--book->count]); /* never handed out: nobody points at it; its id is not used again */
        return NULL;
    }
    return rec;
}

recommendation *recommendation_find(const recommendation_book *book, const char *id)
{
    for (size_t i = book->count; i > 0; i--)
        if (strcmp(book->items[i - 1]->id, id) == 0)
            return book->items[i - 1];
    return NULL;
}

static int change_state(recommendation_book *book, recommendation *rec, recommendation_state to, double now,
                        const char *by, const char *why, bool recorded)
{
    if (!transition_allowed(rec->state, to))
        return -1;
    recommendation before = *rec;
    recommendation_state from = rec->state;
    rec->state = to;
    if (from == REC_PENDING) {
        rec->decided_at = now;
        format_into(rec->decided_by, sizeof rec->decided_by, "%s", by ? by : "");
        format_into(rec->decision_reason, sizeof rec->decision_reason, "%s", why ? why : "");
    }
    if (to == REC_EXECUTED || to == REC_FAILED) {
        rec->finished_at = now;
        format_into(rec->result, sizeof rec->result, "%s", why ? why : "");
    }
    if (announce(book, rec, from, now, by, why, recorded) != 0) {
        *rec = before;
        return -1;
    }
    return 0;
}

int recommendation_transition(recommendation_book *book, recommendation *rec, recommendation_state to, double now,
                              const char *by, const char *why)
{
    return change_state(book, rec, to, now, by, why, false);
}

int recommendation_adopt(recommendation_book *book, recommendation *rec, recommendation_state to, double at,
                         const char *by, const char *why)
{
    return change_state(book, rec, to, at, by, why, true);
}
