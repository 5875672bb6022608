/* Recommendations and their one state machine:
 *
 *   pending -> approved | rejected | expired;  approved -> executing -> executed | failed
 *
 * (auto-approved ones are created as approved). Every change is an event: who, when, why. The book holds them all
 * and tells a listener of each event, which is where the daemon persists them and notifiers hear of them. The
 * listener may refuse a change (the store found that another replica changed the recommendation first): then the
 * change is undone and the call that made it fails, so that what the book holds is never ahead of the store. */
#ifndef HYDRA_RECOMMENDATION_H
#define HYDRA_RECOMMENDATION_H

#include <stdbool.h>
#include <stddef.h>

typedef enum recommendation_state {
    REC_PENDING,
    REC_APPROVED,
    REC_REJECTED,
    REC_EXPIRED,
    REC_EXECUTING,
    REC_EXECUTED,
    REC_FAILED,
} recommendation_state;

#define REC_ID_MAX 40
#define REC_NAME_MAX 64
#define REC_TEXT_MAX 512

typedef struct recommendation {
    char id[REC_ID_MAX];
    char target[REC_NAME_MAX];
    size_t target_index;
    int from_replicas;
    int to_replicas;
    double forecast_peak;     /* the load the new count is sized for */
    double forecast_peak_at;  /* when that peak is expected */
    double created_at;
    double expires_at;        /* a pending one expires then */
    double decided_at;
    double finished_at;
    bool asked;               /* it waited for a person */
    recommendation_state state;
    char reason[REC_TEXT_MAX];          /* why it was recommended, in words */
    char decided_by[REC_NAME_MAX];      /* "policy default.lua", a person's name, "expiry" */
    char decision_reason[REC_TEXT_MAX];
    char result[REC_TEXT_MAX];          /* what the target reported, or why it failed */
} recommendation;

typedef struct recommendation_event {
    const recommendation *rec;
    recommendation_state from; /* equal to to for the creation event */
    recommendation_state to;
    double at;
    const char *by;
    const char *why;
    bool recorded; /* already in the store (made by another replica): to be heard of, not written again */
} recommendation_event;

/* 0 to accept the event; non-zero to refuse it (the change is then undone). */
typedef int (*recommendation_listener)(void *context, const recommendation_event *event);

typedef struct recommendation_book {
    recommendation **items; /* in creation order; pointers stay valid until the book is freed */
    size_t count;
    size_t capacity;
    unsigned long long next_number;
    char id_prefix[16];
    recommendation_listener listener;
    void *listener_context;
} recommendation_book;

void recommendation_book_init(recommendation_book *book, const char *id_prefix);
void recommendation_book_free(recommendation_book *book);
bool recommendation_is_final(recommendation_state state);
/* Lets go of the oldest final recommendations (executed, failed, rejected, expired) once more than 2 x keep are
 * held, down to keep, except those in_use claims. A daemon runs for months: the store keeps every recommendation,
 * memory only what the controller may still act on or show. Returns how many were let go. */
size_t recommendation_book_forget_final(recommendation_book *book, size_t keep,
                                        bool (*in_use)(void *context, const recommendation *rec), void *context);
void recommendation_book_listen(recommendation_book *book, recommendation_listener listener, void *context);

/* Adds a copy of draft (state REC_PENDING or REC_APPROVED) with a new id; returns the stored one, or NULL when the
 * state is not one of those or the listener refused it (nothing kept). */
recommendation *recommendation_add(recommendation_book *book, const recommendation *draft, const char *by,
                                   const char *why);
recommendation *recommendation_find(const recommendation_book *book, const char *id);
/* Takes back one saved before a restart, as it was (its id kept, no event: nothing changed). */
recommendation *recommendation_restore(recommendation_book *book, const recommendation *saved);

/* Moves rec to state, if the state machine allows it and the listener accepts it; -1 (nothing changed) otherwise. */
int recommendation_transition(recommendation_book *book, recommendation *rec, recommendation_state to, double now,
                              const char *by, const char *why);
/* The same for a change already recorded elsewhere (another replica's API took a decision): the listener hears of
 * it with recorded set, and rec takes it as it was made, at `at`. */
int recommendation_adopt(recommendation_book *book, recommendation *rec, recommendation_state to, double at,
                         const char *by, const char *why);

const char *recommendation_state_name(recommendation_state state);
bool recommendation_state_parse(const char *name, recommendation_state *out);
bool recommendation_is_open(const recommendation *rec); /* pending, approved or executing */

#endif
