/* adapter_arena.h - protobuf-c's allocator over one bump arena, for decoding deliveries without
 * allocating: an adapter's outbound half unpacks each event it receives into the arena, uses it,
 * and resets the arena for the next. Freeing is a no-op; the reset releases everything at once.
 *
 *     adapter_arena_t *a = adapter_arena_new(64 * 1024);
 *     adapter_arena_reset(a);
 *     Joinery__V1__PersonChanged *pc = joinery__v1__person_changed__unpack(
 *         adapter_arena_pb(a), ev->payload_len, ev->payload);   // NULL also when it does not fit
 *
 * Not thread-safe: one arena per decoding thread. */
#ifndef JOINERY_ADAPTER_ARENA_H
#define JOINERY_ADAPTER_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct adapter_arena adapter_arena_t;

/* An arena of CAP bytes; NULL when memory is short. */
adapter_arena_t *adapter_arena_new(size_t cap);
void adapter_arena_destroy(adapter_arena_t **a);

/* Forgets everything allocated from it: what was decoded before is invalid from now on. */
void adapter_arena_reset(adapter_arena_t *a);

/* The allocator to pass to protobuf-c's unpack functions; it belongs to the arena. */
ProtobufCAllocator *adapter_arena_pb(adapter_arena_t *a);

/* Resets the arena and unpacks LEN bytes of DATA as DESC's message into it; NULL when they are
 * not one, or the message does not fit. */
ProtobufCMessage *adapter_arena_unpack(adapter_arena_t *a, const ProtobufCMessageDescriptor *desc,
                                       const void *data, size_t len);

#endif
