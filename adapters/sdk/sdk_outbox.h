/* sdk_outbox.h - the published events the hub has not yet confirmed, each kept serialised so
 * it can be resent byte-for-byte (same event_id) after a RETRY answer or a reconnect. Every
 * entry is on exactly one list: QUEUED (to send), INFLIGHT (sent, awaiting CONFIRM; oldest
 * first), WAITING (answered RETRY; resent when due) or HELD (waiting for an older event of its
 * record). Entries are found by event_id when CONFIRM entries arrive, in any order. Slots and
 * their buffers are reused, so a steady stream of events does not allocate.
 *
 * Per-record order. An event may name a record (its source_record_id, else its master_id);
 * the outbox keeps each record's unconfirmed events in publish order. Once one of them needs
 * resending - answered RETRY, unconfirmed for too long, or in flight when the session was lost -
 * the record is blocked: only its oldest unconfirmed event may be sent, one at a time, each
 * after the one before it was settled (confirmed, refused or withdrawn); its other events wait
 * on HELD. When no event of the record needs resending any more, its held events go back to
 * QUEUED in publish order. Records without trouble cost one pointer test per send; events of
 * other records are never held. */
#ifndef JOINERY_SDK_OUTBOX_H
#define JOINERY_SDK_OUTBOX_H

#include "../../include/joinery/joinery.h" /* by path: see sdk_codec.h */

#include "sdk_util.h"

#include <stdint.h>

#define SDK_OUTBOX_NONE UINT32_MAX

typedef enum {
    SDK_OUTBOX_QUEUED,
    SDK_OUTBOX_INFLIGHT,
    SDK_OUTBOX_WAITING,
    SDK_OUTBOX_HELD
} sdk_outbox_state_t;
#define SDK_OUTBOX_NLISTS 4

typedef struct {
    char event_id[JOINERY_EVENT_ID_MAX + 1];
    sdk_buf_t bytes; /* the serialised Envelope */
    joinery_confirm_fn cb;
    void *ud;
    int64_t due_ms;    /* INFLIGHT: when sent; WAITING: when to resend */
    unsigned attempts; /* RETRY answers so far: drives the backoff */
    uint64_t request;  /* the client's (sdk_client.c): the PUBLISH it went in, or to go alone */
    /* private to the outbox: */
    uint64_t hash;
    int state; /* sdk_outbox_state_t, or -1 while free */
    uint32_t prev, next;
    uint32_t rec;          /* its record, or SDK_OUTBOX_NONE */
    uint32_t rprev, rnext; /* the record's unconfirmed events, in publish order */
    int resend;            /* needs resending (RETRY, timeout, lost session) */
} sdk_outbox_entry_t;

typedef struct sdk_outbox sdk_outbox_t;

/* At most max entries. NULL when out of memory. */
sdk_outbox_t *sdk_outbox_new(size_t max);
void sdk_outbox_destroy(sdk_outbox_t **ob);

/* The record an event belongs to, for sdk_outbox_add: a hash of its source_record_id, or of
 * its master_id when it has none; 0 (no record, never held) when it has neither. Two records
 * whose hashes collide are ordered as one, which only holds events back needlessly. */
uint64_t sdk_outbox_record(const char *source_record_id, const char *master_id);

/* Queues a copy of the serialised event of `record` (0: none) at the end of QUEUED, or on HELD
 * when its record is blocked. Returns its id, or SDK_OUTBOX_NONE with err when full, out of
 * memory, or event_id is already in the outbox. */
uint32_t sdk_outbox_add(sdk_outbox_t *ob, const char *event_id, const uint8_t *bytes, size_t len,
                        uint64_t record, joinery_confirm_fn cb, void *ud, char *err, size_t errlen);
sdk_outbox_entry_t *sdk_outbox_get(sdk_outbox_t *ob, uint32_t id);
/* The id of the entry with this event_id, or SDK_OUTBOX_NONE. */
uint32_t sdk_outbox_find(const sdk_outbox_t *ob, const char *event_id);
/* Frees the entry (its id may be reused by the next add): it was confirmed, refused or
 * withdrawn. Its record's next event may then go: to QUEUED. */
void sdk_outbox_remove(sdk_outbox_t *ob, uint32_t id);
/* For the QUEUED entry about to be sent: 1 if it must wait for an older event of its record
 * (it is then moved to HELD, and back to QUEUED by the outbox when its turn comes), 0 if it may
 * be sent now. */
int sdk_outbox_hold(sdk_outbox_t *ob, uint32_t id);
/* The hub answered RETRY: marks the entry for resending and moves it to WAITING if it is the
 * oldest unconfirmed event of its record (or has none), else to HELD. Returns the list. */
sdk_outbox_state_t sdk_outbox_retry(sdk_outbox_t *ob, uint32_t id);
/* No answer came in time: marks the entry for resending and moves it to the end of QUEUED if it
 * is the oldest unconfirmed event of its record (or has none), else to HELD. Returns the list. */
sdk_outbox_state_t sdk_outbox_resend(sdk_outbox_t *ob, uint32_t id);
/* Moves the entry to the end of list `state` (QUEUED -> INFLIGHT when sent, WAITING -> QUEUED
 * when due; the record rules above are the caller's to keep). */
void sdk_outbox_move(sdk_outbox_t *ob, uint32_t id, sdk_outbox_state_t state);
/* Moves the entry to the front of list `state`. */
void sdk_outbox_move_front(sdk_outbox_t *ob, uint32_t id, sdk_outbox_state_t state);
/* First and last entry of a list (SDK_OUTBOX_NONE when empty); follow entry->next (or ->prev)
 * for the rest. */
uint32_t sdk_outbox_first(const sdk_outbox_t *ob, sdk_outbox_state_t state);
uint32_t sdk_outbox_last(const sdk_outbox_t *ob, sdk_outbox_state_t state);
/* After a reconnect: marks every INFLIGHT entry for resending and puts those that are the
 * oldest unconfirmed event of their record (or have none) back at the front of QUEUED, in send
 * order; the others go to HELD. */
void sdk_outbox_requeue_inflight(sdk_outbox_t *ob);
size_t sdk_outbox_count(const sdk_outbox_t *ob);
size_t sdk_outbox_count_in(const sdk_outbox_t *ob, sdk_outbox_state_t state);
int sdk_outbox_full(const sdk_outbox_t *ob);
/* Records with unconfirmed events, and how many of them are blocked. */
size_t sdk_outbox_records(const sdk_outbox_t *ob);
size_t sdk_outbox_blocked(const sdk_outbox_t *ob);

#endif
