/* sdk_arena.c - chunked bump allocation; chunks past the current one are kept for reuse. */
#include "sdk_arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct {
    unsigned char *mem;
    size_t size;
} chunk_t;

struct sdk_arena {
    chunk_t *chunks;
    size_t nchunks;
    size_t cur;  /* chunk being filled; == nchunks before the first allocation */
    size_t used; /* bytes used in chunks[cur] */
    size_t chunk_size;
    ProtobufCAllocator pbc;
};

static void *pbc_alloc(void *data, size_t n)
{
    return sdk_arena_alloc(data, n);
}

static void pbc_free(void *data, void *p)
{
    /* Released in bulk by sdk_arena_release. */
    (void)data;
    (void)p;
}

sdk_arena_t *sdk_arena_new(size_t chunk_size)
{
    sdk_arena_t *a = calloc(1, sizeof *a);
    if (a == NULL) {
        return NULL;
    }
    a->chunk_size = chunk_size ? chunk_size : 65536;
    a->pbc.alloc = pbc_alloc;
    a->pbc.free = pbc_free;
    a->pbc.allocator_data = a;
    return a;
}

void sdk_arena_destroy(sdk_arena_t **a)
{
    if (a == NULL || *a == NULL) {
        return;
    }
    for (size_t i = 0; i < (*a)->nchunks; i++) {
        free((*a)->chunks[i].mem);
    }
    free((*a)->chunks);
    free(*a);
    *a = NULL;
}

void *sdk_arena_alloc(sdk_arena_t *a, size_t n)
{
    const size_t align = alignof(max_align_t);
    if (n == 0) {
        n = 1;
    }
    if (n > SIZE_MAX - align) {
        return NULL;
    }
    n = (n + align - 1) & ~(align - 1);
    if (a->cur < a->nchunks && a->chunks[a->cur].size - a->used >= n) {
        void *p = a->chunks[a->cur].mem + a->used;
        a->used += n;
        return p;
    }
    size_t want = a->cur < a->nchunks ? a->cur + 1 : a->cur;
    size_t size = n > a->chunk_size ? n : a->chunk_size;
    if (want == a->nchunks) {
        chunk_t *c = realloc(a->chunks, (a->nchunks + 1) * sizeof *c);
        if (c == NULL) {
            return NULL;
        }
        a->chunks = c;
        a->chunks[a->nchunks].mem = NULL;
        a->chunks[a->nchunks].size = 0;
        a->nchunks++;
    }
    if (a->chunks[want].size < n) {
        /* Unused spare chunk too small for this request: chunks past cur hold nothing live. */
        unsigned char *mem = malloc(size);
        if (mem == NULL) {
            return NULL;
        }
        free(a->chunks[want].mem);
        a->chunks[want].mem = mem;
        a->chunks[want].size = size;
    }
    a->cur = want;
    a->used = n;
    return a->chunks[want].mem;
}

ProtobufCAllocator *sdk_arena_allocator(sdk_arena_t *a)
{
    return &a->pbc;
}

sdk_arena_mark_t sdk_arena_mark(const sdk_arena_t *a)
{
    sdk_arena_mark_t m = {a->cur, a->used};
    return m;
}

void sdk_arena_release(sdk_arena_t *a, sdk_arena_mark_t m)
{
    a->cur = m.chunk;
    a->used = m.used;
}
