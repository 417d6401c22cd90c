/* adapter_arena.c - protobuf-c's allocator over a bump arena (contract in adapter_arena.h). */
#include "common/adapter_arena.h"

#include <stdlib.h>

#define ALIGN 16 /* enough for any field protobuf-c places */

struct adapter_arena {
    ProtobufCAllocator pb;
    size_t cap, used;
    unsigned char buf[]; /* cap bytes */
};

static void *arena_alloc(void *ud, size_t n)
{
    adapter_arena_t *a = ud;
    size_t at = (a->used + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (at > a->cap || n > a->cap - at)
        return NULL; /* protobuf-c then fails the unpack, which the caller reports */
    a->used = at + n;
    return a->buf + at;
}

static void arena_free(void *ud, void *p)
{
    (void)ud;
    (void)p; /* released all at once, by adapter_arena_reset */
}

adapter_arena_t *adapter_arena_new(size_t cap)
{
    adapter_arena_t *a = malloc(sizeof *a + cap);
    if (a == NULL)
        return NULL;
    a->pb = (ProtobufCAllocator){.alloc = arena_alloc, .free = arena_free, .allocator_data = a};
    a->cap = cap;
    a->used = 0;
    return a;
}

void adapter_arena_destroy(adapter_arena_t **a)
{
    if (a == NULL)
        return;
    free(*a);
    *a = NULL;
}

void adapter_arena_reset(adapter_arena_t *a)
{
    a->used = 0;
}

ProtobufCAllocator *adapter_arena_pb(adapter_arena_t *a)
{
    return &a->pb;
}

ProtobufCMessage *adapter_arena_unpack(adapter_arena_t *a, const ProtobufCMessageDescriptor *desc,
                                       const void *data, size_t len)
{
    adapter_arena_reset(a);
    return protobuf_c_message_unpack(desc, &a->pb, len, data);
}
