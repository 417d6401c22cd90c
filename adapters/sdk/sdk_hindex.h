/* sdk_hindex.h - a fixed-capacity hash index from 64-bit hashes to small integer ids (slots of
 * an array the caller owns), with deletion. Both the outbox (event_id -> unconfirmed event) and
 * the de-duplication set use it; the caller confirms a hash hit with its own equality test, so
 * the index stores no keys and never allocates after init. */
#ifndef JOINERY_SDK_HINDEX_H
#define JOINERY_SDK_HINDEX_H

#include <stddef.h>
#include <stdint.h>

#define SDK_HINDEX_NONE UINT32_MAX

typedef struct {
    uint64_t *hashes;
    uint32_t *ids; /* id + 1; 0 marks an empty slot */
    size_t mask;   /* slots - 1 */
    size_t count;
    size_t max_items;
} sdk_hindex_t;

/* Whether item id has the key the caller is looking for. */
typedef int (*sdk_hindex_eq_fn)(const void *ctx, uint32_t id, const void *key);

/* Room for max_items items (the table is kept at most half full). 0 or -1. */
int sdk_hindex_init(sdk_hindex_t *ix, size_t max_items);
void sdk_hindex_free(sdk_hindex_t *ix);
/* The id whose hash is hash and for which eq says yes, or SDK_HINDEX_NONE. */
uint32_t sdk_hindex_find(const sdk_hindex_t *ix, uint64_t hash, sdk_hindex_eq_fn eq,
                         const void *ctx, const void *key);
/* Adds id under hash. -1 when max_items are already in. */
int sdk_hindex_insert(sdk_hindex_t *ix, uint64_t hash, uint32_t id);
/* Removes the entry (hash, id). -1 if it is not there. */
int sdk_hindex_remove(sdk_hindex_t *ix, uint64_t hash, uint32_t id);

#endif
