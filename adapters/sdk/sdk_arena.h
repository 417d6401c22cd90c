/* sdk_arena.h - a bump allocator that protobuf-c unpacks incoming messages into, so receiving
 * costs no malloc/free per message once warm. Allocations are released together back to a mark,
 * which lets a callback that waits for the hub (and so unpacks more messages) run while the
 * outer message is still in use. */
#ifndef JOINERY_SDK_ARENA_H
#define JOINERY_SDK_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct sdk_arena sdk_arena_t;

typedef struct {
    size_t chunk;
    size_t used;
} sdk_arena_mark_t;

sdk_arena_t *sdk_arena_new(size_t chunk_size);
void sdk_arena_destroy(sdk_arena_t **a);
/* NULL when out of memory. Aligned for any type. */
void *sdk_arena_alloc(sdk_arena_t *a, size_t n);
/* A protobuf-c allocator drawing from a; valid as long as a. */
ProtobufCAllocator *sdk_arena_allocator(sdk_arena_t *a);
sdk_arena_mark_t sdk_arena_mark(const sdk_arena_t *a);
/* Frees everything allocated since m was taken (the memory is kept for reuse). */
void sdk_arena_release(sdk_arena_t *a, sdk_arena_mark_t m);

#endif
