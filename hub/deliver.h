/* deliver.h - durable subscriptions: each is a cursor over the journal that
 * hands its adapter every event matching its patterns, within the credit the
 * adapter granted, and keeps going until each is acknowledged or
 * dead-lettered.
 *
 * Invariants (see hub/README.md):
 *  - at most one event per entity is in flight per subscription, so events
 *    about one entity are handled in journal order; other entities pass it;
 *  - acked_floor: every matching seq at or below it is settled (acked or
 *    dead-lettered); it is what is persisted, and where delivery resumes
 *    after any restart (events above it may be delivered again: the SDK's
 *    de-duplication hides that);
 *  - deliveries come from the in-memory window; only a subscription behind
 *    the window reads the journal back (one fetch at a time). */
#ifndef JOINERY_DELIVER_H
#define JOINERY_DELIVER_H

#include "core.h"

#define DELIVER_REASON_MAX 200 /* bytes of a retry's reason kept, with the NUL */

struct sub {
    uint64_t id;
    char *adapter, *name;
    int16_t adapter_target; /* index + 1 in the configuration; -1 if no longer configured */
    bool is_operator;
    char **patterns;
    size_t npatterns;
    bool patterns_saved; /* the subscription row holds these patterns */
    int32_t session;     /* -1 when no adapter is attached */
    int64_t credit;
    uint64_t scan_seq;        /* next journal seq to consider */
    uint64_t persisted_floor; /* acked floor last committed */
    uint64_t queued_floor;    /* acked floor last queued for commit */
    hmap_t *inflight;         /* seq -> struct dlv */
    hmap_t *busy;             /* entity -> struct ent */
    struct dlv *retry_head;   /* NACKed, waiting for their retry time, by due time */
    uint64_t *ready;          /* seqs released from waiting behind their entity */
    size_t ready_head, ready_len, ready_cap;
    jbatch_t *catchup; /* journal read back for a subscription behind the window */
    bool fetching;
    pb_buf_t transient; /* a DELIVER of transient events, sent at the end of the turn */
    size_t ntransient;
    uint64_t delivered, acked, dead;
    /* seq -> deliveries made (a count and two flags packed into the value,
     * not a pointer) of an event that was in flight unsettled when the
     * subscription let go of it (its session ended, or a SUBSCRIBE started it
     * afresh or took it over), or before the hub restarted: its next delivery
     * counts on from there, and max_attempts dead-letters it. Only events
     * above the acked floor, so at most what was in flight; NULL until
     * needed. The counts are kept in delivery_attempt with the cursor (see
     * deliver_queue_cursors) and read back at start-up. */
    hmap_t *tries;
    uint64_t tries_floor; /* entries at or below this have been pruned */
    /* Dead letters replayed by the admin API (dead_letter_replay rows not
     * yet settled): delivered again whatever the floor, outside the entity
     * order. The first replays_sent are in flight. Settled ones wait in
     * replays_done until admin_core.c records them (a store job). */
    uint64_t *replays;
    size_t nreplays, capreplays, replays_sent;
    uint64_t *replays_done;
    size_t ndone, capdone;
    /* Events waiting (deliver_waiting): matching events counted from the
     * floor where counting began up to count_seq, and those settled since. */
    uint64_t count_seq, matched, settled, retries;
    bool count_inexact; /* some were out of the window when counted */
    /* The last retry a NACK asked for, with the adapter's reason: what an operator looking at a
     * subscription that keeps retrying needs (a dead letter keeps its reason; a retry did not).
     * last_retry_seq 0: none since the hub started. */
    uint64_t last_retry_seq;
    int64_t last_retry_us;
    char last_retry_reason[DELIVER_REASON_MAX];
};

sub_t *deliver_sub_find(core_t *c, const char *adapter, const char *name);
/* A subscription known from the database at start-up. */
sub_t *deliver_sub_restore(core_t *c, const char *adapter, const char *name, char *const *patterns,
                           size_t n, uint64_t acked_seq);
/* Its delivery counts from delivery_attempt (store_subscriptions), read at
 * start-up: the next delivery of each of those events counts on. 0, or -1
 * out of memory. */
int deliver_sub_restore_attempts(sub_t *s, const jattempt_t *a, size_t n);

/* The most patterns one SUBSCRIBE may name; each is at most 128 characters
 * (route_pattern_valid). Every event is matched against each of them. */
#define DELIVER_MAX_PATTERNS 1024
/* The most credit a subscription holds (docs/protocol.md 7.3). */
#define DELIVER_MAX_CREDIT 1000000000LL

void deliver_subscribe(core_t *c, session_t *s, const uint8_t *body, size_t len);
void deliver_ack(core_t *c, session_t *s, const uint8_t *body, size_t len);
void deliver_nack(core_t *c, session_t *s, const uint8_t *body, size_t len);
void deliver_credit(core_t *c, session_t *s, const uint8_t *body, size_t len);

/* The subscription's session went away, or it is subscribed afresh:
 * everything in flight will be delivered again, its attempt counting on
 * (sub.tries). */
void deliver_detach(core_t *c, sub_t *sub);
/* The session is closing: detaches each of its subscriptions. Call before
 * session_close. */
void deliver_session_closed(core_t *c, session_t *s);
/* New events were committed, credit arrived, a retry fell due... */
void deliver_pump_all(core_t *c);
/* The transient events ingest noted in c->transient: straight to the attached
 * subscribers, at most once. Gathered per subscription and sent by
 * deliver_flush_transient. Must run before the message they came in is
 * released: their envelopes are still in it. */
void deliver_transients(core_t *c);
void deliver_flush_transient(core_t *c);
/* Queues changed acked floors into the pending batch, with the delivery
 * counts not yet kept (an unsettled event's, once it has been in flight for
 * a while or been delivered more than once; all of them when the hub is
 * stopping), and again what a failed batch held. */
void deliver_queue_cursors(core_t *c);
void deliver_cursors_committed(core_t *c, const jbatch_t *b);
void deliver_fetched(core_t *c, jbatch_t *b);
/* The lowest acked floor over all subscriptions (what the window must keep). */
uint64_t deliver_min_floor(const core_t *c);
uint64_t deliver_floor(const sub_t *sub);
void deliver_destroy_all(core_t *c);

/* ---- for the admin API (hub/admin/admin_core.c) ---- */

/* SEQ, a dead letter of S moved to dead_letter_replay, is to be delivered
 * again (once settled, it goes to S->replays_done). 0, or -1 out of memory. */
int deliver_replay(core_t *c, sub_t *s, uint64_t seq);
/* Events matching S after its acked floor and not yet settled, counted over
 * the window from where the last count stopped (the first call counts the
 * whole window). *EXACT is false once some were out of the window. */
uint64_t deliver_waiting(core_t *c, sub_t *s, bool *exact);
/* Events of S waiting for a retry after a NACK. */
size_t deliver_retrying(const sub_t *s);
/* Removes S (no session attached) from the core and frees it. */
void deliver_sub_delete(core_t *c, sub_t *s);

#endif
