/* adapter_pending.h - "answer the system only after the hub's CONFIRM".
 *
 * An adapter that publishes a system's record must not tell the system "done" until the hub has
 * durably journaled the event. This keeps, per published event id, who is waiting for the answer
 * (an opaque TOKEN of the adapter's, and the OWNER it came from, e.g. a connection) and calls the
 * adapter's answer function when the SDK's confirmation callback fires: OK and DUPLICATE are a
 * success, REJECTED (with the hub's reason) and UNCONFIRMED (the client closed first) a failure.
 *
 * A system that sends the same record again while its event is still unconfirmed (a resend after
 * a timeout, perhaps on a new connection) joins the wait for the same event instead of publishing
 * it twice: the SDK would refuse an event id it is still holding. When an owner goes away its
 * waiters are dropped, but the event stays tracked until the hub answers, so a resend finds it.
 *
 * Memory is fixed at creation: a pool of events and a pool of waiters, no allocation per event.
 * Not thread-safe; use it from the thread that runs the SDK client. */
#ifndef JOINERY_ADAPTER_PENDING_H
#define JOINERY_ADAPTER_PENDING_H

#include <stddef.h>
#include <stdint.h>

#include <joinery/joinery.h>

typedef struct adapter_pending adapter_pending_t;

/* Called once per waiter. OK is 1 for OK/DUPLICATE, 0 for REJECTED/UNCONFIRMED (REASON says why;
 * "" on success). CF is the SDK's confirmation (NULL when adapter_pending_fail answered). Runs
 * inside the SDK's callback: it must not call back into this module or into the SDK client. */
typedef void (*adapter_answer_fn)(void *ud, void *token, int ok, const char *reason,
                                  const joinery_confirm_t *cf);

/* Room for MAX_EVENTS events in flight and MAX_WAITERS waiters; NULL if out of memory. */
adapter_pending_t *adapter_pending_new(size_t max_events, size_t max_waiters, adapter_answer_fn fn,
                                       void *ud);
void adapter_pending_destroy(adapter_pending_t **p);

/* Registers TOKEN (from OWNER) as waiting for EVENT_ID. Returns 0 when the event is new (publish
 * it now, with adapter_pending_on_confirm as its callback and P as its user data), 1 when it is
 * already in flight (do not publish: TOKEN is answered with it), -1 when the pools are full or the
 * id is too long (nothing registered). */
int adapter_pending_add(adapter_pending_t *p, const char *event_id, void *token, uint64_t owner);

/* The publish of EVENT_ID failed at once: answers its waiters with failure and forgets it. */
void adapter_pending_fail(adapter_pending_t *p, const char *event_id, const char *reason);

/* The SDK's joinery_confirm_fn: pass it to joinery_publish_async with P as UD. */
void adapter_pending_on_confirm(void *ud, const joinery_confirm_t *cf);

/* Forgets every waiter of OWNER (its events stay tracked); returns how many there were. */
size_t adapter_pending_drop_owner(adapter_pending_t *p, uint64_t owner);

/* How many more events (and waiters) can be added for certain. */
size_t adapter_pending_room(const adapter_pending_t *p);
/* Events in flight (whether or not anyone still waits for them). */
size_t adapter_pending_events(const adapter_pending_t *p);

#endif
