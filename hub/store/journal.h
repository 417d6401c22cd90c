/* journal.h - the in-memory side of the journal.
 *
 * A jbatch is one group commit: the events gathered while the previous commit
 * was in flight, plus the other rows that must commit with them (refused
 * input, dead letters, subscription cursors). The core fills a batch, hands
 * it to the store thread (ownership passes with the pointer), gets it back
 * committed or not, and then keeps it, unchanged, in the window: recent
 * journal entries are served to subscribers from these batches without
 * copying. Batches are reference-counted because deliveries in flight point
 * into them; all counting happens on the core thread.
 *
 * The dedup table remembers recent (source, event_id) pairs so that a
 * duplicate publish is answered without a query; PostgreSQL's unique index
 * is the backstop for anything older. */
#ifndef JOINERY_JOURNAL_H
#define JOINERY_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/pbwire.h"
#include "base/rows.h"

enum { JE_OK = 0, JE_DUPLICATE = 1 };
#define JENTRY_TARGET_UNRESOLVED (-2) /* read back from the journal: name not yet mapped */
#define JENTRY_TARGET_OPERATORS                                                                    \
    (-3) /* operator adapters only (e.g. an input the master-data                                  \
            engine turned into events of its own) */
#define JENTRY_OPERATORS_NAME "@operators"

typedef struct {
    uint64_t seq;
    uint64_t entity;  /* hash of entity_key: events with equal keys keep their order */
    uint64_t dup_seq; /* JE_DUPLICATE: the journaled original (set by the store) */
    int64_t received_at;
    uint32_t off; /* into data: type, source, event_id, entity_key, envelope */
    uint32_t env_len;
    uint16_t type_len, source_len, event_id_len, entity_key_len;
    int32_t session;     /* publisher's session, -1 if none: the core's, set before the batch
                            goes to the store and read when it is back; the store ignores it */
    int16_t target;      /* 0: every matching subscriber; else adapter index + 1; -1: nobody */
    uint16_t target_len; /* the target adapter's name follows the envelope in data */
    uint8_t state;
} jentry_t;

/* A refusal kept in rejected_event. Its text is valid UTF-8 by construction
 * (jbatch_add_reject), so no sender's bytes can fail the batch's insert; the
 * sender's own bytes are in BYTES, whole or their first LEN of SIZE. */
#define JREJECT_SHA256_LEN 32
typedef struct {
    char *adapter, *event_id, *type, *reason;
    uint8_t *bytes;
    size_t len;  /* bytes kept */
    size_t size; /* bytes refused: more than LEN when only the first were kept */
    uint8_t sha256[JREJECT_SHA256_LEN]; /* of all SIZE bytes, to recognise what was cut */
    int64_t at;
} jreject_t;

typedef struct {
    char *adapter, *subscription, *event_id, *type, *reason;
    uint64_t seq;
    uint32_t attempts;
    uint8_t *envelope;
    size_t envelope_len;
    int64_t at;
} jdead_t;

/* A statement or a typed row from the master-data engine, written in the batch's
 * transaction. A statement has STMT and text PARAMS; a row has ROW (its table: the rows of one
 * table go in one binary COPY) or UPSERT (gathered per batch, the last row per key), and is
 * kept as its binary COPY tuple, encoded when it is added. */
typedef struct {
    const char *stmt; /* a statement (kept by pointer until the commit), or NULL: a row */
    int nparams;
    char **params;              /* the pointer array followed by the strings, in sqltext */
    const row_desc_t *row;      /* a row: its table */
    const row_upsert_t *upsert; /* a row gathered per batch; row is upsert->row */
    uint8_t *tuple;             /* a row: field count and fields (COPY binary), in sqltext */
    size_t tuple_len;
} jsql_t;

#define JTEXT_BLOCK 65536

/* Where the engine's rows and statements keep their bytes: a few large blocks per batch instead
 * of a malloc per row (four rows per person event). Newest block first. */
typedef struct jtext {
    struct jtext *next;
    size_t cap, used;
    max_align_t data[]; /* cap bytes */
} jtext_t;

/* An event delivered ATTEMPTS times to a subscription and not settled yet. */
typedef struct {
    uint64_t seq;
    uint32_t attempts;
} jattempt_t;

