/* pbarena.h - a bump allocator for decoding protobuf messages.
 *
 * protobuf-c allocates every string, repeated field and sub-message of a
 * decoded message separately; a person event made a dozen malloc/free pairs,
 * twice (ingest checks the payload, the master-data engine reads it). Given
 * an arena's allocator, protobuf_c_message_unpack takes its memory from a few
 * large blocks instead, and pbarena_reset gives it all back at once: the
 * decoded message must not be used after the reset, and need not (must not)
 * be passed to free_unpacked. */
#ifndef JOINERY_PBARENA_H
#define JOINERY_PBARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct pbarena pbarena_t;

/* BLOCK: the size of each block the arena takes from malloc (a request larger than that gets
 * a block of its own). NULL when out of memory. */
pbarena_t *pbarena_new(size_t block);
void pbarena_destroy(pbarena_t **a);
/* For protobuf_c_message_unpack and the generated __unpack functions. Owned by the arena. */
ProtobufCAllocator *pbarena_allocator(pbarena_t *a);
/* Everything allocated so far is released; the first block is kept for reuse. */
void pbarena_reset(pbarena_t *a);
/* Bytes handed out since the last reset (for tests). */
size_t pbarena_used(const pbarena_t *a);

#endif
