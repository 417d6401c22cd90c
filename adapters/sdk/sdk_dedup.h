/* sdk_dedup.h - the bounded set of events a subscription's handler has already acknowledged,
 * so that the hub's at-least-once redeliveries (after a reconnect or a lost ACK) are ACKed
 * again without running the handler twice. Keyed by (subscription, source, event_id); holds
 * the newest `capacity` keys and forgets the oldest first. */
#ifndef JOINERY_SDK_DEDUP_H
#define JOINERY_SDK_DEDUP_H

#include <stddef.h>

typedef struct sdk_dedup sdk_dedup_t;

/* NULL when out of memory. */
sdk_dedup_t *sdk_dedup_new(size_t capacity);
void sdk_dedup_destroy(sdk_dedup_t **d);

/* 1 if the key is in the set, else 0. */
int sdk_dedup_contains(sdk_dedup_t *d, const char *subscription, const char *source,
                       const char *event_id);
/* Adds the key (a no-op if present), evicting the oldest key when full. 0, or -1 when out of
 * memory (the key is then simply not remembered). */
int sdk_dedup_add(sdk_dedup_t *d, const char *subscription, const char *source,
                  const char *event_id);
size_t sdk_dedup_count(const sdk_dedup_t *d);

#endif