typedef struct {
    char *adapter, *subscription;
    uint64_t acked_seq;
    char **patterns; /* non-NULL: create or replace the subscription's patterns */
    size_t npatterns;
    /* Delivery counts to keep with the cursor (delivery_attempt); the store
     * also drops the counts at or below acked_seq. A seq may come twice: the
     * larger count wins. */
    jattempt_t *attempts;
    size_t nattempts, capattempts;
} jcursor_t;

typedef enum { JB_COMMIT = 0, JB_FETCH = 1 } jbatch_kind_t;
typedef enum { JB_PENDING = 0, JB_COMMITTED, JB_FAILED } jbatch_status_t;

/* A batch holds what the store thread reads and writes, and nothing else:
 * whoever holds the pointer may touch it, and between store_submit and
 * store_receive that is the store alone. What the core keeps of a commit
 * meanwhile (the CONFIRMs it owes when the commit comes back) lives in the
 * core's own memory (hub/core.h, commit_t). */
typedef struct jbatch {
    jbatch_kind_t kind;
    jbatch_status_t status;
    char error[256];

    jentry_t *e;
    size_t n, cap;
    pb_buf_t data;

    jreject_t *rejects;
    size_t nrejects, caprejects;
    jdead_t *dead;
    size_t ndead, capdead;
    jcursor_t *cursors;
    size_t ncursors, capcursors;
    jsql_t *sql;
    size_t nsql, capsql;
    jtext_t *sqltext; /* owns every sql[i].params and sql[i].tuple */

    /* FETCH: what to read, and for whom (core's subscription id). */
    uint64_t fetch_from;
    uint32_t fetch_limit;
    size_t fetch_max_bytes; /* and at most about this many envelope bytes (0: no bound); the
                               first entry is read whatever its size */
    uint64_t fetch_owner;

    /* References: the holder's (one, while the store has it), then the
     * window's and each delivery's pointing into it, all on the core thread. */
    int refs;
} jbatch_t;

jbatch_t *jbatch_new(jbatch_kind_t kind);
/* Drops one reference; frees at zero and nulls the pointer either way. */
void jbatch_release(jbatch_t **b);
bool jbatch_empty(const jbatch_t *b);

/* Appends an event; strings are copied into the batch. Returns the entry or NULL. */
jentry_t *jbatch_add(jbatch_t *b, uint64_t seq, const char *type, size_t type_len,
                     const char *source, size_t source_len, const char *event_id,
                     size_t event_id_len, const char *entity_key, size_t entity_key_len,
                     const uint8_t *envelope, size_t envelope_len, int64_t received_at);
/* Appends bytes to the last entry's envelope (the hub's own fields). Must come
 * before jbatch_set_target. */
int jbatch_extend_last(jbatch_t *b, const uint8_t *p, size_t len);
/* Addresses the last entry to one adapter (INDEX is its position + 1). */
int jbatch_set_target(jbatch_t *b, int16_t index, const char *name, size_t len);
/* A statement for the same transaction, with text parameters (NULL: SQL NULL), which are
 * copied; STMT is kept by pointer until the batch is committed (a string literal). */
int jbatch_add_sql(jbatch_t *b, const char *stmt, int nparams, const char *const *params);
/* A row of ROW's table, appended: one value per column (base/rows.h), strings copied. -1 out
 * of memory, or an integer column's value out of its range. */
int jbatch_add_row(jbatch_t *b, const row_desc_t *row, const row_val_t *vals);
/* A row gathered per batch: of the rows with the same key, only the last is written. */
int jbatch_add_upsert_row(jbatch_t *b, const row_upsert_t *u, const row_val_t *vals);
/* Drops the statements and rows added after the first MARK (a decision that was undone); MARK 0
 * frees all of their memory, the array too (a committed batch kept for its events). */
void jbatch_truncate_sql(jbatch_t *b, size_t mark);

