/* store.h - the store thread: the only code that talks to PostgreSQL while
 * the hub runs.
 *
 * The core thread never waits for the database. It hands the store a jbatch
 * over an inproc PAIR socket (the pointer is the message; ownership passes
 * with it) and goes on gathering the next one; the store commits the batch
 * in one transaction (binary COPY for events) and hands the pointer back with
 * its status. One commit is in flight at a time, so everything that arrives
 * meanwhile forms the next group commit.
 *
 * When the connection is lost the store tells the core (STORE_DB_DOWN),
 * reconnects with backoff, and tells it again when it is back (STORE_DB_UP).
 * A commit whose outcome is unknown (the connection died during COMMIT) is
 * held until the store can look in the journal and say which it was: a batch
 * is never reported failed when it committed, nor committed when it failed.
 *
 * Other work that needs the database and must not hold up the core (rebuilding
 * the master-data engine after a failed commit) goes through the same pipe as
 * a job: the store runs it on its connection, in order with the batches, so a
 * job sees every commit submitted before it, and hands it back. The store does
 * not know what a job does. */
#ifndef JOINERY_STORE_H
#define JOINERY_STORE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "store/journal.h"

typedef struct store store_t;

typedef enum { STORE_BATCH = 1, STORE_DB_DOWN, STORE_DB_UP, STORE_JOB } store_event_t;

typedef struct store_job store_job_t;
struct store_job {
    /* On the store thread, with its connection (up, and idle: not in a
     * transaction). 0, or -1 with a message in error. */
    int (*run)(store_job_t *job, PGconn *conn, char *error, size_t errlen);
    /* Frees a job that never came back to the core (the hub stopped first). */
    void (*drop)(store_job_t *job);
    /* Set by the store: run's answer, or -1 without running it when the
     * database was unavailable. */
    int rc;
    char error[256];
};

/* Starts the store thread on CTX with its own connection to CONNINFO. */
store_t *store_new(void *ctx, const char *conninfo, char *err, size_t errlen);
/* Stops the thread after the batch in flight, if any, is finished (a job
 * running is cancelled), then frees every batch and job it did not hand back. */
void store_destroy(store_t **s);
/* The core's end of the pipe, for zmq_poll. */
void *store_socket(store_t *s);
/* Hands B to the store (JB_COMMIT or JB_FETCH). Ownership passes. Never
 * blocks: -1 (ownership stays) if the pipe is full. */
int store_submit(store_t *s, jbatch_t *b);
/* Hands JOB to the store, as store_submit. */
int store_submit_job(store_t *s, store_job_t *job);
/* After the socket polls readable: what happened, and for STORE_BATCH the
 * batch, for STORE_JOB the job, whose ownership returns to the caller (the
 * other pointer is NULL). 0, or -1 if nothing. */
int store_receive(store_t *s, store_event_t *ev, jbatch_t **b, store_job_t **job);

/* ---- start-up, on a blocking connection before the core loop runs ---- */

typedef struct {
    char *adapter, *name;
    char **patterns;
    size_t npatterns;
    uint64_t acked_seq;
    jattempt_t *attempts; /* delivery counts of unsettled events (delivery_attempt) */
    size_t nattempts;
} store_sub_row_t;

/* Connects, retrying with backoff for up to WAIT_MS (the database may still be
 * starting); the first failed attempt of a wait is logged at once with what it
 * waits for. A server that is up and refuses (no such database or role, wrong
 * password) is not waited for. NULL with a message, which names the conninfo
 * without its password, on failure. */
PGconn *store_connect(const char *conninfo, int wait_ms, char *err, size_t errlen);
int store_head(PGconn *c, uint64_t *head, char *err, size_t errlen);
/* Every subscription, with its delivery counts above its acked floor; the
 * caller frees with store_sub_rows_free. */
int store_subscriptions(PGconn *c, store_sub_row_t **rows, size_t *n, char *err, size_t errlen);
void store_sub_rows_free(store_sub_row_t *rows, size_t n);
/* Journal entries with seq > AFTER, in batches pushed to W. */
int store_load_window(PGconn *c, uint64_t after, window_t *w, char *err, size_t errlen);
/* (source, event_id) of entries with seq > AFTER into D. */
int store_load_dedup(PGconn *c, uint64_t after, dedup_t *d, char *err, size_t errlen);

/* ---- refused input: its expiry and the day's quota (hub/ingest.c's job) ---- */

typedef struct {
    int64_t expire_before_us; /* refusals received before this are deleted */
    int64_t day_start_us;     /* the UTC day the counts below are for starts here */
    size_t n;                 /* adapters; the last is "" (refusals before HELLO) */
    const char *const *names;
    const uint64_t *dropped; /* per adapter, not kept since the last run: for rejected_dropped */
    bool dropped_saved;      /* out: DROPPED was added to rejected_dropped */
    uint64_t *bytes, *rows;  /* out: bytes and rows kept since day_start_us, per adapter */
    long long deleted;       /* out: rows deleted this run */
} store_refusals_t;

/* On a connection with no transaction open: counts R's dropped refusals, deletes at most a
 * bounded number of expired ones (a long backlog goes over several runs, so the batches waiting
 * behind this are not held up), and reads what each adapter has kept today. 0, or -1 with a
 * message. */
int store_refusals_maintain(PGconn *c, store_refusals_t *r, char *err, size_t errlen);

/* ---- the admin API's operations (jobs of hub/admin/admin_core.c, and start-up) ---- */

/* A dead letter replayed: to be delivered again to its subscription. */
typedef struct {
    long long id; /* the dead_letter id it had (0 when read back at start-up) */
    char adapter[65], subscription[65];
    uint64_t seq;
} store_replay_t;

/* Rows now in dead_letter, and refusals kept or counted (rejected_event,
 * rejected_dropped): what the counters start from, so a restart does not zero them. */
int store_stored_counts(PGconn *c, uint64_t *dead, uint64_t *rejected, char *err, size_t errlen);
/* Replays not yet settled by their subscriber (start-up); *OUT is the caller's (free). */
int store_replays_waiting(PGconn *c, store_replay_t **out, size_t *n, char *err, size_t errlen);
/* Rows (id?, adapter, subscription, seq) of R from FIRST_COL into a new array (the caller's). */
int store_replay_rows(PGresult *r, int first_col, store_replay_t **out, size_t *n);
/* Moves the dead letters IDS ("{1,2,3}") of existing subscriptions to dead_letter_replay in one
 * statement; *OUT (the caller's) says which moved. WHO is the admin token's name. */
int store_replay_dead_letters(PGconn *c, const char *ids, const char *who, int64_t now_us,
                              store_replay_t **out, size_t *n, char *err, size_t errlen);
/* Moves dead letter ID to dead_letter_discarded with WHO and REASON; *ROWS is 0 if there was none.
 */
int store_discard_dead_letter(PGconn *c, long long id, const char *who, const char *reason,
                              int64_t now_us, long long *rows, char *err, size_t errlen);
/* The replayed SEQ has been settled by the subscription. */
int store_replay_settled(PGconn *c, const char *adapter, const char *subscription, uint64_t seq,
                         int64_t now_us, char *err, size_t errlen);
/* The subscription's row, its delivery counts and its waiting replays, in one transaction. */
int store_delete_subscription(PGconn *c, const char *adapter, const char *name, char *err,
                              size_t errlen);

/* Executes one read into a JB_FETCH batch (also used by the thread). */
int store_fetch(PGconn *c, jbatch_t *b, char *err, size_t errlen);

#endif
