/* sdk_dedup.c - a FIFO ring of 128-bit keyed SipHash fingerprints with a hash index over it.
 * Fingerprints instead of the strings keep the set at 16 bytes per event; the random per-set
 * key means no publisher can craft event ids that collide and make us skip someone's event. */
#include "sdk_dedup.h"

#include "sdk_hindex.h"
#include "sdk_util.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char b[crypto_shorthash_siphashx24_BYTES];
} fingerprint_t;

struct sdk_dedup {
    fingerprint_t *ring;
    size_t capacity;
    size_t count;
    size_t next; /* ring slot the next key goes to; the oldest key when the ring is full */
    sdk_hindex_t index;
    unsigned char key[crypto_shorthash_siphashx24_KEYBYTES];
    sdk_buf_t scratch;
};

sdk_dedup_t *sdk_dedup_new(size_t capacity)
{
    if (capacity == 0 || capacity >= SDK_HINDEX_NONE || sodium_init() < 0) {
        return NULL;
    }
    sdk_dedup_t *d = calloc(1, sizeof *d);
    if (d == NULL) {
        return NULL;
    }
    d->ring = calloc(capacity, sizeof *d->ring);
    if (d->ring == NULL || sdk_hindex_init(&d->index, capacity) != 0) {
        free(d->ring);
        free(d);
        return NULL;
    }
    d->capacity = capacity;
    randombytes_buf(d->key, sizeof d->key);
    return d;
}

void sdk_dedup_destroy(sdk_dedup_t **d)
{
    if (d == NULL || *d == NULL) {
        return;
    }
    sdk_hindex_free(&(*d)->index);
    sdk_buf_free(&(*d)->scratch);
    free((*d)->ring);
    free(*d);
    *d = NULL;
}

static uint64_t fp_hash(const fingerprint_t *fp)
{
    uint64_t h;
    memcpy(&h, fp->b, sizeof h);
    return h;
}

static int fp_eq(const void *ctx, uint32_t id, const void *key)
{
    const sdk_dedup_t *d = ctx;
    return memcmp(d->ring[id].b, key, sizeof(fingerprint_t)) == 0;
}

/* The parts are joined with NULs, which none of them can contain, so distinct keys give
 * distinct inputs. */
static int fingerprint(sdk_dedup_t *d, const char *sub, const char *source, const char *event_id,
                       fingerprint_t *out)
{
    const char *parts[3] = {sub ? sub : "", source ? source : "", event_id ? event_id : ""};
    d->scratch.len = 0;
    for (int i = 0; i < 3; i++) {
        if (sdk_buf_append(&d->scratch, parts[i], strlen(parts[i]) + 1) != 0) {
            return -1;
        }
    }
    crypto_shorthash_siphashx24(out->b, d->scratch.data, d->scratch.len, d->key);
    return 0;
}

int sdk_dedup_contains(sdk_dedup_t *d, const char *subscription, const char *source,
                       const char *event_id)
{
    fingerprint_t fp;
    if (fingerprint(d, subscription, source, event_id, &fp) != 0) {
        return 0;
    }
    return sdk_hindex_find(&d->index, fp_hash(&fp), fp_eq, d, &fp) != SDK_HINDEX_NONE;
}

int sdk_dedup_add(sdk_dedup_t *d, const char *subscription, const char *source,
                  const char *event_id)
{
    fingerprint_t fp;
    if (fingerprint(d, subscription, source, event_id, &fp) != 0) {
        return -1;
    }
    if (sdk_hindex_find(&d->index, fp_hash(&fp), fp_eq, d, &fp) != SDK_HINDEX_NONE) {
        return 0;
    }
    uint32_t slot = (uint32_t)d->next;
    if (d->count == d->capacity) {
        sdk_hindex_remove(&d->index, fp_hash(&d->ring[slot]), slot);
    } else {
        d->count++;
    }
    d->ring[slot] = fp;
    sdk_hindex_insert(&d->index, fp_hash(&fp), slot);
    d->next = (d->next + 1) % d->capacity;
    return 0;
}

size_t sdk_dedup_count(const sdk_dedup_t *d)
{
    return d->count;
}
