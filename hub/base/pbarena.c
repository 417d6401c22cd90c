/* pbarena.c - see pbarena.h. */
#include "base/pbarena.h"

#include <stdint.h>
#include <stdlib.h>

typedef struct block {
    struct block *next;
    size_t cap, used;
    max_align_t data[]; /* cap bytes */
} block_t;

struct pbarena {
    ProtobufCAllocator alloc; /* allocator_data points back here */
    block_t *head;            /* the block being filled; older ones follow */
    size_t block;
    size_t used;
};

static block_t *block_new(size_t cap)
{
    if (cap > SIZE_MAX - sizeof(block_t))
        return NULL;
    block_t *b = malloc(sizeof *b + cap);
    if (b != NULL)
        *b = (block_t){.cap = cap};
    return b;
}

static void *arena_alloc(void *data, size_t size)
{
    pbarena_t *a = data;
    const size_t align = sizeof(max_align_t);
    size = size == 0 ? align : (size + align - 1) / align * align;
    if (size == 0) /* overflow */
        return NULL;
    block_t *b = a->head;
    if (b == NULL || b->cap - b->used < size) {
        block_t *nb = block_new(size > a->block ? size : a->block);
        if (nb == NULL)
            return NULL;
        nb->next = b;
        a->head = b = nb;
    }
    void *p = (char *)b->data + b->used;
    b->used += size;
    a->used += size;
    return p;
}

/* Memory goes back at pbarena_reset. */
static void arena_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

pbarena_t *pbarena_new(size_t block)
{
    pbarena_t *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->block = block < 256 ? 256 : block;
    a->alloc = (ProtobufCAllocator){arena_alloc, arena_free, a};
    a->head = block_new(a->block);
    if (a->head == NULL) {
        free(a);
        return NULL;
    }
    return a;
}

static void free_blocks(block_t *b)
{
    while (b != NULL) {
        block_t *next = b->next;
        free(b);
        b = next;
    }
}

void pbarena_destroy(pbarena_t **ap)
{
    if (ap == NULL || *ap == NULL)
        return;
    free_blocks((*ap)->head);
    free(*ap);
    *ap = NULL;
}

ProtobufCAllocator *pbarena_allocator(pbarena_t *a)
{
    return &a->alloc;
}

void pbarena_reset(pbarena_t *a)
{
    if (a == NULL || a->head == NULL)
        return;
    /* Keep the oldest block (the regular size); the others were for a large message. */
    block_t *keep = a->head;
    while (keep->next != NULL)
        keep = keep->next;
    if (keep != a->head) {
        block_t *b = a->head;
        while (b != keep) {
            block_t *next = b->next;
            free(b);
            b = next;
        }
        a->head = keep;
    }
    keep->used = 0;
    a->used = 0;
}

size_t pbarena_used(const pbarena_t *a)
{
    return a ? a->used : 0;
}
