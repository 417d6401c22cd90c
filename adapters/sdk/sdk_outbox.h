/* sdk_outbox.h - the published events the hub has not yet confirmed, each kept serialised so
 * it can be resent byte-for-byte (same event_id) after a RETRY answer or a reconnect. Every
 * entry is on exactly one list: QUEUED (to send), INFLIGHT (sent, awaiting CONFIRM; oldest
 * first) or WAITING (answered RETRY; resent when due). Entries are found by event_id when
 * CONFIRM entries arrive, in any order. Slots and their buffers are reused, so a steady stream
 * of events does not allocate. */
#ifndef JOINERY_SDK_OUTBOX_H
#define JOINERY_SDK_OUTBOX_H

#include "../../include/joinery/joinery.h" /* by path: see sdk_codec.h */

#include "sdk_util.h"

#include <stdint.h>

#define SDK_OUTBOX_NONE UINT32_MAX

typedef enum { SDK_OUTBOX_QUEUED, SDK_OUTBOX_INFLIGHT, SDK_OUTBOX_WAITING } sdk_outbox_state_t;

typedef struct {
    char event_id[JOINERY_EVENT_ID_MAX + 1];
    sdk_buf_t bytes; /* the serialised Envelope */
    joinery_confirm_fn cb;
    void *ud;
    int64_t due_ms;    /* INFLIGHT: when sent; WAITING: when to resend */
    unsigned attempts; /* RETRY answers so far: drives the backoff */
    /* private to the outbox: */
    uint64_t hash;
    int state; /* sdk_outbox_state_t, or -1 while free */
    uint32_t prev, next;
} sdk_outbox_entry_t;

typedef struct sdk_outbox sdk_outbox_t;

/* At most max entries. NULL when out of memory. */
sdk_outbox_t *sdk_outbox_new(size_t max);
void sdk_outbox_destroy(sdk_outbox_t **ob);

/* Queues a copy of the serialised event at the end of QUEUED. Returns its id, or
 * SDK_OUTBOX_NONE with err when full, out of memory, or event_id is already in the outbox. */
uint32_t sdk_outbox_add(sdk_outbox_t *ob, const char *event_id, const uint8_t *bytes, size_t len,
                        joinery_confirm_fn cb, void *ud, char *err, size_t errlen);
sdk_outbox_entry_t *sdk_outbox_get(sdk_outbox_t *ob, uint32_t id);
/* The id of the entry with this event_id, or SDK_OUTBOX_NONE. */
uint32_t sdk_outbox_find(const sdk_outbox_t *ob, const char *event_id);
/* Frees the entry (its id may be reused by the next add). */
void sdk_outbox_remove(sdk_outbox_t *ob, uint32_t id);
/* Moves the entry to the end of list `state`. */
void sdk_outbox_move(sdk_outbox_t *ob, uint32_t id, sdk_outbox_state_t state);
/* Moves the entry to the front of list `state`. */
void sdk_outbox_move_front(sdk_outbox_t *ob, uint32_t id, sdk_outbox_state_t state);
/* First and last entry of a list (SDK_OUTBOX_NONE when empty); follow entry->next (or ->prev)
 * for the rest. */
uint32_t sdk_outbox_first(const sdk_outbox_t *ob, sdk_outbox_state_t state);
uint32_t sdk_outbox_last(const sdk_outbox_t *ob, sdk_outbox_state_t state);
/* After a reconnect: puts every INFLIGHT entry back at the front of QUEUED, in send order. */
void sdk_outbox_requeue_inflight(sdk_outbox_t *ob);
size_t sdk_outbox_count(const sdk_outbox_t *ob);
size_t sdk_outbox_count_in(const sdk_outbox_t *ob, sdk_outbox_state_t state);
int sdk_outbox_full(const sdk_outbox_t *ob);

#endif
