/* hmap.c - linear probing with backward-shift deletion (no tombstones, so
 * long-running maps with heavy churn, like in-flight sets, keep short probes). */
#include "base/hmap.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t key;
    void *value;
} slot_t;

struct hmap {
    slot_t *slots;
    size_t cap; /* power of two */
    size_t count;
};

static inline size_t slot_of(uint64_t key, size_t cap)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

hmap_t *hmap_new(size_t initial)
{
    hmap_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cap = 16;
    while (m->cap < initial * 2)
        m->cap *= 2;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    return m;
}

void hmap_destroy(hmap_t **m)
{
    if (!m || !*m)
        return;
    free((*m)->slots);
    free(*m);
    *m = NULL;
}

void *hmap_get(const hmap_t *m, uint64_t key)
{
    if (!key)
        return NULL;
    for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].key == key)
            return m->slots[i].value;
        if (!m->slots[i].key)
            return NULL;
    }
}

static int grow(hmap_t *m)
{
    size_t ncap = m->cap * 2;
    slot_t *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        size_t j = slot_of(m->slots[i].key, ncap);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int hmap_put(hmap_t *m, uint64_t key, void *value)
{
    if (!key)
        return -1;
    if ((m->count + 1) * 4 > m->cap * 3 && grow(m) < 0)
        return -1;
    size_t i = slot_of(key, m->cap);
    while (m->slots[i].key && m->slots[i].key != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].key)
        m->count++;
    m->slots[i].key = key;
    m->slots[i].value = value;
    return 0;
}

void *hmap_del(hmap_t *m, uint64_t key)
{
    if (!key)
        return NULL;
    size_t mask = m->cap - 1, i = slot_of(key, m->cap);
    while (m->slots[i].key != key) {
        if (!m->slots[i].key)
            return NULL;
        i = (i + 1) & mask;
    }
    void *old = m->slots[i].value;
    /* Shift back later entries of the probe run so lookups stay correct. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slots[j].key)
            break;
        size_t home = slot_of(m->slots[j].key, m->cap);
        int movable = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].key = 0;
    m->slots[i].value = NULL;
    m->count--;
    return old;
}

size_t hmap_count(const hmap_t *m)
{
    return m->count;
}

void hmap_clear(hmap_t *m)
{
    memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->count = 0;
}

int hmap_next(const hmap_t *m, size_t *pos, uint64_t *key, void **value)
{
    for (; *pos < m->cap; (*pos)++) {
        if (m->slots[*pos].key) {
            *key = m->slots[*pos].key;
            *value = m->slots[*pos].value;
            (*pos)++;
            return 1;
        }
    }
    return 0;
}

/* FNV-1a folded through a 64-bit finaliser: fast for short ids and good
 * enough spread for hash tables. */
uint64_t hmap_hash_bytes(const void *p, size_t len, uint64_t seed)
{
    const uint8_t *s = p;
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 31;
    h *= 0x7fb5d329728ea185ULL;
    h ^= h >> 27;
    return h ? h : 1;
}