static inline const char *jentry_type(const jbatch_t *b, const jentry_t *e)
{
    return (const char *)b->data.data + e->off;
}
static inline const char *jentry_source(const jbatch_t *b, const jentry_t *e)
{
    return jentry_type(b, e) + e->type_len;
}
static inline const char *jentry_event_id(const jbatch_t *b, const jentry_t *e)
{
    return jentry_source(b, e) + e->source_len;
}
static inline const char *jentry_entity_key(const jbatch_t *b, const jentry_t *e)
{
    return jentry_event_id(b, e) + e->event_id_len;
}
static inline const uint8_t *jentry_envelope(const jbatch_t *b, const jentry_t *e)
{
    return (const uint8_t *)jentry_entity_key(b, e) + e->entity_key_len;
}
static inline const char *jentry_target_name(const jbatch_t *b, const jentry_t *e)
{
    return (const char *)jentry_envelope(b, e) + e->env_len;
}

/* A refusal of LEN BYTES, of which the first KEEP are kept (KEEP > LEN keeps them all). The
 * strings are copied as text (base/text.h: an invalid byte becomes \xNN, and each is cut to a
 * length a column of rejected_event can show), whatever the caller checked. */
int jbatch_add_reject(jbatch_t *b, const char *adapter, const char *event_id, const char *type,
                      const char *reason, const void *bytes, size_t len, size_t keep, int64_t at);
/* Rows that commit with the batch. Strings are copied. */
int jbatch_add_dead(jbatch_t *b, const char *adapter, const char *subscription, uint64_t seq,
                    const char *event_id, const char *type, uint32_t attempts, const char *reason,
                    const void *envelope, size_t envelope_len, int64_t at);
int jbatch_add_cursor(jbatch_t *b, const char *adapter, const char *subscription,
                      uint64_t acked_seq, char *const *patterns, size_t npatterns);
/* Adds a delivery count to the subscription's cursor row in B (one with
 * acked_seq 0, which moves nothing, if the batch has none yet). */
int jbatch_add_attempt(jbatch_t *b, const char *adapter, const char *subscription, uint64_t seq,
                       uint32_t attempts);
/* Moves dead letters from a failed batch into another, so none is lost. */
int jbatch_take_dead(jbatch_t *to, jbatch_t *from);

/* ---- window: committed batches kept for delivery ---- */
typedef struct window window_t;

window_t *window_new(size_t max_events);
void window_destroy(window_t **w);
/* Bounds the window by the bytes its batches hold too (0: no byte bound).
 * A batch is always kept while it is the only one. */
void window_set_max_bytes(window_t *w, size_t max_bytes);
/* Takes a reference to B (a committed batch with events), gives back the
 * slack of its buffers, and evicts the oldest batches while more than
 * max_events or max_bytes are held. */
int window_push(window_t *w, jbatch_t *b);
/* Lowest seq still held (0 if empty) and highest. */
uint64_t window_first(const window_t *w);
uint64_t window_last(const window_t *w);
/* The entry with this seq, or NULL (not held, or a duplicate that was not
 * journaled). *batch is set to its batch. */
jentry_t *window_find(const window_t *w, uint64_t seq, jbatch_t **batch);
size_t window_events(const window_t *w);
/* Bytes held by the window's batches (jbatch_bytes of each), and its bound. */
size_t window_bytes(const window_t *w);
size_t window_max_bytes(const window_t *w);
/* The heap a batch's events hold: entries and data, by capacity. */
size_t jbatch_bytes(const jbatch_t *b);

/* Entry lookup within a fetched batch (catch-up reads). */
jentry_t *jbatch_find(const jbatch_t *b, uint64_t seq);

/* ---- dedup: recent (source, event_id) -> seq ---- */
typedef struct dedup dedup_t;
typedef struct {
    uint64_t h1, h2;
} dedup_key_t;

#define DEDUP_PENDING (1ULL << 63) /* seq not yet committed */

dedup_t *dedup_new(size_t capacity);
void dedup_destroy(dedup_t **d);
dedup_key_t dedup_key(const char *source, size_t slen, const char *event_id, size_t elen);
/* 1 and *seq if known, else 0. */
int dedup_get(const dedup_t *d, dedup_key_t k, uint64_t *seq);
void dedup_put(dedup_t *d, dedup_key_t k, uint64_t seq);
void dedup_del(dedup_t *d, dedup_key_t k);
size_t dedup_count(const dedup_t *d);

#endif
