/* sdk_hindex.c - linear probing with backward-shift deletion, so removals leave no tombstones
 * and lookups stay short however long the client runs. */
#include "sdk_hindex.h"

#include <stdlib.h>

int sdk_hindex_init(sdk_hindex_t *ix, size_t max_items)
{
    size_t slots = 16;
    while (slots < max_items * 2) {
        if (slots > SIZE_MAX / 4) {
            return -1;
        }
        slots *= 2;
    }
    ix->hashes = calloc(slots, sizeof *ix->hashes);
    ix->ids = calloc(slots, sizeof *ix->ids);
    if (ix->hashes == NULL || ix->ids == NULL) {
        sdk_hindex_free(ix);
        return -1;
    }
    ix->mask = slots - 1;
    ix->count = 0;
    ix->max_items = max_items;
    return 0;
}

void sdk_hindex_free(sdk_hindex_t *ix)
{
    free(ix->hashes);
    free(ix->ids);
    ix->hashes = NULL;
    ix->ids = NULL;
    ix->count = 0;
}

uint32_t sdk_hindex_find(const sdk_hindex_t *ix, uint64_t hash, sdk_hindex_eq_fn eq,
                         const void *ctx, const void *key)
{
    for (size_t i = hash & ix->mask;; i = (i + 1) & ix->mask) {
        if (ix->ids[i] == 0) {
            return SDK_HINDEX_NONE;
        }
        if (ix->hashes[i] == hash && eq(ctx, ix->ids[i] - 1, key)) {
            return ix->ids[i] - 1;
        }
    }
}

int sdk_hindex_insert(sdk_hindex_t *ix, uint64_t hash, uint32_t id)
{
    if (ix->count >= ix->max_items || id == SDK_HINDEX_NONE) {
        return -1;
    }
    size_t i = hash & ix->mask;
    while (ix->ids[i] != 0) {
        i = (i + 1) & ix->mask;
    }
    ix->hashes[i] = hash;
    ix->ids[i] = id + 1;
    ix->count++;
    return 0;
}

int sdk_hindex_remove(sdk_hindex_t *ix, uint64_t hash, uint32_t id)
{
    size_t i = hash & ix->mask;
    for (;; i = (i + 1) & ix->mask) {
        if (ix->ids[i] == 0) {
            return -1;
        }
        if (ix->ids[i] == id + 1) {
            break;
        }
    }
    /* Pull later members of the probe run back into the hole while that keeps each of them
     * reachable from its home slot. */
    for (size_t j = (i + 1) & ix->mask; ix->ids[j] != 0; j = (j + 1) & ix->mask) {
        size_t home = ix->hashes[j] & ix->mask;
        if (((i - home) & ix->mask) <= ((j - home) & ix->mask)) {
            ix->hashes[i] = ix->hashes[j];
            ix->ids[i] = ix->ids[j];
            i = j;
        }
    }
    ix->ids[i] = 0;
    ix->count--;
    return 0;
}
