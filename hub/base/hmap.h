/* hmap.h - open-addressing hash map from 64-bit keys to pointers.
 *
 * Used on the hot path (entities in flight per subscription, sessions), so it
 * never allocates per insert: it grows by doubling. Key 0 is reserved. */
#ifndef JOINERY_HMAP_H
#define JOINERY_HMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct hmap hmap_t;

hmap_t *hmap_new(size_t initial);
void hmap_destroy(hmap_t **m);
void *hmap_get(const hmap_t *m, uint64_t key);
/* Insert or replace; -1 on allocation failure or key 0. */
int hmap_put(hmap_t *m, uint64_t key, void *value);
/* Remove; returns the old value or NULL. */
void *hmap_del(hmap_t *m, uint64_t key);
size_t hmap_count(const hmap_t *m);
void hmap_clear(hmap_t *m);
/* Iterate: *pos starts at 0; returns 1 and fills key/value while entries remain.
 * The map must not change during an iteration. */
int hmap_next(const hmap_t *m, size_t *pos, uint64_t *key, void **value);

/* Hashes used across the hub. */
uint64_t hmap_hash_bytes(const void *p, size_t len, uint64_t seed);

#endif
